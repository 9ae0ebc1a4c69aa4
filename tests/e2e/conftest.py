"""The whole system as processes: gateway, intent, sentiment and generator on the real stack."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import grpc
import pytest

from tests.conftest import ROOT, SHARED_DATA, Stack, free_port, start_service, wait_serving
from tests.integration.conftest import create_keys

E2E_TENANT = "shop"


@pytest.fixture(scope="session")
def stack(stack: Stack) -> Stack:
    """The session's broker and database, with topics of the e2e system's own.

    The four services run for the whole session; on the session's topics they would also consume
    the events integration tests publish by hand and answer or escalate them, racing the states
    those tests set (the real generator would undo a test's hand-made escalation).
    """
    return stack.with_own_topics("e2e.")


@pytest.fixture(scope="session")
def shop_knowledge(stack: Stack) -> None:
    """The ABCD guidelines as the e2e tenant's knowledge base, loaded the way an operator does."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli",
            "kb",
            "ingest",
            "--tenant",
            E2E_TENANT,
            str(SHARED_DATA / "abcd" / "guidelines.json"),
        ],
        env=stack.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # ~60 s on an idle 2-core machine; 180 s was overrun while other work held both cores
    )
    if result.returncode != 0:
        pytest.fail(f"cs kb ingest failed:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session")
def system(stack: Stack, shop_knowledge, tmp_path_factory: pytest.TempPathFactory):
    log_dir: pathlib.Path = tmp_path_factory.mktemp("system")
    gateway_port = free_port()
    processes = []
    try:
        for name, extra in [
            ("gateway", {"CS_GATEWAY_LISTEN": f"127.0.0.1:{gateway_port}", "CS_GATEWAY_RATE_PER_MINUTE": "600"}),
            ("intent", {}),
            ("sentiment", {}),
            # DEBUG: the generator logs each prompt it gives the LLM (test_pii.py reads them).
            ("generator", {"CS_GENERATOR_MAX_NEW_TOKENS": "48", "CS_LOG_LEVEL": "DEBUG"}),
        ]:
            health = gateway_port if name == "gateway" else free_port()
            # Tenants' own models and rules are looked at every second (test_tenant_intents.py applies one live).
            env = stack.env(
                CS_METRICS_PORT=str(free_port()), CS_HEALTH_PORT=str(health), CS_TENANT_RELOAD_S="1", **extra
            )
            proc = start_service(f"services.{name}.main", env, log_dir, name)
            proc.ports = {"health": health}
            processes.append(proc)
        for proc in processes:
            wait_serving(f"127.0.0.1:{proc.ports['health']}", proc, 300)
        yield {p.name: p for p in processes} | {"target": f"127.0.0.1:{gateway_port}"}
    finally:
        for proc in processes:
            proc.stop()


@pytest.fixture(scope="session")
def e2e_keys(stack: Stack) -> dict[str, str]:
    adapter, agent, other = create_keys(
        stack, [(E2E_TENANT, "adapter", ""), (E2E_TENANT, "agent", "ava"), ("rival", "adapter", "")]
    )
    return {"adapter": adapter, "agent": agent, "rival": other}


@pytest.fixture
async def channel(system):
    async with grpc.aio.insecure_channel(system["target"]) as ch:
        yield ch

"""Fixtures for integration tests: a real gateway process and API keys in the real database."""

from __future__ import annotations

import asyncio
import pathlib

import grpc
import pytest

from tests.conftest import Stack, free_port, start_service, wait_serving


async def _create_keys(stack: Stack, specs: list[tuple[str, str, str]]) -> list[str]:
    from services.common.mongo import connect
    from services.common.repositories import ApiKeyRepo

    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        return [await ApiKeyRepo(db).create(tenant, role, agent) for tenant, role, agent in specs]
    finally:
        await mongo.close()


def create_keys(stack: Stack, specs: list[tuple[str, str, str]]) -> list[str]:
    return asyncio.run(_create_keys(stack, specs))


@pytest.fixture(scope="session")
def keys(stack: Stack) -> dict[str, str]:
    names = ["acme_adapter", "acme_agent", "globex_adapter", "globex_agent", "acme_agent2"]
    values = create_keys(stack, [
        ("acme", "adapter", ""), ("acme", "agent", "alice"), ("globex", "adapter", ""),
        ("globex", "agent", "gary"), ("acme", "agent", "bob"),
    ])
    return dict(zip(names, values))


@pytest.fixture(scope="session")
def gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory):
    port, metrics_port = free_port(), free_port()
    env = stack.env(
        CS_GATEWAY_LISTEN=f"127.0.0.1:{port}", CS_METRICS_PORT=str(metrics_port), CS_GATEWAY_RATE_PER_MINUTE="600",
    )
    log_dir: pathlib.Path = tmp_path_factory.mktemp("gateway")
    proc = start_service("services.gateway.main", env, log_dir, "gateway")
    proc.ports = {"grpc": port, "metrics": metrics_port}
    target = f"127.0.0.1:{port}"
    try:
        wait_serving(target, proc, 60)
        yield proc
    finally:
        proc.stop()


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@pytest.fixture
async def channel(gateway):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.ports['grpc']}") as ch:
        yield ch

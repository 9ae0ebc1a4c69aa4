"""Bad configuration fails fast with one clear line naming what and where (exit code 2)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.stack


def run_gateway(env: dict[str, str], timeout: float = 60) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "services.gateway.main"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result.returncode, result.stderr.strip(), time.monotonic() - started


def last_line(stderr: str) -> str:
    return stderr.splitlines()[-1] if stderr else ""


def test_unreachable_broker_fails_fast_naming_it(stack):
    env = stack.env(
        CS_KAFKA_BOOTSTRAP="127.0.0.1:1",
        CS_STARTUP_TIMEOUT_S="3",
        CS_GATEWAY_LISTEN=f"127.0.0.1:{free_port()}",
        CS_METRICS_PORT=str(free_port()),
    )
    code, stderr, took = run_gateway(env)
    assert code == 2, stderr
    assert "Kafka at 127.0.0.1:1 did not answer" in last_line(stderr)
    assert "Traceback" not in stderr and took < 30


def test_wrong_database_uri_fails_fast_naming_it(stack):
    env = stack.env(
        CS_MONGO_URI="mongodb://127.0.0.1:1/",
        CS_STARTUP_TIMEOUT_S="2",
        CS_GATEWAY_LISTEN=f"127.0.0.1:{free_port()}",
        CS_METRICS_PORT=str(free_port()),
    )
    code, stderr, took = run_gateway(env)
    assert code == 2, stderr
    assert "database at mongodb://127.0.0.1:1/ did not answer" in last_line(stderr)
    assert "Traceback" not in stderr and took < 30


def test_port_in_use_fails_naming_the_port_and_variable(stack):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = stack.env(CS_GATEWAY_LISTEN=f"127.0.0.1:{free_port()}", CS_METRICS_PORT=str(port))
        code, stderr, _ = run_gateway(env)
    assert code == 2, stderr
    assert f"127.0.0.1:{port}" in last_line(stderr) and "CS_METRICS_PORT" in last_line(stderr)


def test_reply_sink_port_in_use_fails_naming_its_variable(stack):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = stack.env(
            CS_GATEWAY_LISTEN=f"127.0.0.1:{free_port()}",
            CS_METRICS_PORT=str(free_port()),
            CS_GATEWAY_SINK_LISTEN=f"127.0.0.1:{port}",
        )
        code, stderr, _ = run_gateway(env)
    assert code == 2, stderr
    assert f"127.0.0.1:{port}" in last_line(stderr) and "CS_GATEWAY_SINK_LISTEN" in last_line(stderr)


def test_malformed_setting_fails_naming_the_variable(stack):
    env = stack.env(CS_GATEWAY_LISTEN="no-port-here")
    code, stderr, _ = run_gateway(env)
    assert code == 2
    assert last_line(stderr) == "cs-gateway: cannot start: CS_GATEWAY_LISTEN='no-port-here' is not host:port"


async def test_a_port_another_grpc_server_holds_fails_instead_of_sharing_it(stack):
    # grpc's default SO_REUSEPORT would let a second gateway start on the same port and split the
    # calls between the two; a holder with SO_REUSEPORT on is the case that would start silently.
    import asyncio

    import grpc

    holder = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    port = holder.add_insecure_port("127.0.0.1:0")
    await holder.start()
    try:
        env = stack.env(CS_GATEWAY_LISTEN=f"127.0.0.1:{port}", CS_METRICS_PORT=str(free_port()))
        code, stderr, _ = await asyncio.to_thread(run_gateway, env)
    finally:
        await holder.stop(0)
    assert code == 2, stderr
    assert f"127.0.0.1:{port}" in last_line(stderr) and "CS_GATEWAY_LISTEN" in last_line(stderr)

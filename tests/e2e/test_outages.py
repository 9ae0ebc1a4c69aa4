"""Kill the Kafka broker, or the database, mid-stream and start it again: nothing lost, nothing duplicated.

Runs on a stack of its own (its own ports and data folder), so the outages do not disturb the
other tests. While a dependency is down, SendMessage must fail fast with UNAVAILABLE (within
CS_GATEWAY_SEND_TIMEOUT_S plus slack) or be accepted; once it is back, the workers must resume by
themselves (no restart) and every acknowledged message must get exactly one reply and one stored
record. While the database is down every service reports NOT_SERVING (readiness) and stays live
(liveness SERVING), and reports SERVING again once it is back. Figures print with -s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import signal
import subprocess
import time
import uuid

import grpc
import pytest

from services.common.platform.health import LIVENESS, check
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.conftest import ROOT, Stack, free_port, start_service, wait_serving
from tests.e2e.delivery import assert_exactly_once, await_replies
from tests.e2e.test_conversations import Replies, auth
from tests.integration.conftest import create_keys_async

pytestmark = pytest.mark.stack

SEND_TIMEOUT_S = 3
OUTAGE_S = 20
QUESTIONS = ["How do I reset my password?", "怎么修改收货地址？", "Do you ship to Canada?", "我的订单什么时候发货？"]


def stack_env(folder: pathlib.Path, ports: dict[str, int]) -> dict[str, str]:
    return dict(
        os.environ,
        CS_STACK_DIR=str(folder),
        CS_KAFKA_PORT=str(ports["kafka"]),
        CS_KAFKA_CONTROLLER_PORT=str(ports["controller"]),
        CS_FERRETDB_PORT=str(ports["mongo"]),
    )


def stack_command(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "deploy/local/stack.sh"), *args], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"stack.sh {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broker-restart-stack")
    ports = {"kafka": free_port(), "controller": free_port(), "mongo": free_port()}
    env = stack_env(folder, ports)
    stack_command(env, "up")
    from services.common.platform.kafka import ensure_topics
    from services.common.platform.topics import all_topic_names

    s = Stack(
        kafka=f"127.0.0.1:{ports['kafka']}",
        mongo_uri=f"mongodb://127.0.0.1:{ports['mongo']}/",
        database="broker_restart",
        prefix="br.",
    )
    ensure_topics(s.kafka, all_topic_names(s.prefix, s.queues.split(",")), partitions=3)
    try:
        yield s, folder, env
    finally:
        stack_command(env, "down", "--wipe")


@pytest.fixture(scope="module")
def own_system(own_stack, tmp_path_factory):
    stack, _, _ = own_stack
    log_dir = tmp_path_factory.mktemp("broker-restart-services")
    gateway_port = free_port()
    processes = {}
    try:
        for name, extra in [
            (
                "gateway",
                {
                    "CS_GATEWAY_LISTEN": f"127.0.0.1:{gateway_port}",
                    "CS_GATEWAY_RATE_PER_MINUTE": "6000",
                    "CS_GATEWAY_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S),
                },
            ),
            ("intent", {}),
            ("sentiment", {}),
            ("generator", {"CS_GENERATOR_MAX_NEW_TOKENS": "32"}),
        ]:
            health = gateway_port if name == "gateway" else free_port()
            env = stack.env(CS_METRICS_PORT=str(free_port()), CS_HEALTH_PORT=str(health), **extra)
            processes[name] = start_service(f"services.{name}.main", env, log_dir, name)
            processes[name].ports = {"health": health}
        for proc in processes.values():
            wait_serving(f"127.0.0.1:{proc.ports['health']}", proc, 300)
        yield processes, f"127.0.0.1:{gateway_port}"
    finally:
        for proc in processes.values():
            proc.stop()


def kill_component(folder: pathlib.Path, pidfile: str) -> None:
    pid = int((folder / pidfile).read_text())
    os.kill(pid, signal.SIGKILL)  # as in a crash: no controlled shutdown
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


async def test_broker_restart_loses_and_duplicates_nothing(own_stack, own_system):
    stack, folder, env = own_stack
    processes, target = own_system
    adapter = (await create_keys_async(stack, [("shop", "adapter", "")]))[0]
    async with grpc.aio.insecure_channel(target) as channel:
        customers = cgrpc.CustomerServiceStub(channel)

        async def open_conversation() -> tuple[str, Replies]:
            cid = f"br-{uuid.uuid4().hex[:10]}"
            stream = Replies(
                customers.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(adapter))
            )
            return cid, stream

        async def send(cid: str, text: str, timeout: float = 30):
            return await customers.SendMessage(
                cpb.SendMessageRequest(conversation_id=cid, customer_id="c", channel="web", text=text),
                metadata=auth(adapter),
                timeout=timeout,
            )

        before = [await open_conversation() for _ in QUESTIONS]
        await asyncio.sleep(0.5)
        acked = {cid: (await send(cid, q)).message_id for (cid, _), q in zip(before, QUESTIONS)}

        await asyncio.to_thread(kill_component, folder, "kafka/kafka.pid")
        stopped_at = time.monotonic()
        refused, waits = 0, []
        while time.monotonic() - stopped_at < OUTAGE_S:
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await send(f"br-down-{uuid.uuid4().hex[:6]}", "Is anyone there?")
            waits.append(time.monotonic() - started)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value.details()
            refused += 1
            await asyncio.sleep(1)
        assert max(waits) < SEND_TIMEOUT_S + 5, f"SendMessage took {max(waits):.1f} s to fail while Kafka was down"

        await asyncio.to_thread(stack_command, env, "up")
        back_at = time.monotonic()
        after = [await open_conversation() for _ in QUESTIONS]
        await asyncio.sleep(0.5)
        deadline = time.monotonic() + 120
        while True:  # the gateway's producer reconnects by itself
            try:
                acked[after[0][0]] = (await send(after[0][0], QUESTIONS[0], timeout=10)).message_id
                break
            except grpc.aio.AioRpcError as e:
                assert e.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline, e.details()
                await asyncio.sleep(1)
        sends_back_s = time.monotonic() - back_at
        for (cid, _), q in zip(after[1:], QUESTIONS[1:]):
            acked[cid] = (await send(cid, q)).message_id

        waiting_since = time.monotonic()
        delivery = await await_replies(dict(before + after), acked, 300)

    print(
        f"\nbroker down {OUTAGE_S} s: {refused} sends refused with UNAVAILABLE (slowest {max(waits):.1f} s); "
        f"sends accepted {sends_back_s:.1f} s after restart; {len(acked)} acknowledged, lost {len(delivery.lost)}, "
        f"duplicated {delivery.duplicated}; all replied {waiting_since - back_at + delivery.seconds:.1f} s after restart"
    )
    await assert_exactly_once(stack, delivery)
    for proc in processes.values():
        assert proc.proc.poll() is None, f"{proc.name} died:\n{proc.log()[-3000:]}"


DB_OUTAGE_S = 30
READY_AGAIN_S = 60


class Readiness:
    """Polls every service's health once a second: the readiness statuses each reported, and whether
    liveness ever failed."""

    def __init__(self, processes: dict) -> None:
        self.targets = {name: f"127.0.0.1:{proc.ports['health']}" for name, proc in processes.items()}
        self.seen: dict[str, set[str]] = {name: set() for name in self.targets}
        self.not_live: list[str] = []
        self._task = asyncio.ensure_future(self._run())

    async def _status(self, target: str, service: str) -> str:
        try:
            return await check(target, service, timeout=2)
        except grpc.aio.AioRpcError as err:
            return f"unreachable ({err.code().name})"

    async def _run(self) -> None:
        while True:
            for name, target in self.targets.items():
                self.seen[name].add(await self._status(target, ""))
                if (live := await self._status(target, LIVENESS)) != "SERVING":
                    self.not_live.append(f"{name}: {live}")
            await asyncio.sleep(1)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def all_serving(self, timeout: float) -> dict[str, str]:
        """Each service's readiness once all are SERVING, or as it was when the time ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            now = {name: await self._status(target, "") for name, target in self.targets.items()}
            if all(s == "SERVING" for s in now.values()) or loop.time() > deadline:
                return now
            await asyncio.sleep(1)


async def test_database_outage_loses_and_duplicates_nothing(own_stack, own_system):
    stack, folder, env = own_stack
    processes, target = own_system
    adapter = (await create_keys_async(stack, [("shop", "adapter", "")]))[0]
    async with grpc.aio.insecure_channel(target) as channel:
        customers = cgrpc.CustomerServiceStub(channel)
        conversations = [f"db-{uuid.uuid4().hex[:10]}" for _ in range(len(QUESTIONS) * 2)]
        streams = {
            c: Replies(customers.StreamReplies(cpb.StreamRepliesRequest(conversation_id=c), metadata=auth(adapter)))
            for c in conversations
        }
        await asyncio.sleep(0.5)

        async def send(cid: str, text: str):
            return await customers.SendMessage(
                cpb.SendMessageRequest(conversation_id=cid, customer_id="c", channel="web", text=text),
                metadata=auth(adapter),
                timeout=30,
            )

        acked = {}
        for cid, q in zip(conversations[: len(QUESTIONS)], QUESTIONS):  # in flight when the database dies
            acked[cid] = (await send(cid, q)).message_id
        await asyncio.to_thread(kill_component, folder, "ferretdb/ferretdb.pid")
        stopped_at = time.monotonic()
        readiness = Readiness(processes)
        refused, waits = 0, []
        for cid, q in zip(conversations[len(QUESTIONS) :], QUESTIONS):  # sent while it is down
            started = time.monotonic()
            try:
                acked[cid] = (await send(cid, q)).message_id
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
                refused += 1
            waits.append(time.monotonic() - started)
        await asyncio.sleep(max(0.0, DB_OUTAGE_S - (time.monotonic() - stopped_at)))
        await asyncio.to_thread(stack_command, env, "up")
        back_at = time.monotonic()

        waiting_since = time.monotonic()
        delivery = await await_replies(streams, acked, 300)
        await readiness.stop()
        ready_again = await readiness.all_serving(READY_AGAIN_S)

    print(
        f"\ndatabase down {DB_OUTAGE_S} s: {len(acked)} acknowledged ({refused} sends refused with UNAVAILABLE, "
        f"slowest answer {max(waits):.1f} s), lost {len(delivery.lost)}, duplicated {delivery.duplicated}; "
        f"all replied {waiting_since - back_at + delivery.seconds:.1f} s after the database came back"
    )
    assert max(waits) < SEND_TIMEOUT_S + 10, (
        f"SendMessage took {max(waits):.1f} s to answer while the database was down"
    )
    await assert_exactly_once(stack, delivery)
    for proc in processes.values():
        assert proc.proc.poll() is None, f"{proc.name} died:\n{proc.log()[-3000:]}"
    not_ready = [name for name, statuses in readiness.seen.items() if "NOT_SERVING" not in statuses]
    assert not not_ready, f"these stayed ready while the database was down: {not_ready} ({readiness.seen})"
    assert not readiness.not_live, f"liveness failed during the outage: {readiness.not_live}"
    assert set(ready_again.values()) == {"SERVING"}, f"not ready again after the database came back: {ready_again}"

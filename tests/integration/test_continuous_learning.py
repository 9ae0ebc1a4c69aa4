"""Continuous learning on the real stack: agents correct, a retrain builds and promotes a new intent
model, and the running intent worker switches to it without a restart or a lost message.

The module runs its own gateway and intent worker on topics of its own, hence in a consumer group of
its own (another intent worker on the session's topics would otherwise take some partitions and never
switch), with a model store in a temporary folder that starts with a copy of the stack's current model.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass

import grpc
import pytest
from aiokafka import AIOKafkaConsumer

from services.common.ml.model_store import ModelStore
from services.common.platform.topics import UNDERSTOOD
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.conftest import ROOT, ServiceProcess, Stack, copy_current_model, free_port, start_service, wait_serving
from tests.integration.conftest import auth, create_keys, start_gateway

pytestmark = [pytest.mark.stack, pytest.mark.models]

KIND = "intent"
# Texts agents relabel, and what they relabel them to (the stack's model says recover_password,
# change_order, ...: a parcel locker's code is not a password).
CORRECTIONS = [
    ("the locker code doesn't work", "track_order"),
    ("快递柜密码打不开", "track_order"),
    ("the item arrived broken", "complaint"),
]
# Paraphrases no agent corrected: the new version must generalise to them.
PARAPHRASES = [("the parcel locker code is not working", "track_order"), ("快递柜打不开", "track_order")]
TRAFFIC = [
    "where is my order",
    "I want a refund",
    "cancel my order please",
    "how do I reset my password",
    "我的快递到哪了",
    "这个怎么退货",
]


@dataclass
class Learning:
    stack: Stack
    store: ModelStore
    first: str
    tenant: str
    adapter: str
    agent: str
    gateway: ServiceProcess
    worker: ServiceProcess


@pytest.fixture(scope="module")
def learning(stack, tmp_path_factory) -> Learning:
    own = stack.with_own_topics("learn.")
    store = copy_current_model(KIND, tmp_path_factory.mktemp("models"))
    base = store.current(KIND)
    tenant = f"learn{uuid.uuid4().hex[:6]}"
    adapter, agent = create_keys(own, [(tenant, "adapter", ""), (tenant, "agent", "lee")])
    logs = tmp_path_factory.mktemp("learning")
    gateway = start_gateway(own, logs)
    health = free_port()
    worker_env = own.env(
        CS_MODEL_DIR=str(store.root),
        CS_MODEL_RELOAD_S="1",
        CS_HEALTH_PORT=str(health),
        CS_METRICS_PORT=str(free_port()),
    )
    worker = start_service("services.intent.main", worker_env, logs, "intent")
    worker.ports = {"health": health, "metrics": int(worker_env["CS_METRICS_PORT"])}
    try:
        wait_serving(f"127.0.0.1:{health}", worker, 120)
        yield Learning(own, store, base[0], tenant, adapter, agent, gateway, worker)
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
        gateway.stop()


class Understood:
    """Every MessageUnderstood of the tenant on the module's topic, read from the start, as it arrives."""

    def __init__(self, learning: Learning) -> None:
        self.learning = learning
        self.events: list = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Understood:
        self._consumer = AIOKafkaConsumer(
            UNDERSTOOD.name(self.learning.stack.prefix),
            bootstrap_servers=self.learning.stack.kafka,
            group_id=f"it-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for record in self._consumer:
            event = UNDERSTOOD.decode(record.value)
            if event.message.tenant_id == self.learning.tenant:
                self.events.append(event)

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()

    def of(self, message_ids) -> dict[str, list]:
        wanted = set(message_ids)
        found = defaultdict(list)
        for event in self.events:
            if event.message.message_id in wanted:
                found[event.message.message_id].append(event)
        return found

    async def wait_for(self, message_ids, timeout: float = 60) -> dict[str, list]:
        async with asyncio.timeout(timeout):
            while len(self.of(message_ids)) < len(set(message_ids)):
                await asyncio.sleep(0.2)
        return self.of(message_ids)

    async def wait_version(self, version: str, timeout: float = 90) -> None:
        async with asyncio.timeout(timeout):
            while not any(e.understanding.model_version == version for e in self.events):
                await asyncio.sleep(0.2)


async def send(channel, learning: Learning, text: str, conversation_id: str = "") -> cpb.SendMessageResponse:
    return await cgrpc.CustomerServiceStub(channel).SendMessage(
        cpb.SendMessageRequest(conversation_id=conversation_id, customer_id="cust-learn", text=text),
        metadata=auth(learning.adapter),
        timeout=15,
    )


def retrain(learning: Learning, *extra: str) -> subprocess.CompletedProcess:
    env = learning.stack.env(CS_MODEL_DIR=str(learning.store.root))
    return subprocess.run(
        [sys.executable, "-m", "services.intent.training", "--with-corrections", "--tenant", learning.tenant, *extra],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


async def test_corrections_retrain_and_the_running_worker_switches_without_losing_a_message(learning):
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{learning.gateway.ports['grpc']}") as channel,
        Understood(learning) as seen,
    ):
        before = [await send(channel, learning, text) for text, _ in CORRECTIONS + PARAPHRASES]
        first = await seen.wait_for([a.message_id for a in before])
        for ack, (text, label) in zip(before, CORRECTIONS + PARAPHRASES):
            event = first[ack.message_id][0]
            assert event.understanding.model_version == learning.first
            assert event.understanding.intent.label != label, f"the stack's model already labels {text!r} {label}"

        agents = agrpc.AgentServiceStub(channel)
        for ack, (_, label) in zip(before, CORRECTIONS):
            await agents.CorrectUnderstanding(
                apb.CorrectUnderstandingRequest(
                    conversation_id=ack.conversation_id, message_id=ack.message_id, intent=label
                ),
                metadata=auth(learning.agent),
            )

        # Customers keep writing while the model is retrained and swapped: every message must come out once.
        conversations = [f"learn-{uuid.uuid4().hex[:8]}" for _ in range(4)]
        sent: list[cpb.SendMessageResponse] = []

        async def traffic() -> None:
            for i in range(10_000):
                sent.append(
                    await send(channel, learning, TRAFFIC[i % len(TRAFFIC)], conversations[i % len(conversations)])
                )
                await asyncio.sleep(0.25)

        background = asyncio.create_task(traffic())
        try:
            done = await asyncio.to_thread(retrain, learning, "--promote")
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            second = re.search(r"^intent model (\S+)$", done.stdout, re.MULTILINE)[1]
            assert second != learning.first and learning.store.current(KIND)[0] == second
            assert f"3 stored (tenant {learning.tenant}): 3 used as training texts" in done.stdout
            assert f"before        {learning.first}:" in done.stdout and "labelled as the agents did 0/3" in done.stdout
            assert (
                f"after         {second}:" in done.stdout
                and "labelled as the agents did 3/3 (trained on them)" in done.stdout
            )
            await seen.wait_version(second)
            await asyncio.sleep(1.0)  # a few more messages after the switch
        finally:
            background.cancel()
            await asyncio.gather(background, return_exceptions=True)

        after = [await send(channel, learning, text) for text, _ in CORRECTIONS + PARAPHRASES]
        relabelled = await seen.wait_for([a.message_id for a in after])
        for ack, (text, label) in zip(after, CORRECTIONS + PARAPHRASES):
            event = relabelled[ack.message_id][0]
            assert event.understanding.model_version == second
            assert event.understanding.intent.label == label, text

        # Nothing lost: every message sent comes out. Delivery is at least once: a rebalance of the
        # worker's consumer group can redeliver an event whose offset was not committed yet, and the
        # stores dedupe by message id; so a message may come out twice, and its first processing is
        # the one that counts.
        out = await seen.wait_for([a.message_id for a in sent])
        assert len(out) == len(sent) == len({a.message_id for a in sent})
        versions = [out[a.message_id][0].understanding.model_version for a in sent]
        assert set(versions) == {learning.first, second}, "traffic never spanned the switch"
        for conversation in conversations:  # in each conversation's order: the old version, then only the new one
            mine = [v for a, v in zip(sent, versions) if a.conversation_id == conversation]
            assert mine == sorted(mine, key=lambda v: v == second), mine

    log = learning.worker.log()
    assert re.search(rf'"msg": "model switched".*"from_version": "{learning.first}", "to_version": "{second}"', log), (
        log[-3000:]
    )

    again = await asyncio.to_thread(retrain, learning)
    assert again.returncode == 0 and f"intent model {second}\n" in again.stdout, (
        "the same corrections must reuse the version"
    )


async def test_a_version_that_fails_to_load_leaves_the_old_one_serving(learning):
    serving = learning.store.current(KIND)[0]
    broken, _ = learning.store.build(
        KIND, uuid.uuid4().hex[:10], lambda folder: (folder / "model.json").write_text("{}")
    )
    learning.store.promote(KIND, broken)
    metrics_url = f"http://127.0.0.1:{learning.worker.ports['metrics']}/metrics"
    failed = re.compile(r'cs_model_reloads_total\{kind="intent",outcome="failed",service="intent"\} ([0-9.]+)')
    try:
        for _ in range(60):
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(metrics_url, timeout=5).read().decode())
            if failed.search(body):
                break
            await asyncio.sleep(0.5)
        assert failed.search(body), learning.worker.log()[-2000:]
        assert float(failed.search(body)[1]) == 1
        assert f'cs_model_version_info{{kind="intent",service="intent",version="{serving}"}} 1.0' in body
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{learning.gateway.ports['grpc']}") as channel,
            Understood(learning) as seen,
        ):
            acks = [await send(channel, learning, text) for text in TRAFFIC]
            out = await seen.wait_for([a.message_id for a in acks])
        assert {events[0].understanding.model_version for events in out.values()} == {serving}
        assert f'"failed_version": "{broken}"' in learning.worker.log()
    finally:
        learning.store.promote(KIND, serving)

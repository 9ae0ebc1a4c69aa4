"""`cs models rollback` on a running intent worker: it switches back to the previous version without a restart.

The worker runs on topics of its own (hence its own consumer group) with a model store in a temporary
folder: a copy of the stack's current intent version, then the same head under a second version
name, promoted before the worker starts. The CLI runs as an operator would run it, as a process.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.topics import INBOUND, UNDERSTOOD, conversation_key
from tests.conftest import ROOT, copy_current_model, free_port, start_service, wait_serving

pytestmark = [pytest.mark.stack, pytest.mark.models]

KIND = "intent"


@pytest.fixture(scope="module")
def serving_second(stack, tmp_path_factory):
    own = stack.with_own_topics("rollback.")
    store = copy_current_model(KIND, tmp_path_factory.mktemp("models"))
    first, first_path = store.current(KIND)
    second, _ = store.build(KIND, uuid.uuid4().hex[:10], lambda folder: shutil.copytree(
        first_path, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete")))
    store.promote(KIND, second)
    health = free_port()
    env = own.env(CS_MODEL_DIR=str(store.root), CS_MODEL_RELOAD_S="1", CS_HEALTH_PORT=str(health),
                  CS_METRICS_PORT=str(free_port()))
    worker = start_service("services.intent.main", env, tmp_path_factory.mktemp("intent"), "intent")
    try:
        wait_serving(f"127.0.0.1:{health}", worker, 120)
        yield own, store, first, second, worker
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]


def cs(stack, store, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.common.cli", *argv], env=stack.env(CS_MODEL_DIR=str(store.root)),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


async def test_rollback_puts_the_previous_version_back_into_service_without_a_restart(serving_second):
    own, store, first, second, worker = serving_second
    cid = f"rb-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(UNDERSTOOD.name(own.prefix), bootstrap_servers=own.kafka,
                                group_id=f"it-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka, acks="all")
    await consumer.start()
    await producer.start()
    versions: dict[str, str] = {}
    sent: list[str] = []

    async def send() -> None:
        message = ev.MessageReceived(tenant_id="acme", conversation_id=cid, message_id=f"{cid}-{len(sent)}",
                                     text="where is my order #A12345?")
        sent.append(message.message_id)
        await producer.send_and_wait(INBOUND.name(own.prefix), INBOUND.encode(message), key=conversation_key(cid))

    async def read_until(done) -> None:
        async with asyncio.timeout(60):
            while not done():
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        event = UNDERSTOOD.decode(record.value)
                        versions.setdefault(event.message.message_id, event.understanding.model_version)

    try:
        await send()
        await read_until(lambda: sent[0] in versions)
        assert versions[sent[0]] == second

        done = await asyncio.to_thread(cs, own, store, "models", "rollback", "--kind", KIND)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"intent: CURRENT {second} -> {first}" in done.stdout
        assert store.pointer(KIND) == first and store.previous(KIND) == second

        async with asyncio.timeout(60):
            while first not in versions.values():
                await send()
                await read_until(lambda: sent[-1] in versions)
        await send()
        await read_until(lambda: all(m in versions for m in sent))
    finally:
        await producer.stop()
        await consumer.stop()
    order = [versions[m] for m in sent]
    assert order == sorted(order, key=lambda v: v == first) and order[-1] == first, order
    assert worker.proc.poll() is None, "the worker must switch in place, not restart"
    assert f'"from_version": "{second}", "to_version": "{first}"' in worker.log()
    listed = await asyncio.to_thread(cs, own, store, "models", "list", "--kind", KIND)
    assert listed.returncode == 0 and f"`cs models rollback --kind intent` makes {second} CURRENT again" in listed.stdout

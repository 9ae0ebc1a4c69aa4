"""The sentiment worker as a process on the real broker follows its model's CURRENT version.

Its own topics, hence its own consumer group (another sentiment worker on the session's topics would
take some partitions), and a model store in a temporary folder: a copy of the stack's current sentiment version, then the same weights
built again as a second version and promoted while events keep arriving.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.mongo import connect
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.repositories import ModelVersionRepo
from services.common.topics import ENRICHED, UNDERSTOOD, conversation_key
from tests.conftest import copy_current_model, free_port, start_service, wait_serving

pytestmark = [pytest.mark.stack, pytest.mark.models]

KIND = "sentiment"


@pytest.fixture(scope="module")
def sentiment(stack, tmp_path_factory):
    own = stack.with_own_topics("senti.")
    store = copy_current_model(KIND, tmp_path_factory.mktemp("models"))
    base = store.current(KIND)
    health = free_port()
    env = own.env(CS_MODEL_DIR=str(store.root), CS_MODEL_RELOAD_S="1", CS_HEALTH_PORT=str(health),
                  CS_METRICS_PORT=str(free_port()))
    worker = start_service("services.sentiment.main", env, tmp_path_factory.mktemp("sentiment"), "sentiment")
    try:
        wait_serving(f"127.0.0.1:{health}", worker, 120)
        yield own, store, base, worker
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]


def understood(conversation_id: str, n: int, text: str) -> ev.MessageUnderstood:
    message = ev.MessageReceived(tenant_id="acme", conversation_id=conversation_id, message_id=f"{conversation_id}-{n}", text=text)
    return ev.MessageUnderstood(message=message, understanding=und.Understanding(language="en", model_version="intent-x"))


async def test_a_promoted_sentiment_version_serves_the_next_events_and_none_is_lost(sentiment):
    own, store, (first, first_path), worker = sentiment
    cid = f"sr-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(ENRICHED.name(own.prefix), bootstrap_servers=own.kafka,
                                group_id=f"it-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka, acks="all")
    await consumer.start()
    await producer.start()
    versions: dict[str, str] = {}
    sent: list[str] = []

    async def send(text: str) -> None:
        event = understood(cid, len(sent), text)
        sent.append(event.message.message_id)
        await producer.send_and_wait(UNDERSTOOD.name(own.prefix), UNDERSTOOD.encode(event), key=conversation_key(cid))

    async def read_until(done) -> None:
        async with asyncio.timeout(60):
            while not done():
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        enriched = ENRICHED.decode(record.value)
                        versions.setdefault(enriched.message.message_id, enriched.sentiment.model_version)

    try:
        await send("this is the third time I'm asking, where is my refund?!")
        await read_until(lambda: sent[0] in versions)
        assert versions[sent[0]] == first
        second, _ = store.build(KIND, uuid.uuid4().hex[:10], lambda folder: shutil.copytree(
            first_path, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete")))
        store.promote(KIND, second)
        async with asyncio.timeout(60):
            while second not in versions.values():
                await send("thanks, that solved it")
                await read_until(lambda: sent[-1] in versions)
        await send("ok")
        await read_until(lambda: all(m in versions for m in sent))
    finally:
        await producer.stop()
        await consumer.stop()
    order = [versions[m] for m in sent]
    assert order == sorted(order, key=lambda v: v == second) and order[-1] == second
    assert f'"to_version": "{second}"' in worker.log()
    mongo, db = await connect(own.mongo_uri, own.database, 10)
    try:
        assert (await ModelVersionRepo(db).latest(KIND))["_id"] == second
    finally:
        await mongo.close()

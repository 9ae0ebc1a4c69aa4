"""The intent worker as a process on the real broker: enriches events, dead-letters poison, keeps going."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.common.platform.topics import DEAD_LETTER, INBOUND, UNDERSTOOD, consumer_group, conversation_key
from services.common.proto.cs.v1 import events_pb2 as ev
from tests.conftest import free_port, start_service, wait_serving

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def intent_worker(stack, tmp_path_factory):
    health = free_port()
    env = stack.env(CS_HEALTH_PORT=str(health), CS_METRICS_PORT=str(free_port()))
    proc = start_service("services.intent.main", env, tmp_path_factory.mktemp("intent"), "intent")
    try:
        wait_serving(f"127.0.0.1:{health}", proc, 120)
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()[-3000:]


async def collect(stack, topics: list[str], until, timeout: float = 30) -> list:
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=stack.kafka, group_id=f"it-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    seen = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not until(seen):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(records)
    finally:
        await consumer.stop()
    return seen


async def test_enriches_messages_and_dead_letters_poison_without_stopping(stack, intent_worker):
    cid = f"iw-{uuid.uuid4().hex}"
    good = [
        ev.MessageReceived(
            tenant_id="acme", conversation_id=cid, message_id=f"{cid}-1", text="Where is my order #A12345?"
        ),
        ev.MessageReceived(tenant_id="acme", conversation_id=cid, message_id=f"{cid}-3", text="我要转人工客服"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    await producer.start()
    topic = INBOUND.name(stack.prefix)
    await producer.send_and_wait(topic, INBOUND.encode(good[0]), key=conversation_key("acme", cid))
    await producer.send_and_wait(topic, b"\x08\x96\x01 not protobuf \xff", key=conversation_key("acme", cid))
    future = ev.MessageReceived(
        tenant_id="acme", conversation_id=cid, message_id=f"{cid}-f", text="hi", schema_version=99
    )
    await producer.send_and_wait(topic, future.SerializeToString(), key=conversation_key("acme", cid))
    no_tenant = ev.MessageReceived(conversation_id=cid, message_id=f"{cid}-t", text="hi", schema_version=1)
    await producer.send_and_wait(topic, no_tenant.SerializeToString(), key=conversation_key("acme", cid))
    await producer.send_and_wait(topic, INBOUND.encode(good[1]), key=conversation_key("acme", cid))
    await producer.stop()

    def done(records):
        return sum(1 for r in records if r.key == conversation_key("acme", cid)) >= 5

    records = await collect(stack, [UNDERSTOOD.name(stack.prefix), DEAD_LETTER.name(stack.prefix)], done)
    understood = [
        UNDERSTOOD.decode(r.value)
        for r in records
        if r.topic == UNDERSTOOD.name(stack.prefix) and r.key == conversation_key("acme", cid)
    ]
    letters = [
        DEAD_LETTER.decode(r.value)
        for r in records
        if r.topic == DEAD_LETTER.name(stack.prefix) and r.key == conversation_key("acme", cid)
    ]
    assert [u.message.message_id for u in understood] == [f"{cid}-1", f"{cid}-3"]
    first, second = understood
    assert first.understanding.language == "en" and first.understanding.model_version.startswith("intent-")
    assert any(e.type == "order_number" for e in first.understanding.entities)
    assert second.understanding.language == "zh" and second.understanding.intent.label == "contact_human_agent"
    assert [letter.reason for letter in letters] == ["undecodable", "schema_version", "invalid"]
    assert all(letter.service == "intent" and letter.source_topic == topic for letter in letters)
    assert letters[0].payload.startswith(b"\x08\x96\x01")
    assert "schema_version 99" in letters[1].error and "tenant_id is empty" in letters[2].error


async def test_joins_the_consumer_group_of_its_topic_prefix(stack, intent_worker):
    """Workers of other deployments and test sessions on this broker (other prefixes) are in other groups."""
    from aiokafka.admin import AIOKafkaAdminClient

    group = consumer_group(stack.prefix, "intent")
    assert group == f"{stack.prefix}cs-intent"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka)
    await admin.start()
    try:
        async with asyncio.timeout(30):
            while group not in {listed[0] for listed in await admin.list_consumer_groups()}:
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
    assert f'"group": "{group}"' in intent_worker.log()

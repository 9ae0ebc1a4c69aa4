"""Events published with the project's codec are consumed by a consumer group and decoded intact."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer

from services.common.platform.topics import INBOUND, conversation_key
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev

pytestmark = pytest.mark.stack


def test_event_round_trips_through_a_consumer_group_and_offsets_are_committed(stack):
    topic = INBOUND.name(stack.prefix)
    conversation_id = f"codec-{uuid.uuid4().hex}"
    sent = [
        ev.MessageReceived(
            tenant_id="acme",
            conversation_id=conversation_id,
            message_id=f"m{i}",
            customer_id="c",
            channel="wechat",
            text=f"第{i}条消息 ✓",
            customer=conv.CustomerProfile(tier="vip"),
        )
        for i in range(5)
    ]
    producer = KafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    for event in sent:
        producer.send(topic, key=conversation_key("acme", conversation_id), value=INBOUND.encode(event)).get(10)
    producer.close()

    group = f"codec-{uuid.uuid4().hex[:6]}"
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    received = [INBOUND.decode(r.value) for r in consumer if r.key == conversation_key("acme", conversation_id)]
    consumer.commit()
    consumer.close()
    assert received == sent  # same partition, so in order, and intact

    again = KafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    assert [r for r in again if r.key == conversation_key("acme", conversation_id)] == []
    again.close()

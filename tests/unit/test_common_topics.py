"""The protobuf codec for Kafka events: round trips, and poison events recognised with a reason."""

import pytest

from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.topics import ENRICHED, INBOUND, SCHEMA_VERSION, PoisonEvent, all_topic_names, escalation_topic


def received(**overrides) -> ev.MessageReceived:
    fields = {"tenant_id": "acme", "conversation_id": "c1", "message_id": "m1", "text": "我的订单在哪里？"}
    fields.update(overrides)
    return ev.MessageReceived(**fields)


def test_event_round_trips_with_schema_version_stamped():
    payload = INBOUND.encode(received())
    decoded = INBOUND.decode(payload)
    assert decoded.text == "我的订单在哪里？"
    assert decoded.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("payload, reason", [
    (b"", "undecodable"),
    (None, "undecodable"),
    (b"\xff\xff\xff\xff garbage", "undecodable"),
])
def test_garbage_is_poison_with_reason(payload, reason):
    with pytest.raises(PoisonEvent) as err:
        INBOUND.decode(payload)
    assert err.value.reason == reason


def test_newer_schema_version_is_refused():
    event = received(schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(PoisonEvent) as err:
        INBOUND.decode(event.SerializeToString())
    assert err.value.reason == "schema_version"


def test_event_missing_its_ids_is_invalid():
    with pytest.raises(PoisonEvent) as err:
        INBOUND.decode(INBOUND.encode(received(message_id="")))
    assert err.value.reason == "invalid" and "message_id" in err.value.detail
    with pytest.raises(PoisonEvent):
        ENRICHED.decode(ENRICHED.encode(ev.MessageEnriched(message=received(tenant_id=""))))


def test_wrong_message_type_cannot_be_published_on_a_topic():
    with pytest.raises(TypeError):
        INBOUND.encode(ev.ReplyPublished())


def test_topic_names_carry_prefix_and_one_topic_per_queue():
    names = all_topic_names("cs.", ["billing", "vip"])
    assert "cs.messages.inbound" in names and "cs.deadletter" in names
    assert escalation_topic("cs.", "billing") in names and "cs.escalations.vip" in names

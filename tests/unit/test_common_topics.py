"""The protobuf codec for Kafka events: round trips, and poison events recognised with a reason."""

import pytest

from services.common.platform.topics import (
    DEAD_LETTER,
    ENRICHED,
    INBOUND,
    REPLIES,
    SCHEMA_VERSION,
    UNDERSTOOD,
    PoisonEvent,
    all_topic_names,
    consumer_group,
    conversation_key,
    escalation_topic,
)
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.worker.loop import WorkerSpec


def received(**overrides) -> ev.MessageReceived:
    fields = {"tenant_id": "acme", "conversation_id": "c1", "message_id": "m1", "text": "我的订单在哪里？"}
    fields.update(overrides)
    return ev.MessageReceived(**fields)


def test_event_round_trips_with_schema_version_stamped():
    payload = INBOUND.encode(received())
    decoded = INBOUND.decode(payload)
    assert decoded.text == "我的订单在哪里？"
    assert decoded.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"", "undecodable"),
        (None, "undecodable"),
        (b"\xff\xff\xff\xff garbage", "undecodable"),
    ],
)
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


def test_the_default_prefix_keeps_the_consumer_group_names_deployments_have_offsets_under():
    assert [consumer_group("cs.", s) for s in ("intent", "sentiment", "generator")] == [
        "cs-intent",
        "cs-sentiment",
        "cs-generator",
    ]
    assert WorkerSpec("intent", INBOUND).group_id("cs.") == "cs-intent"


def test_another_topic_prefix_gets_consumer_groups_of_its_own():
    assert consumer_group("staging.", "intent") == "staging.cs-intent"
    assert consumer_group("t1a2b3c4.learn.", "sentiment") == "t1a2b3c4.learn.cs-sentiment"
    groups = {consumer_group(prefix, "intent") for prefix in ("cs.", "staging.", "t1a2b3c4.", "t1a2b3c4.e2e.")}
    assert len(groups) == 4, "two deployments on one broker would rebalance each other"
    assert WorkerSpec("generator", ENRICHED).group_id("staging.") == "staging.cs-generator"


def test_an_event_is_keyed_by_its_tenant_and_conversation():
    assert INBOUND.key(received()) == b"acme/c1" == conversation_key("acme", "c1")
    assert UNDERSTOOD.key(ev.MessageUnderstood(message=received())) == b"acme/c1"
    assert ENRICHED.key(ev.MessageEnriched(message=received(tenant_id="globex"))) == b"globex/c1"
    assert REPLIES.key(ev.ReplyPublished(tenant_id="acme", conversation_id="c1")) == b"acme/c1"
    with pytest.raises(TypeError):
        DEAD_LETTER.key(ev.DeadLetter(source_topic="cs.messages.inbound"))


def test_two_tenants_conversations_with_one_id_have_two_keys_and_keys_never_collide():
    assert conversation_key("acme", "c1") != conversation_key("globex", "c1")
    # a tenant id never holds "/", so the first "/" ends it: ("a", "b/c") and ("a/b", "c") cannot both exist
    with pytest.raises(ValueError):
        conversation_key("a/b", "c")
    with pytest.raises(PoisonEvent) as err:
        INBOUND.decode(INBOUND.encode(received(tenant_id="acme/evil")))
    assert err.value.reason == "invalid" and "tenant_id" in err.value.detail

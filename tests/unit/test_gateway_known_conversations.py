"""What the gateway remembers of the conversations it has seen (services/gateway/known_conversations.py)."""

from __future__ import annotations

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.gateway.known_conversations import Known, KnownConversations


def doc(cid: str, state: str = "bot", customer: str = "ann", tenant: str = "acme") -> dict:
    return {"tenant_id": tenant, "conversation_id": cid, "customer_id": customer, "state": state}


def change(cid: str, to_state: int, tenant: str = "acme") -> ev.ConversationStateChanged:
    return ev.ConversationStateChanged(tenant_id=tenant, conversation_id=cid, to_state=to_state)


def test_a_seen_conversation_is_known_with_its_owner_and_state_per_tenant() -> None:
    known = KnownConversations()
    assert known.get("acme", "c1") is None
    assert known.saw(doc("c1")) == Known("ann", "bot")
    assert known.get("acme", "c1") == Known("ann", "bot")
    assert known.get("globex", "c1") is None, "another tenant's conversation of the same id"


def test_state_changes_read_from_kafka_update_known_conversations_only() -> None:
    known = KnownConversations()
    known.saw(doc("c1"))
    known.state_changed(change("c1", conv.CONVERSATION_STATE_RESOLVED))
    assert known.get("acme", "c1") == Known("ann", "resolved")
    known.state_changed(change("c2", conv.CONVERSATION_STATE_AGENT))
    assert known.get("acme", "c2") is None, "an unknown conversation is not made up from an event"
    known.state_changed(change("c1", conv.CONVERSATION_STATE_UNSPECIFIED))
    assert known.get("acme", "c1") == Known("ann", "resolved"), "an unreadable state changes nothing"


def test_entries_expire_and_the_least_recently_used_go_first() -> None:
    expired = KnownConversations(ttl_s=0.0)
    expired.saw(doc("c1"))
    assert expired.get("acme", "c1") is None and len(expired) == 0

    small = KnownConversations(size=2)
    for cid in ("c1", "c2"):
        small.saw(doc(cid))
    small.get("acme", "c1")  # used: c2 is now the least recently used
    small.saw(doc("c3"))
    assert small.get("acme", "c2") is None
    assert small.get("acme", "c1") is not None and small.get("acme", "c3") is not None

"""Builders for the events the gateway publishes and replays."""

from __future__ import annotations

from services.common.platform.clock import utcnow
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.repositories import STATE_TO_PROTO, to_timestamp


def reply_from_doc(doc: dict) -> ev.ReplyPublished:
    """A stored bot/agent/system message as the reply event clients receive."""
    reply = ev.ReplyPublished(
        tenant_id=doc["tenant_id"],
        conversation_id=doc["conversation_id"],
        reply_id=doc["_id"],
        in_reply_to=doc.get("in_reply_to", ""),
        author=conv.Author.Value(f"AUTHOR_{doc['author'].upper()}"),
        agent_id=doc.get("agent_id", ""),
        text=doc.get("text", ""),
        language=doc.get("language", ""),
        citations=doc.get("citations", []),
        model_version=doc.get("model_version", ""),
        created_at=to_timestamp(doc.get("created_at")),
    )
    if doc.get("reply_kind"):
        reply.kind = conv.ReplyKind.Value(doc["reply_kind"])
    return reply


def state_event(doc: dict, from_state: str) -> ev.ConversationStateChanged:
    event = ev.ConversationStateChanged(
        tenant_id=doc["tenant_id"],
        conversation_id=doc["conversation_id"],
        from_state=STATE_TO_PROTO[from_state],
        to_state=STATE_TO_PROTO[doc["state"]],
        queue=doc.get("queue", ""),
        agent_id=doc.get("agent_id", ""),
    )
    event.changed_at.FromDatetime(utcnow())
    return event

"""What the browser gets to see of a conversation: texts, authors, reply kinds, ids; never the
platform's enrichment (intent, sentiment, entities), citations or model versions."""

from __future__ import annotations

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import events_pb2 as ev

_AUTHOR: dict[int, str] = {
    conv.AUTHOR_CUSTOMER: "customer",
    conv.AUTHOR_BOT: "bot",
    conv.AUTHOR_AGENT: "agent",
    conv.AUTHOR_SYSTEM: "system",
}
_KIND: dict[int, str] = {
    conv.REPLY_KIND_ANSWER: "answer",
    conv.REPLY_KIND_HANDOVER: "handover",
    conv.REPLY_KIND_FALLBACK: "fallback",
    conv.REPLY_KIND_AGENT: "agent",
}
_STATE: dict[int, str] = {
    conv.CONVERSATION_STATE_BOT: "bot",
    conv.CONVERSATION_STATE_QUEUED: "queued",
    conv.CONVERSATION_STATE_AGENT: "agent",
    conv.CONVERSATION_STATE_RESOLVED: "resolved",
}


def _time(ts) -> str:
    return ts.ToDatetime().isoformat() + "Z" if ts.seconds else ""


def message_view(m: conv.ConversationMessage) -> dict:
    return {
        "id": m.message_id,
        "author": _AUTHOR.get(m.author, "system"),
        "kind": _KIND.get(m.reply_kind, ""),
        "text": m.text,
        "agent": m.agent_id if m.author == conv.AUTHOR_AGENT else "",
        "in_reply_to": m.in_reply_to,
        "created_at": _time(m.created_at),
    }


def reply_view(r: ev.ReplyPublished) -> dict:
    return {
        "id": r.reply_id,
        "author": _AUTHOR.get(r.author, "system"),
        "kind": _KIND.get(r.kind, ""),
        "text": r.text,
        "agent": r.agent_id if r.author == conv.AUTHOR_AGENT else "",
        "in_reply_to": r.in_reply_to,
        "created_at": _time(r.created_at),
    }


def state_view(state: int, agent_id: str) -> dict:
    return {"state": _STATE.get(state, "bot"), "agent": agent_id}


def conversation_view(response: cpb.GetConversationResponse) -> dict:
    c = response.conversation
    return {
        "conversation_id": c.conversation_id,
        **state_view(c.state, c.agent_id),
        "messages": [message_view(m) for m in response.messages],
    }


def token_view(t: cpb.ReplyToken) -> dict:
    return {"id": t.reply_id, "index": t.index, "text": t.text}

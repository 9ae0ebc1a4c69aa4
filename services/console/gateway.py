"""The console's gRPC client of the gateway, and the conversion of its messages to what pages show."""

from __future__ import annotations

import datetime as dt

import grpc

from services.common.proto.cs.v1 import account_service_pb2 as acc
from services.common.proto.cs.v1 import account_service_pb2_grpc as acc_grpc
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und

UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
CALL_TIMEOUT_S = 10


class GatewayClient:
    def __init__(self, target: str) -> None:
        # Reconnect soon after a gateway restart (gRPC's default backoff grows to two minutes).
        self.channel = grpc.aio.insecure_channel(
            target, options=[("grpc.initial_reconnect_backoff_ms", 300), ("grpc.max_reconnect_backoff_ms", 2000)]
        )
        self.agents = agrpc.AgentServiceStub(self.channel)
        self.accounts = acc_grpc.AccountServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def sign_in(self, tenant_id: str, name: str, password: str) -> acc.SignInResponse:
        return await self.accounts.SignIn(
            acc.SignInRequest(tenant_id=tenant_id, name=name, password=password), timeout=CALL_TIMEOUT_S
        )

    async def sign_out(self, credential: str) -> None:
        await self.accounts.SignOut(acc.SignOutRequest(), metadata=bearer(credential), timeout=CALL_TIMEOUT_S)


def bearer(credential: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {credential}"),)


def iso(stamp) -> str:
    return stamp.ToDatetime(dt.UTC).isoformat() if stamp.seconds or stamp.nanos else ""


def enum_name(enum, value: int, prefix: str) -> str:
    try:
        return enum.Name(value).removeprefix(prefix).lower()
    except ValueError:
        return ""


def escalation_view(e: ev.EscalationRaised) -> dict:
    return {
        "conversation_id": e.conversation_id,
        "escalation_id": e.escalation_id,
        "queue": e.queue,
        "priority": enum_name(conv.Priority, e.priority, "PRIORITY_"),
        "reasons": [
            {"code": enum_name(conv.ReasonCode, r.code, "REASON_CODE_"), "detail": r.detail} for r in e.reasons
        ],
        "summary": e.summary,
        "suggested_reply": e.suggested_reply,
        "escalated_at": iso(e.created_at),
        "transferred_from": e.transferred_from,
        "customer_id": e.customer_id,
    }


def removal_view(r: apb.QueueRemoval) -> dict:
    return {
        "conversation_id": r.conversation_id,
        "reason": enum_name(apb.RemovalReason, r.reason, "REMOVAL_REASON_"),
        "agent_id": r.agent_id,
        "to_queue": r.to_queue,
    }


def understanding_view(understanding, sentiment) -> dict:
    intent = understanding.intent
    return {
        "intent": intent.label,
        "confidence": round(intent.confidence, 2),
        "out_of_scope": intent.out_of_scope,
        "language": understanding.language,
        "entities": [{"type": e.type, "text": e.text, "value": e.value} for e in understanding.entities],
        "sentiment": _polarity(sentiment),
        "emotion": enum_name(und.Emotion, sentiment.emotion, "EMOTION_"),
        "sentiment_score": round(sentiment.score, 2),
    }


def _polarity(sentiment) -> str:
    return enum_name(und.Polarity, sentiment.polarity, "POLARITY_")


def message_view(m: conv.ConversationMessage) -> dict:
    out: dict = {
        "id": m.message_id,
        "author": enum_name(conv.Author, m.author, "AUTHOR_"),
        "text": m.text,
        "at": iso(m.created_at),
        "agent_id": m.agent_id,
        "citations": list(m.citations),
        "kind": enum_name(conv.ReplyKind, m.reply_kind, "REPLY_KIND_"),
    }
    if m.author == conv.AUTHOR_CUSTOMER:
        out["understanding"] = understanding_view(m.understanding, m.sentiment) if m.HasField("understanding") else None
        out["correction"] = m.correction.intent if m.HasField("correction") else ""
    return out


def watch_event_view(item: apb.WatchConversationResponse) -> tuple[str, dict]:
    which = item.WhichOneof("event")
    if which == "customer_message":
        e = item.customer_message
        m = e.message
        return "message", {
            "id": m.message_id,
            "author": "customer",
            "text": m.text,
            "at": iso(m.received_at),
            "understanding": understanding_view(e.understanding, e.sentiment),
            "citations": [],
        }
    if which == "reply":
        r = item.reply
        return "message", {
            "id": r.reply_id,
            "author": enum_name(conv.Author, r.author, "AUTHOR_"),
            "text": r.text,
            "at": iso(r.created_at),
            "agent_id": r.agent_id,
            "citations": list(r.citations),
            "kind": enum_name(conv.ReplyKind, r.kind, "REPLY_KIND_"),
        }
    s = item.state
    return "state", {
        "state": enum_name(conv.ConversationState, s.to_state, "CONVERSATION_STATE_"),
        "agent_id": s.agent_id,
        "queue": s.queue,
    }


def conversation_view(c: conv.Conversation) -> dict:
    return {
        "conversation_id": c.conversation_id,
        "customer_id": c.customer_id,
        "channel": c.channel,
        "state": enum_name(conv.ConversationState, c.state, "CONVERSATION_STATE_"),
        "queue": c.queue,
        "agent_id": c.agent_id,
        "updated_at": iso(c.updated_at),
        "created_at": iso(c.created_at),
    }


def wallboard_view(w: apb.GetWallboardResponse) -> dict:
    return {
        "computed_at": iso(w.computed_at),
        "service_level_s": w.service_level_s,
        "abandon_after_s": w.abandon_after_s,
        "abandoned_definition": w.abandoned_definition,
        "queues": [
            {
                "queue": q.queue,
                "waiting": q.waiting,
                "longest_wait_s": round(q.longest_wait_s, 1),
                "escalated": q.escalated_last_hour,
                "claimed": q.claimed_last_hour,
                "within": q.claimed_within_sla_last_hour,
                "abandoned": q.abandoned_last_hour,
                "service_level": round(q.service_level, 3),
                "reasons": {enum_name(conv.ReasonCode, r.code, "REASON_CODE_"): r.count for r in q.reasons_last_hour},
            }
            for q in w.queues
        ],
        "agents": [
            {"agent_id": a.agent_id, "signed_in": a.signed_in, "conversations": a.conversations} for a in w.agents
        ],
        "csat_average": round(w.csat_average, 2),
        "csat_responses": w.csat_responses,
        "csat_window_s": w.csat_window_s,
        "day": [
            {
                "hour": iso(h.hour),
                "escalated": h.escalated,
                "claimed": h.claimed,
                "mean_wait_s": round(h.mean_wait_s, 1),
            }
            for h in w.day
        ],
    }

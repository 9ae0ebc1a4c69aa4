"""Server-Sent Events from a gateway reply stream: what one widget connection receives.

Final replies carry their reply id as the SSE event id, so a reconnect says where it stopped
(Last-Event-ID); tokens carry none (they are a preview the final reply replaces) and state changes
none (the stream starts with the conversation's current state). A stream that the gateway ends or
drops ends with a "gone" event; the widget reconnects, and the replay (deduplicated by reply id)
fills what it missed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

import grpc

from services.webchat import views
from services.webchat.gateway import gateway_error
from services.webchat.metrics import OPEN_STREAMS

HEARTBEAT_S = 15.0
RETRY_MS = 3000


def event(name: str, data: dict, event_id: str = "") -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def seen_until(history: list[dict], last_event_id: str) -> set[str]:
    """Reply ids the client has up to and including `last_event_id` (nothing when it is unknown)."""
    ids = [m["id"] for m in history if m["author"] != "customer"]
    return set(ids[: ids.index(last_event_id) + 1]) if last_event_id in ids else set()


async def stream_events(
    call: grpc.aio.UnaryStreamCall, initial: dict, skip: set[str], heartbeat_s: float = HEARTBEAT_S
) -> AsyncGenerator[str]:
    gauge = OPEN_STREAMS.labels(service="webchat")
    gauge.inc()
    replies = call.__aiter__()
    pending: asyncio.Future | None = None
    try:
        yield f"retry: {RETRY_MS}\n\n"
        yield event("state", initial)
        yield event("ready", {})
        while True:
            pending = pending or asyncio.ensure_future(replies.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=heartbeat_s)
            if not done:
                yield ": ping\n\n"
                continue
            item, pending = pending, None
            try:
                response = item.result()
            except StopAsyncIteration:
                yield event("gone", {"error": "unavailable", "message": "the reply stream ended; reconnecting"})
                return
            except grpc.aio.AioRpcError as exc:
                error = gateway_error(exc)
                yield event("gone", {"error": error.reason, "message": error.message})
                return
            kind = response.WhichOneof("event")
            if kind == "token":
                yield event("token", views.token_view(response.token))
            elif kind == "reply" and response.reply.reply_id not in skip:
                yield event("reply", views.reply_view(response.reply), response.reply.reply_id)
            elif kind == "state":
                yield event("state", views.state_view(response.state.to_state, response.state.agent_id))
    finally:
        if pending is not None:
            pending.cancel()
        call.cancel()
        gauge.dec()

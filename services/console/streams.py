"""The Server-Sent Events streams, one per tab: inbox, conversation, wallboard.

Each event carries its resume cursor as the SSE `id`, so the browser's automatic reconnect sends
it back as Last-Event-ID and the stream continues from there (the gateway replays its log after
the cursor, see agent_service.proto "Resume cursors"):
- inbox: one cursor per queue, "general:12,billing:3" (the seq of the last event of each queue);
  a queue without one starts with its backlog, sent as one `snapshot` event;
- conversation: the seq of the last event of the conversation's log.
When the gateway stream breaks, the console re-opens it from the same cursor and tells the page
(`status`); the page shows a banner until `status` says it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from starlette.requests import Request

from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.console.gateway import (
    UNAVAILABLE,
    GatewayClient,
    bearer,
    conversation_view,
    escalation_view,
    removal_view,
    wallboard_view,
    watch_event_view,
)
from services.console.session import Session
from services.console.settings import ConsoleSettings

log = logging.getLogger(__name__)

KEEPALIVE_S = 15
RETRY_MS = 1000
BOTS_EVERY_S = 3.0
BACKOFF_S = (0.5, 1, 2, 3)


def encode_cursors(cursors: dict[str, int]) -> str:
    return ",".join(f"{q}:{n}" for q, n in sorted(cursors.items()) if n)


def decode_cursors(text: str | None, queues: tuple[str, ...]) -> dict[str, int]:
    """Per-queue cursors from a Last-Event-ID; unknown queues and malformed parts are ignored (0: backlog)."""
    out = dict.fromkeys(queues, 0)
    for part in (text or "").split(","):
        queue, _, seq = part.partition(":")
        if queue in out and seq.isdigit():
            out[queue] = int(seq)
    return out


def frame(event: str, data: dict | list, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def _resilient(open_stream: Callable[[], Awaitable[None]], out: asyncio.Queue, what: str) -> None:
    """Run `open_stream` again after each break (backoff), telling the page when the gateway is away."""
    failures = 0
    while True:
        try:
            await open_stream()
            failures = 0
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNAUTHENTICATED:
                await out.put(("expired", None))
                return
            if err.code() in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                grpc.StatusCode.CANCELLED,
            ):
                await out.put(("status", {"gateway": "down"}))
            else:
                await out.put(("status", {"gateway": "error", "detail": err.details() or err.code().name}))
            log.info("gateway stream broke; reopening", extra={"stream": what, "code": err.code().name})
        await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
        failures += 1


async def _drain(
    request: Request, session: Session, out: asyncio.Queue, tasks: list[asyncio.Task], render
) -> AsyncIterator[str]:
    """Frames from `out` (rendered by `render`) until the client leaves or the session ends."""
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while True:
            if session.expires_at <= time.time():
                yield frame("expired", {})
                return
            try:
                item = await asyncio.wait_for(out.get(), min(KEEPALIVE_S, max(0.1, session.expires_at - time.time())))
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            kind, payload = item
            if kind == "expired":
                yield frame("expired", {})
                return
            if kind == "status":
                yield frame("status", payload)
                continue
            text = render(item)
            if text:
                yield text
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def inbox(request: Request, session: Session, gw: GatewayClient, settings: ConsoleSettings) -> AsyncIterator[str]:
    meta = bearer(session.credential)
    failures = 0
    while True:  # the tenant's queues (the platform's and its own), from the gateway
        try:
            listed = await gw.agents.ListQueues(apb.ListQueuesRequest(), metadata=meta, timeout=10)
            break
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNAUTHENTICATED:
                yield frame("expired", {})
                return
            yield frame("status", {"gateway": "down" if err.code() in UNAVAILABLE else "error"})
            log.info("queue list unavailable; retrying", extra={"code": err.code().name})
        await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
        failures += 1
    queues = tuple(listed.queues)
    given = request.headers.get("last-event-id") or request.query_params.get("after")
    cursors = decode_cursors(given, queues)
    out: asyncio.Queue = asyncio.Queue()

    def watch(queue: str):
        # What this task has handed on (not what the page has seen yet): a re-opened gateway stream
        # continues from here, so nothing queued for the page is fetched twice.
        fetched = {"seq": cursors[queue], "resume": cursors[queue] > 0}

        async def run() -> None:
            fresh = not fetched["resume"]
            call = gw.agents.WatchQueue(
                apb.WatchQueueRequest(
                    queue=queue, after_seq=fetched["seq"], send_caught_up=True, resume=bool(fetched["resume"])
                ),
                metadata=meta,
            )
            backlog: list[dict] = []
            # A fresh stream's changes after the backlog was read wait for the snapshot, which the
            # page applies first (it replaces the queue's list).
            held: list | None = [] if fresh else None
            try:
                async for item in call:
                    if item.backlog:
                        backlog.append(escalation_view(item.escalation))
                        continue
                    if item.caught_up:
                        if held is not None:
                            await out.put(("snapshot", (queue, item.seq, backlog)))
                            for change in held:
                                await out.put(change)
                            held = None
                        await out.put(("status", {"gateway": "up"}))
                    else:
                        change = (
                            ("removed", (queue, item.seq, removal_view(item.removed)))
                            if item.HasField("removed")
                            else ("added", (queue, item.seq, escalation_view(item.escalation)))
                        )
                        if held is not None:
                            held.append(change)
                            continue  # not handed on yet: a break before caught_up starts afresh
                        await out.put(change)
                    fetched["seq"], fetched["resume"] = max(fetched["seq"], item.seq), True
            finally:
                call.cancel()

        return run

    async def bots() -> None:
        while True:
            listed = await gw.agents.ListBotConversations(
                apb.ListBotConversationsRequest(limit=50), metadata=meta, timeout=10
            )
            await out.put(("bots", [conversation_view(c) for c in listed.conversations]))
            await asyncio.sleep(BOTS_EVERY_S)

    tasks = [asyncio.create_task(_resilient(watch(q), out, f"queue {q}")) for q in queues]
    tasks.append(asyncio.create_task(_resilient(bots, out, "bots")))

    def render(item) -> str:
        kind, payload = item
        if kind == "bots":
            return frame("bots", payload)
        queue, seq, data = payload
        cursors[queue] = max(cursors[queue], seq)
        if kind == "snapshot":
            return frame("snapshot", {"queue": queue, "items": data}, encode_cursors(cursors) or "0")
        return frame(kind, {"queue": queue, **data}, encode_cursors(cursors))

    async for text in _drain(request, session, out, tasks, render):
        yield text


async def conversation(
    request: Request, session: Session, gw: GatewayClient, settings: ConsoleSettings
) -> AsyncIterator[str]:
    cid = request.path_params["cid"]
    given = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    cursor = {"seq": int(given) if given.isdigit() else 0}
    out: asyncio.Queue = asyncio.Queue()

    async def run() -> None:
        call = gw.agents.WatchConversation(
            apb.WatchConversationRequest(conversation_id=cid, after_seq=cursor["seq"], resume=True),
            metadata=bearer(session.credential),
        )
        await out.put(("status", {"gateway": "up"}))
        try:
            async for item in call:
                cursor["seq"] = item.seq
                await out.put(("event", (item.seq, *watch_event_view(item))))
        finally:
            call.cancel()

    tasks = [asyncio.create_task(_resilient(run, out, f"conversation {cid}"))]

    def render(item) -> str:
        seq, kind, data = item[1]
        return frame(kind, data, str(seq))

    async for text in _drain(request, session, out, tasks, render):
        yield text


async def wallboard(
    request: Request, session: Session, gw: GatewayClient, settings: ConsoleSettings
) -> AsyncIterator[str]:
    out: asyncio.Queue = asyncio.Queue()

    async def run() -> None:
        while True:
            board = await gw.agents.GetWallboard(
                apb.GetWallboardRequest(service_level_s=settings.service_level_s, abandon_after_s=settings.abandon_s),
                metadata=bearer(session.credential),
                timeout=10,
            )
            await out.put(("wallboard", wallboard_view(board)))
            await out.put(("status", {"gateway": "up"}))
            await asyncio.sleep(settings.wallboard_refresh_s)

    tasks = [asyncio.create_task(_resilient(run, out, "wallboard"))]

    def render(item) -> str:
        return frame("wallboard", item[1])

    async for text in _drain(request, session, out, tasks, render):
        yield text

"""Writes the queue and conversation event logs (services/common/storage/event_log.py) and wakes the
watch streams that read them.

Every replica records every live event it reads from Kafka (escalations, state changes, enriched
customer messages, replies), and the gateway records its own state changes directly too, before it
answers the call; the log's idempotent append makes the copies one entry. Live events reach the
recorder through a bounded queue, so a slow database never holds up the topic feed; an event the
recorder could not store is retried once a second until it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterator

from services.common.platform.clock import utcnow
from services.common.platform.topics import ENRICHED, ESCALATIONS, REPLIES, STATE, TopicSpec
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.event_log import EventLog, conversation_stream, queue_stream

log = logging.getLogger(__name__)

BACKLOG = 10_000
REMOVALS = {
    conv.CONVERSATION_STATE_AGENT: apb.REMOVAL_REASON_CLAIMED,
    conv.CONVERSATION_STATE_RESOLVED: apb.REMOVAL_REASON_RESOLVED,
}


def state_key(event: ev.ConversationStateChanged) -> str:
    """The same state change has the same key on every path (direct and from Kafka)."""
    return f"{event.conversation_id}/{event.changed_at.ToNanoseconds()}/{event.to_state}"


class Recorder:
    PRUNE_EVERY_S = 3600.0
    PRUNE_FIRST_S = 60.0

    def __init__(self, event_log: EventLog, retention_h: float = 168.0) -> None:
        self.log = event_log
        self.retention = dt.timedelta(hours=retention_h)
        self._pending: asyncio.Queue[tuple[TopicSpec, object]] = asyncio.Queue(BACKLOG)
        self._watchers: dict[tuple[str, str], set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task | None = None
        self._pruning: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    @contextlib.contextmanager
    def watch(self, tenant_id: str, stream: str) -> Iterator[asyncio.Event]:
        """An event set whenever something is appended to the stream's log on this replica."""
        changed = asyncio.Event()
        key = (tenant_id, stream)
        self._watchers[key].add(changed)
        try:
            yield changed
        finally:
            self._watchers[key].discard(changed)
            if not self._watchers[key]:
                del self._watchers[key]

    def _wake(self, tenant_id: str, stream: str) -> None:
        for changed in self._watchers.get((tenant_id, stream), ()):
            changed.set()

    def offer(self, spec: TopicSpec, event) -> None:
        """From the topic feed: record later, in order."""
        try:
            self._pending.put_nowait((spec, event))
        except asyncio.QueueFull:
            log.warning("event log recorder is behind; a live event is left to the direct writers and polls")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-log-recorder")
        self._pruning = asyncio.create_task(self._prune_hourly(), name="event-log-pruning")

    async def stop(self) -> None:
        self._stopping.set()
        if self._pruning:
            await self._pruning
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _prune_hourly(self) -> None:
        """Keeps the logs to the retention (every replica does; a second delete finds nothing).

        Never cancelled mid-query: a database call cancelled half-way left the client's close hanging
        (a gateway that failed to bind its port never exited), so stop() sets `_stopping` and waits
        for the pass in progress, which the operation timeout bounds."""
        delay = self.PRUNE_FIRST_S
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            try:
                deleted = await self.log.prune(utcnow() - self.retention)
                if deleted:
                    log.info("event log entries past the retention deleted", extra={"deleted": deleted})
            except Exception:
                log.exception("pruning the event logs failed; trying again in an hour")
            delay = self.PRUNE_EVERY_S

    async def _run(self) -> None:
        while True:
            spec, event = await self._pending.get()
            while True:
                try:
                    await self.record(spec, event)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("recording a live event failed; retrying")
                    await asyncio.sleep(1)

    async def record(self, spec: TopicSpec, event) -> None:
        if spec is ESCALATIONS:
            await self.escalated(event)
        elif spec is STATE:
            await self.state_changed(event)
        elif spec is ENRICHED:
            m = event.message
            await self._append(
                m.tenant_id,
                conversation_stream(m.conversation_id),
                f"enriched/{m.message_id}",
                "customer_message",
                event,
            )
        elif spec is REPLIES:
            await self._append(
                event.tenant_id, conversation_stream(event.conversation_id), f"reply/{event.reply_id}", "reply", event
            )

    async def escalated(self, esc: ev.EscalationRaised) -> None:
        await self._append(
            esc.tenant_id,
            queue_stream(esc.queue),
            f"escalation/{esc.escalation_id}",
            "escalated",
            esc,
            conversation_id=esc.conversation_id,
            at=esc.created_at.ToDatetime(dt.UTC) if esc.HasField("created_at") else None,
            reasons=[r.code for r in esc.reasons],
        )

    async def state_changed(self, event: ev.ConversationStateChanged, from_queue: str = "") -> None:
        """The conversation's log gets the change; the queue's log a removal when it left a queue.

        `from_queue`: the queue it was in, when the caller knows it (a transfer's event names the new
        queue); from Kafka only claims and resolutions of queued conversations are known removals.
        """
        key = state_key(event)
        await self._append(event.tenant_id, conversation_stream(event.conversation_id), f"state/{key}", "state", event)
        if event.from_state != conv.CONVERSATION_STATE_QUEUED:
            return
        if event.to_state == conv.CONVERSATION_STATE_QUEUED:
            if not from_queue or from_queue == event.queue:
                return
            reason = apb.REMOVAL_REASON_TRANSFERRED
        elif event.to_state in REMOVALS:
            reason = REMOVALS[event.to_state]
            from_queue = from_queue or event.queue
        else:
            return
        removal = apb.QueueRemoval(
            conversation_id=event.conversation_id,
            reason=reason,
            agent_id=event.agent_id,
            to_queue=event.queue if reason == apb.REMOVAL_REASON_TRANSFERRED else "",
            removed_at=event.changed_at,
        )
        await self._append(
            event.tenant_id,
            queue_stream(from_queue),
            f"removed/{key}",
            "removed",
            removal,
            conversation_id=event.conversation_id,
            at=event.changed_at.ToDatetime(dt.UTC),
            reason=apb.RemovalReason.Name(reason),
        )

    async def _append(self, tenant_id: str, stream: str, key: str, kind: str, event, **fields) -> None:
        await self.log.append(tenant_id, stream, key, kind, event.SerializeToString(), **fields)
        self._wake(tenant_id, stream)

"""In-process fan-out of live events to the gRPC streams this replica holds.

Every gateway replica reads the replies, state, enriched-message and escalation topics itself
(aiokafka, no consumer group, from the end), so a client gets its replies whichever replica it is
connected to. Token deltas arrive separately over the internal ReplySink gRPC call from the
generator, addressed to the replica that registered the conversation's stream.

Subscribers only ever receive events whose tenant_id matches their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from services.common.platform.topics import (
    ENRICHED,
    ESCALATIONS,
    REPLIES,
    STATE,
    PoisonEvent,
    TopicSpec,
    escalation_topic,
)

log = logging.getLogger(__name__)

QUEUE_DEPTH = 1000
RECENT_REPLIES = 10_000
Event = tuple[
    str, Any
]  # (kind, protobuf message): "token", "reply", "state", "customer_message", "escalation"  # final replies remembered per replica, so the second delivery path can be told apart


@dataclass(eq=False)
class Subscription:
    tenant_id: str
    key: str
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_DEPTH))
    dropped: bool = False

    def offer(self, item: Event) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # A client that stopped reading must not hold up everyone else; it is cut off
            # (its stream ends with RESOURCE_EXHAUSTED) and can reconnect with replay.
            self.dropped = True


class RecentIds:
    """The last `size` ids seen, for telling a repeat from a new event on a long-lived stream."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def add(self, item: str) -> None:
        self._ids[item] = None
        self._ids.move_to_end(item)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def __len__(self) -> int:
        return len(self._ids)


class Hub:
    def __init__(self) -> None:
        self._conversations: dict[str, set[Subscription]] = defaultdict(set)
        self._recent_replies = RecentIds(RECENT_REPLIES)
        self._route_locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def route_lock(self, tenant_id: str, conversation_id: str) -> AsyncIterator[None]:
        """Serialises this replica's writes of one conversation's stream route.

        A stream closing checks whether another stream still holds the conversation and then
        deletes the route; a stream opening meanwhile writes it. Without the lock the delete can
        reach the database after the write, and the open stream is left without a route (its
        tokens are never pushed here). Locks exist only while someone holds or waits for them.
        """
        key = f"{tenant_id}/{conversation_id}"
        lock, users = self._route_locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._route_locks[key]

    def route_locks_held(self) -> int:
        return len(self._route_locks)

    @contextlib.contextmanager
    def conversation(self, tenant_id: str, conversation_id: str):
        sub = Subscription(tenant_id, conversation_id)
        self._conversations[conversation_id].add(sub)
        try:
            yield sub
        finally:
            self._discard(self._conversations, conversation_id, sub)

    @staticmethod
    def _discard(table: dict, key: str, sub: Subscription) -> None:
        table[key].discard(sub)
        if not table[key]:
            del table[key]

    def has_conversation(self, tenant_id: str, conversation_id: str) -> bool:
        return any(sub.tenant_id == tenant_id for sub in self._conversations.get(conversation_id, ()))

    def to_conversation(self, tenant_id: str, conversation_id: str, item: Event) -> int:
        delivered = 0
        for sub in list(self._conversations.get(conversation_id, ())):
            if sub.tenant_id == tenant_id:
                sub.offer(item)
                delivered += 1
        return delivered

    def reply_to_conversation(self, tenant_id: str, conversation_id: str, reply) -> int:
        """Hand a final reply to the conversation's streams once, whichever path brings it first.

        A final reply reaches this replica twice: pushed by the generator (ReplySink) and read
        from the replies topic. A stream opened between the two arrivals (the customer's next
        message) would otherwise get the earlier reply again, as if it answered the new message.
        Only a delivery that reached a stream is remembered: a copy nobody was listening for
        still goes to whoever subscribes before the other copy arrives.
        """
        key = f"{tenant_id}/{reply.reply_id}"
        if key in self._recent_replies:
            return 0
        delivered = self.to_conversation(tenant_id, conversation_id, ("reply", reply))
        if delivered:
            self._recent_replies.add(key)
        return delivered


async def events(sub: Subscription) -> AsyncIterator[Event]:
    while True:
        item = await sub.queue.get()
        yield item


class TopicFeed:
    """Reads the live topics into the hub until stopped.

    A tenant queue's escalation topic (`cs tenants apply` creates it, services/common/platform/topics.py
    `queue_topic`) is read from start when it exists then (`tenant_topics`), and otherwise from its first
    event once `add_topics` is told of it (a topic created after this replica started holds nothing older).
    A tenant topic the broker does not have (deleted, or the tenant's rules stored before its topics were
    created) is left out with a warning, not fatal: one tenant's missing queue must not stop every replica
    from starting; `add_topics` reads it once it exists.
    """

    def __init__(
        self,
        hub: Hub,
        bootstrap: str,
        prefix: str,
        queues: tuple[str, ...],
        client_id: str,
        on_event: Callable[[TopicSpec, Any], None] | None = None,
        tenant_topics: tuple[str, ...] = (),
    ) -> None:
        self._hub = hub
        self._on_event = on_event  # also handed every decoded event (the event-log recorder)
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._specs: dict[str, TopicSpec] = {
            REPLIES.name(prefix): REPLIES,
            STATE.name(prefix): STATE,
            ENRICHED.name(prefix): ENRICHED,
            **{escalation_topic(prefix, q): ESCALATIONS for q in queues},
            **dict.fromkeys(tenant_topics, ESCALATIONS),
        }
        self._tenant_topics = frozenset(tenant_topics)
        self._consumers: list[Any] = []  # AIOKafkaConsumer once started (imported in start())
        self._tasks: list[asyncio.Task] = []

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._specs)

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer

        if self._tenant_topics:
            missing = self._tenant_topics - set(await self._existing(list(self._tenant_topics)))
            for name in missing:
                del self._specs[name]
            if missing:
                log.warning("tenant queue topics missing from the broker", extra={"topics": ",".join(sorted(missing))})
        consumer = AIOKafkaConsumer(
            *self._specs,
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await consumer.start()
        self._consumers.append(consumer)
        # Position every partition at its end now, so events published after start() are seen.
        await consumer.seek_to_end()
        self._tasks.append(asyncio.create_task(self._run(consumer), name="topic-feed"))

    async def add_topics(self, names: list[str]) -> None:
        """Also read these escalation topics (a tenant's new queues), each from its beginning."""
        from aiokafka import AIOKafkaConsumer

        new = await self._existing([n for n in names if n not in self._specs])
        if not new:
            return
        consumer = AIOKafkaConsumer(
            *new,
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        self._specs.update(dict.fromkeys(new, ESCALATIONS))
        self._consumers.append(consumer)
        self._tasks.append(asyncio.create_task(self._run(consumer), name="topic-feed-tenant-queues"))
        log.info("reading tenant queue topics", extra={"topics": ",".join(new)})

    async def _existing(self, names: list[str]) -> list[str]:
        """Those of `names` the broker has (a missing one is asked again on the next `add_topics`)."""
        from aiokafka import AIOKafkaConsumer

        if not names:
            return []
        probe = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, client_id=self._client_id, group_id=None)
        await probe.start()
        try:
            known = await probe.topics()
        finally:
            await probe.stop()
        return [n for n in names if n in known]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for consumer in self._consumers:
            await consumer.stop()

    async def _run(self, consumer) -> None:
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading live topics failed; retrying")
                await asyncio.sleep(1)
                continue
            for records in batch.values():
                for record in records:
                    self._dispatch(record.topic, record.value)

    def _dispatch(self, topic: str, value: bytes) -> None:
        spec = self._specs[topic]
        try:
            event = spec.decode(value)
        except PoisonEvent as poison:
            log.warning("skipping undecodable live event", extra={"topic": topic, "reason": poison.reason})
            return
        if self._on_event is not None:
            self._on_event(spec, event)
        if spec is REPLIES:
            self._hub.reply_to_conversation(event.tenant_id, event.conversation_id, event)
        elif spec is STATE:
            self._hub.to_conversation(event.tenant_id, event.conversation_id, ("state", event))
        elif spec is ENRICHED:
            self._hub.to_conversation(
                event.message.tenant_id, event.message.conversation_id, ("customer_message", event)
            )
        # Escalations reach queue watchers through the queue's event log (on_event, recorder.py).

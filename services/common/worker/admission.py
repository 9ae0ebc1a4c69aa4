"""Concurrent admission: the consume/commit loop for a worker that works on many conversations at once.

Faust agents run at concurrency 1 per partition (loop.py), so a replica never works on more events
at a time than it owns partitions. The generator needs more: its engine batches concurrent
generations, and one slow answer must not hold up every conversation hashed to its partition. This
driver, on aiokafka (what Faust runs on; README decision table), takes events from the worker's
partitions and
- admits up to `max_in_flight` events at a time, of different conversations concurrently;
- keeps one conversation's events strictly in order (one queue per partition and Kafka key, and the
  key is the conversation id);
- commits each partition only up to its lowest unfinished offset (PartitionOffsets), on a timer, on
  revocation and at shutdown, so a crash redelivers every event that was not done and the worker's
  exactly-once machinery (derived ids, the transitions log, unique keyed inserts) skips what was;
- on revocation (and at shutdown) drops the revoked partitions' events that have not started (the
  new owner reads them from the committed offset), waits for those in progress, then commits.

Each event goes through the same `EventLoop.process` as under Faust: decoding, dead letters, the
fallback, transient retries and the DependencyWatch check are one code path for both drivers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from services.common.platform import metrics
from services.common.worker.loop import EventLoop

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 1.0
REBALANCE_TIMEOUT_S = 120
POLL_MS = 100  # how long one fetch waits; also how soon a freed slot is filled while all are taken


class PartitionOffsets:
    """The offsets taken from one partition, and up to where it may be committed.

    Kafka's committed offset is "everything before it is done". Events finish out of order here, so
    the partition may only be committed up to its lowest unfinished offset: committing past it would
    lose that event in a crash.
    """

    def __init__(self) -> None:
        self._taken: deque[int] = deque()  # in the order taken, which is offset order
        self._finished: set[int] = set()
        self._next: int | None = None  # one past the highest offset taken
        self.committed: int | None = None

    def take(self, offset: int) -> None:
        self._taken.append(offset)
        self._next = offset + 1

    def finish(self, offset: int) -> None:
        self._finished.add(offset)

    def committable(self) -> int | None:
        """The offset to commit: the lowest unfinished one, or one past the last taken when all are
        done; None before anything was taken."""
        while self._taken and self._taken[0] in self._finished:
            self._finished.discard(self._taken.popleft())
        return self._taken[0] if self._taken else self._next

    def unfinished(self) -> int:
        return len(self._taken) - len(self._finished)


@dataclass
class Admitted:
    """One event taken from Kafka, waiting in its conversation's queue or being processed."""

    partition: TopicPartition
    record: ConsumerRecord
    offsets: PartitionOffsets
    admitted_at: float = field(default_factory=time.perf_counter)
    started: bool = False
    dropped: bool = False  # its partition was revoked before it started: the new owner processes it


class ConcurrentConsumer:
    """Consumes `topic` in group `group_id` and hands each event to `loop_.process`, concurrently
    across conversations, in order within one. `start()`, then `stop()`; `on_failure` is called
    when processing raised past the loop's own error handling (the worker should exit: its
    offsets stay uncommitted, so a restart redelivers the event)."""

    def __init__(
        self,
        loop_: EventLoop,
        group_id: str,
        bootstrap: str,
        topic: str,
        max_in_flight: int,
        on_failure: Callable[[BaseException], None],
        client_id: str = "",
        commit_interval_s: float = COMMIT_INTERVAL_S,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.loop = loop_
        self.group_id, self.bootstrap, self.topic, self.client_id = group_id, bootstrap, topic, client_id
        self.max_in_flight = max_in_flight
        self.on_failure = on_failure
        self.commit_interval_s = commit_interval_s
        self.offsets: dict[object, PartitionOffsets] = {}
        self.queues: dict[tuple[object, bytes | None], deque[Admitted]] = {}
        self.tasks: dict[tuple[object, bytes | None], asyncio.Task] = {}
        self.in_flight = 0
        self._revoking: set = set()  # fetched events of these are not admitted: their new owner reads them
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._fetching: asyncio.Task | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            client_id=self.client_id or self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A replica that dies without leaving the group (kill -9, OOM, node loss) holds its
            # partitions until the broker gives up on its heartbeats: 15 s, as the Faust workers.
            session_timeout_ms=15000,
            heartbeat_interval_ms=3000,
            # A revocation waits for the events in progress (a generation under load takes seconds to
            # tens of seconds). aiokafka's default, the session timeout, would evict a replica still
            # finishing them, and the group would hand their partition on uncommitted: done twice.
            rebalance_timeout_ms=REBALANCE_TIMEOUT_S * 1000,
        )
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))
        await self._consumer.start()
        self._fetching = asyncio.create_task(self._fetch())
        self._fetching.add_done_callback(self._task_done)

    async def stop(self) -> None:
        """Stop taking events, drop those not started, let those in progress finish, commit, leave the group."""
        self._stopping.set()
        if self._fetching is not None:
            await asyncio.gather(self._fetching, return_exceptions=True)
        if self._consumer is None:
            return
        await self.drain(set(self.offsets))
        await self.commit()
        await self._consumer.stop()

    async def _fetch(self) -> None:
        consumer = self._consumer
        assert consumer is not None, "start() first"
        last_commit = time.monotonic()
        while not self._stopping.is_set():
            free = self.max_in_flight - self.in_flight
            self._flow(consumer, open_=free > 0)
            # Polling goes on while every slot is taken (the partitions paused), so the consumer
            # stays in its group however long the events in hand take.
            batches = await consumer.getmany(timeout_ms=POLL_MS, max_records=max(free, 1))
            assigned = consumer.assignment()
            for partition, records in batches.items():
                for record in records:
                    if partition in assigned and partition not in self._revoking and not self._stopping.is_set():
                        self._admit(partition, record)
            if time.monotonic() - last_commit >= self.commit_interval_s:
                await self.commit()
                last_commit = time.monotonic()

    @staticmethod
    def _flow(consumer, open_: bool) -> None:
        if open_:
            if consumer.paused():
                consumer.resume(*consumer.paused())
        else:
            consumer.pause(*consumer.assignment())

    def _admit(self, partition, record) -> None:
        offsets = self.offsets.setdefault(partition, PartitionOffsets())
        offsets.take(record.offset)
        work = Admitted(partition, record, offsets)
        self.in_flight += 1
        metrics.IN_FLIGHT.labels(service=self.loop.spec.service).set(self.in_flight)
        key = (partition, record.key)
        queue = self.queues.get(key)
        if queue is None:
            queue = self.queues[key] = deque()
            task = self.tasks[key] = asyncio.create_task(self._conversation(key, queue))
            task.add_done_callback(self._task_done)
        queue.append(work)

    async def _conversation(self, key, queue: deque[Admitted]) -> None:
        """One conversation's events, one after another; ends when its queue is empty."""
        try:
            while queue:
                work = queue[0]
                try:
                    if not work.dropped:
                        await self._process(work)
                finally:
                    queue.popleft()
                    self.in_flight -= 1
                    metrics.IN_FLIGHT.labels(service=self.loop.spec.service).set(self.in_flight)
        finally:
            del self.queues[key], self.tasks[key]

    async def _process(self, work: Admitted) -> None:
        work.started = True
        record = work.record
        metrics.STAGE_SECONDS.labels(service=self.loop.spec.service, stage="queueing").observe(
            time.perf_counter() - work.admitted_at
        )
        outcome = await self.loop.process(record.value, record.key, work.partition.partition, record.offset)
        if outcome != "stopped":  # stopped mid-retry at shutdown: stays uncommitted, redelivered
            work.offsets.finish(record.offset)

    def _task_done(self, task: asyncio.Task) -> None:
        exc = None if task.cancelled() else task.exception()
        if exc is None:
            return
        log.error("the consume loop failed; stopping the worker", exc_info=exc)
        self._stopping.set()
        self.on_failure(exc)

    async def drain(self, partitions: set) -> None:
        """The events of `partitions` that have not started are dropped; those in progress finish."""
        waiting = []
        for (partition, _key), queue in list(self.queues.items()):
            if partition not in partitions:
                continue
            for work in queue:
                work.dropped = work.dropped or not work.started
            waiting.append(self.tasks[(partition, _key)])
        if waiting:
            log.info("waiting for the events in progress", extra={"events": len(waiting)})
            await asyncio.gather(*waiting, return_exceptions=True)

    async def commit(self, partitions: set | None = None) -> None:
        """Commit each partition (of `partitions`, default all owned) up to its lowest unfinished offset."""
        due = {}
        for partition, offsets in self.offsets.items():
            if partitions is not None and partition not in partitions:
                continue
            position = offsets.committable()
            if position is not None and position != offsets.committed:
                due[partition] = position
        if not due or self._consumer is None:
            return
        try:
            await self._consumer.commit(due)
        except KafkaError as exc:
            # A rebalance took the partitions, or the broker is away: the next owner (or the next
            # commit) starts from the last committed offset and the worker skips what it finds done.
            log.warning("offset commit failed; it is retried", extra={"error": f"{type(exc).__name__}: {exc}"})
            return
        for partition, position in due.items():
            self.offsets[partition].committed = position

    async def revoked(self, partitions: set) -> None:
        self._revoking |= partitions
        await self.drain(partitions)
        await self.commit(partitions)
        for partition in partitions:
            self.offsets.pop(partition, None)

    def assigned(self, partitions: set) -> None:
        # Fetching resumes from the committed offsets: what was taken before is taken again.
        self._revoking -= partitions
        for partition in partitions:
            self.offsets[partition] = PartitionOffsets()


class _Rebalance(ConsumerRebalanceListener):
    """aiokafka awaits these before the group's rebalance goes on: revoked partitions are drained
    and committed before another replica can take them."""

    def __init__(self, owner: ConcurrentConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked) -> None:
        await self.owner.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        self.owner.assigned(set(assigned))

"""The thin Kafka loop every worker shares (faust-streaming), and its per-event error handling.

A worker is: one source topic, one async `handle(event)` that does the work and publishes its
results, an optional `fallback(event, reason, detail)` that makes sure the customer still hears
back when the work cannot be done, and this loop around them. The loop
- decodes with the project's protobuf codec (raw bytes in Faust, never its pickle codec);
- sends undecodable, wrong-version and invalid events to the dead-letter topic with the reason;
- for a decoded event whose processing raised a non-transient error (a model that raised, bad
  content), runs the fallback (the generator hands the conversation to a person; intent and
  sentiment pass the message on unenriched), then dead-letters it: one bad event never stops a
  partition and never leaves a customer in silence;
- retries transient failures (database or broker unreachable, timeouts) with backoff, without
  acknowledging the event. After `max_attempts` failed tries it asks whether the dependencies
  answer: when one is down, every event would fail, so it keeps retrying without limit and loses
  nothing (readiness reports NOT_SERVING meanwhile, see platform/health.py DependencyWatch); when
  they all answer, the event itself is the problem, and it takes the fallback path above;
- acknowledges (and so commits) an event only after `handle` returned, i.e. after its effects.

Faust agents run with concurrency=1 per partition (DESIGN.md: faust-streaming #606 can commit past an
unfinished message with more); parallelism comes from partitions and replicas. A worker whose spec
sets `max_in_flight` (the generator) is driven by admission.py instead: the same `EventLoop.process`
for every event, with many conversations in flight and commits up to the lowest unfinished offset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.common.platform import metrics
from services.common.platform.clock import utcnow
from services.common.platform.errors import TransientError
from services.common.platform.kafka import EventPublisher
from services.common.platform.topics import DEAD_LETTER, PoisonEvent, TopicSpec, consumer_group
from services.common.proto.cs.v1 import events_pb2 as ev

log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the dependency is down or still recovering, the event itself is fine.

    Kafka errors say so themselves (`retriable`): right after a broker restart a produce can fail
    with UnknownTopicOrPartition or NotLeaderForPartition until the metadata is back, and
    dead-lettering the event then would lose a customer's message.
    """
    from aiokafka.errors import (
        KafkaConnectionError,
        KafkaError,
        KafkaTimeoutError,
        NodeNotReadyError,
        RequestTimedOutError,
    )
    from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError

    transient = (
        TransientError,
        ConnectionFailure,
        AutoReconnect,
        ServerSelectionTimeoutError,
        KafkaConnectionError,
        KafkaTimeoutError,
        NodeNotReadyError,
        RequestTimedOutError,
        asyncio.TimeoutError,
        ConnectionError,
    )
    return isinstance(exc, transient) or (isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False)))


@dataclass
class WorkerSpec:
    service: str
    source: TopicSpec
    # 0: a Faust agent, one event at a time per partition. More: concurrent admission on aiokafka
    # (admission.py), up to this many events in flight per replica, in order within a conversation.
    max_in_flight: int = 0

    def group_id(self, prefix: str) -> str:
        """The consumer group (and Faust app id) of this service in the deployment with `prefix`."""
        return consumer_group(prefix, self.service)


def event_ids(event) -> dict:
    """conversation_id / message_id of an event, for log lines."""
    inner = (
        getattr(event, "message", None) if hasattr(event, "message") and not isinstance(event.message, str) else event
    )
    return {
        "conversation_id": getattr(inner, "conversation_id", ""),
        "message_id": getattr(inner, "message_id", ""),
    }


Fallback = Callable[[object, str, str], Awaitable[None]]
DEFAULT_MAX_ATTEMPTS = 6
FALLBACK_ATTEMPTS = 3


async def _always_healthy() -> bool:
    return True


class EventLoop:
    """Processes one raw Kafka record at a time: decode, handle, retry, or fall back and dead-letter."""

    def __init__(
        self,
        spec: WorkerSpec,
        topic_name: str,
        publisher: EventPublisher,
        handle: Callable[[object], Awaitable[None]],
        max_backoff_s: float = 10.0,
        fallback: Fallback | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        dependencies_healthy: Callable[[], Awaitable[bool]] = _always_healthy,
        initial_backoff_s: float = 0.5,
    ) -> None:
        self.spec = spec
        self.topic_name = topic_name
        self.publisher = publisher
        self.handle = handle
        self.max_backoff_s = max_backoff_s
        self.initial_backoff_s = initial_backoff_s
        self.fallback = fallback
        self.max_attempts = max_attempts
        self.dependencies_healthy = dependencies_healthy
        self.stopping = asyncio.Event()

    async def process(self, value: bytes | None, key: bytes | None, partition: int, offset: int) -> str:
        """Returns "ok", "dead_letter" or "stopped" (shutdown while retrying; the event stays uncommitted)."""
        labels = {"service": self.spec.service, "topic": self.topic_name}
        metrics.EVENTS_CONSUMED.labels(**labels).inc()
        started = time.perf_counter()
        try:
            event = self.spec.source.decode(value)
        except PoisonEvent as poison:
            await self.dead_letter(value, key, partition, offset, poison.reason, poison.detail)
            return "dead_letter"
        backoff = self.initial_backoff_s
        attempts = 0
        while True:
            attempts += 1
            try:
                await self.handle(event)
                metrics.PROCESSING_SECONDS.labels(**labels).observe(time.perf_counter() - started)
                return "ok"
            except PoisonEvent as poison:
                await self.dead_letter(value, key, partition, offset, poison.reason, poison.detail, event)
                return "dead_letter"
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}"
                ids = {**event_ids(event), "topic": self.topic_name, "offset": offset}
                if not is_transient(exc):
                    log.exception("event failed", extra=ids)
                    await self.give_up(value, key, partition, offset, event, "processing_error", detail)
                    return "dead_letter"
                if attempts >= self.max_attempts:
                    if await self.dependencies_healthy():
                        log.error(
                            "event keeps failing while its dependencies answer; giving up on it",
                            extra={**ids, "attempts": attempts, "error": detail[:300]},
                        )
                        await self.give_up(value, key, partition, offset, event, "retries_exhausted", detail)
                        return "dead_letter"
                    attempts = 0  # a dependency is down: the event gets its tries again once it is back
                metrics.EVENTS_FAILED.labels(**labels, reason="transient_retry").inc()
                log.warning(
                    "dependency unavailable, retrying",
                    extra={**event_ids(event), "error": detail[:300], "retry_in_s": backoff, "attempt": attempts},
                )
                try:
                    await asyncio.wait_for(self.stopping.wait(), backoff)
                    return "stopped"
                except TimeoutError:
                    backoff = min(backoff * 2, self.max_backoff_s)

    async def give_up(
        self,
        value: bytes | None,
        key: bytes | None,
        partition: int,
        offset: int,
        event,
        reason: str,
        detail: str,
    ) -> None:
        """The fallback (the customer still hears back), then the dead-letter topic with the reason."""
        if self.fallback is not None:
            await self._run_fallback(self.fallback, event, reason, detail)
        await self.dead_letter(value, key, partition, offset, reason, detail, event)

    async def _run_fallback(self, fallback: Fallback, event, reason: str, detail: str) -> None:
        backoff = self.initial_backoff_s
        for attempt in range(1, FALLBACK_ATTEMPTS + 1):
            try:
                await fallback(event, reason, detail)
                return
            except Exception as exc:
                if not is_transient(exc) or attempt == FALLBACK_ATTEMPTS or self.stopping.is_set():
                    metrics.EVENTS_FAILED.labels(
                        service=self.spec.service, topic=self.topic_name, reason="fallback_failed"
                    ).inc()
                    log.exception("the fallback for a failed event failed too", extra=event_ids(event))
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def dead_letter(
        self,
        value: bytes | None,
        key: bytes | None,
        partition: int,
        offset: int,
        reason: str,
        detail: str,
        event=None,
    ) -> None:
        metrics.EVENTS_FAILED.labels(service=self.spec.service, topic=self.topic_name, reason=reason).inc()
        log.error(
            "event sent to dead-letter topic",
            extra={
                "topic": self.topic_name,
                "partition": partition,
                "offset": offset,
                "reason": reason,
                "detail": detail[:500],
                **(event_ids(event) if event is not None else {}),
            },
        )
        letter = ev.DeadLetter(
            source_topic=self.topic_name,
            partition=partition,
            offset=offset,
            key=key or b"",
            payload=value or b"",
            reason=reason,
            error=detail[:2000],
            service=self.spec.service,
        )
        letter.failed_at.FromDatetime(utcnow())
        backoff = 0.5
        while True:
            try:
                # Under the key of the event it carries (its conversation), so `cs deadletters list`
                # and a replay keep it.
                await self.publisher.publish(DEAD_LETTER, letter, key=key or b"unknown")
                return
            except Exception as exc:
                if not is_transient(exc) or self.stopping.is_set():
                    raise
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)


def make_faust_app(
    spec: WorkerSpec, group_id: str, bootstrap: str, loop_: EventLoop, source_topic: str, concurrency: int = 1
):
    """The Faust app: one agent over the source topic, raw bytes, concurrency 1, in consumer group `group_id`.

    `concurrency` stays 1 in every worker; tests/integration/test_faust_commit_gap.py raises it to show why.
    """
    import atexit
    import shutil
    import tempfile

    import faust

    brokers = ";".join(f"kafka://{host}" for host in bootstrap.split(","))
    datadir = tempfile.mkdtemp(prefix=f"faust-{group_id}-")
    atexit.register(shutil.rmtree, datadir, ignore_errors=True)
    app = faust.App(
        group_id,
        broker=brokers,
        value_serializer="raw",
        key_serializer="raw",
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=False,
        store="memory://",
        # Faust creates its data folder at start; the default (./<id>-data) litters the working
        # directory and fails on a read-only root filesystem. Tables are in memory, so any
        # scratch folder will do.
        datadir=datadir,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1,
        broker_commit_interval=1.0,
        stream_wait_empty=True,
        producer_acks=-1,
        # A replica that dies without leaving the group (kill -9, OOM, node loss) holds its
        # partitions until the broker gives up on its heartbeats: 15 s instead of Faust's 60 s.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        autodiscover=False,
    )
    topic = app.topic(source_topic, value_type=bytes, key_type=bytes, allow_empty=True)

    @app.agent(topic, concurrency=concurrency, name=f"{spec.service}-agent")
    async def agent(stream):
        async for record in stream.events():
            message = record.message
            outcome = await loop_.process(record.value, record.key, message.partition, message.offset)
            if outcome == "stopped":
                # Shutting down mid-retry: never return (Faust would ack the event on the way
                # out); wait to be cancelled so the event stays uncommitted and is redelivered.
                await asyncio.Event().wait()

    return app

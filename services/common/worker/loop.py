"""The thin Kafka loop every worker shares (faust-streaming), and its per-event error handling.

A worker is: one source topic, one async `handle(event)` that does the work and publishes its
results, and this loop around it. The loop
- decodes with the project's protobuf codec (raw bytes in Faust, never its pickle codec);
- sends undecodable, wrong-version and invalid events, and events whose processing raised a
  non-transient error (a model that raised, bad content), to the dead-letter topic with the reason,
  then moves on: one bad event never stops a partition;
- retries transient failures (database or broker unreachable) with backoff instead, without
  acknowledging the event, so nothing is lost during an outage;
- acknowledges (and so commits) an event only after `handle` returned, i.e. after its effects.

Agents run with concurrency=1 per partition (DESIGN.md: faust-streaming #606 can commit past an
unfinished message with more); parallelism comes from partitions and replicas.
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
    # One agent instance per partition (still one event at a time per partition), so a worker
    # with several partitions processes conversations concurrently.
    isolated_partitions: bool = False

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


class EventLoop:
    """Processes one raw Kafka record at a time: decode, handle, dead-letter or retry."""

    def __init__(
        self,
        spec: WorkerSpec,
        topic_name: str,
        publisher: EventPublisher,
        handle: Callable[[object], Awaitable[None]],
        max_backoff_s: float = 10.0,
    ) -> None:
        self.spec = spec
        self.topic_name = topic_name
        self.publisher = publisher
        self.handle = handle
        self.max_backoff_s = max_backoff_s
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
        backoff = 0.5
        while True:
            try:
                await self.handle(event)
                metrics.PROCESSING_SECONDS.labels(**labels).observe(time.perf_counter() - started)
                return "ok"
            except PoisonEvent as poison:
                await self.dead_letter(value, key, partition, offset, poison.reason, poison.detail, event)
                return "dead_letter"
            except Exception as exc:
                if not is_transient(exc):
                    log.exception(
                        "event failed", extra={**event_ids(event), "topic": self.topic_name, "offset": offset}
                    )
                    await self.dead_letter(
                        value, key, partition, offset, "processing_error", f"{type(exc).__name__}: {exc}", event
                    )
                    return "dead_letter"
                metrics.EVENTS_FAILED.labels(**labels, reason="transient_retry").inc()
                log.warning(
                    "dependency unavailable, retrying",
                    extra={**event_ids(event), "error": f"{type(exc).__name__}: {exc}"[:300], "retry_in_s": backoff},
                )
                try:
                    await asyncio.wait_for(self.stopping.wait(), backoff)
                    return "stopped"
                except TimeoutError:
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
        conversation = (key or b"").decode("utf-8", "replace") or "unknown"
        backoff = 0.5
        while True:
            try:
                await self.publisher.publish(DEAD_LETTER, letter, conversation)
                return
            except Exception as exc:
                if not is_transient(exc) or self.stopping.is_set():
                    raise
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)


def make_faust_app(spec: WorkerSpec, group_id: str, bootstrap: str, loop_: EventLoop, source_topic: str):
    """The Faust app: one agent over the source topic, raw bytes, concurrency 1, in consumer group `group_id`."""
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

    @app.agent(topic, concurrency=1, isolated_partitions=spec.isolated_partitions, name=f"{spec.service}-agent")
    async def agent(stream):
        async for record in stream.events():
            message = record.message
            outcome = await loop_.process(record.value, record.key, message.partition, message.offset)
            if outcome == "stopped":
                # Shutting down mid-retry: never return (Faust would ack the event on the way
                # out); wait to be cancelled so the event stays uncommitted and is redelivered.
                await asyncio.Event().wait()

    return app

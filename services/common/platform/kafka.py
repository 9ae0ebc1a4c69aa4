"""Kafka plumbing shared by the services.

- `ensure_topics` and `wait_for_kafka` use kafka-python: synchronous, for the CLI and tools only.
- `start_producer` uses aiokafka (what faust-streaming runs on): the asyncio services never use
  kafka-python (DESIGN.md: it has no asyncio support).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from services.common.platform.lifecycle import StartupError
from services.common.platform.metrics import EVENTS_PRODUCED
from services.common.platform.topics import TopicSpec

log = logging.getLogger(__name__)


def wait_for_kafka(bootstrap: str, timeout_s: float) -> list[str]:
    """Block until the broker answers a metadata request; return the topic names."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="cs-cli")
            try:
                return sorted(admin.list_topics())
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as exc:
            last = exc
            time.sleep(1)
    raise StartupError(f"Kafka at {bootstrap} did not answer within {timeout_s:.0f} s ({last})")


def ensure_topics(bootstrap: str, names: list[str], partitions: int) -> list[str]:
    """Create missing topics (replication 1 locally; production clusters create with their own tooling)."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, client_id="cs-cli")
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        for name in missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        return missing
    finally:
        admin.close()


async def start_producer(bootstrap: str, client_id: str, timeout_s: float):
    """An idempotent aiokafka producer (acks=all), started; StartupError when the broker is unreachable."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=int(max(timeout_s, 5) * 1000),
    )
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
    except (TimeoutError, KafkaError, OSError) as exc:
        await producer.stop()
        raise StartupError(
            f"Kafka at {bootstrap} did not answer within {timeout_s:.0f} s ({exc or 'timeout'})"
        ) from None
    return producer


async def kafka_probe(producer) -> None:
    """Raises when no broker answers a metadata request (the readiness probe)."""
    await producer.client.fetch_all_metadata()


class EventPublisher:
    """Publishes protobuf events keyed by their conversation (topics.conversation_key) and counts them."""

    def __init__(self, producer, prefix: str, service: str) -> None:
        self._producer = producer
        self._prefix = prefix
        self._service = service

    async def publish(self, spec: TopicSpec, event, *, topic: str | None = None, key: bytes | None = None) -> None:
        """Returns once the broker has the event (acks=all).

        The key is the event's conversation, tenant and id (`spec.key(event)`); only events that name
        no conversation (dead letters) pass one. `topic` overrides the spec's (one topic per queue).
        """
        name = topic or spec.name(self._prefix)
        await self._producer.send_and_wait(name, spec.encode(event), key=key if key is not None else spec.key(event))
        EVENTS_PRODUCED.labels(service=self._service, topic=name).inc()

"""Supervisors follow escalation queues straight from Kafka (kafka-python, synchronous).

`--all` follows every platform queue and every tenant's own queue (`<prefix>escalations.<tenant>.<queue>`,
created by `cs tenants apply`; with `--tenant`, only that tenant's); `--queue Q --tenant T` (or `--queue T.Q`) one of T's own.
Each escalation is printed as one JSON object per line (protobuf JSON mapping of
cs.v1.EscalationRaised, field names as in the .proto), so it can be piped into other tools.
No consumer group is used: a supervisor watching never takes events away from anyone else.
"""

from __future__ import annotations

import json
import sys
import time

from google.protobuf.json_format import MessageToDict

from services.common.platform.topics import ESCALATIONS, PoisonEvent, escalation_topic, queue_topic


class NoSuchQueue(ValueError):
    pass


def topics_to_watch(
    available: set[str], prefix: str, builtin: list[str], queue: str | None, tenant: str | None
) -> list[str]:
    """The escalation topics `cs escalations watch` follows: one queue's (a platform queue's shared topic,
    or with `tenant` that tenant's own queue's), or with `queue` None every platform queue's and every
    tenant queue's (topics.queue_topic), only `tenant`'s own when it is given. NoSuchQueue says why not."""
    if queue is not None and "." in queue:  # "<tenant>.<queue>", the topic's own spelling
        owner, _, queue = queue.rpartition(".")
        if tenant and tenant != owner:
            raise NoSuchQueue(f"queue {owner}.{queue} is not a queue of tenant {tenant!r}")
        tenant = owner
    if queue is not None:
        if queue not in builtin and not tenant:
            raise NoSuchQueue(
                f"queue {queue!r} is not a platform queue (CS_ESCALATION_QUEUES: {', '.join(builtin)}); "
                "a tenant's own queue needs --tenant"
            )
        topic = queue_topic(prefix, tenant or "", queue, builtin)
        if topic not in available:
            raise NoSuchQueue(f"topic {topic} does not exist (no such queue, or `cs tenants apply` was not run)")
        return [topic]
    platform = [escalation_topic(prefix, q) for q in builtin]
    missing = [t for t in platform if t not in available]
    if missing:
        raise NoSuchQueue(f"topics {', '.join(missing)} do not exist (is the stack's topic setup done?)")
    base = escalation_topic(prefix, "")
    own = []
    for topic in sorted(available - set(platform)):
        owner, dot, _ = topic.removeprefix(base).rpartition(".")
        if topic.startswith(base) and dot and (tenant is None or owner == tenant):
            own.append(topic)
    return platform + own


def watch_escalations(
    bootstrap: str,
    prefix: str,
    builtin: list[str],
    queue: str | None,
    from_beginning: bool,
    tenant: str | None,
    max_events: int = 0,
    idle_timeout_s: float = 0,
) -> int:
    """Print the escalations of one queue (`queue`), or of all (None), as JSON lines; 2 when there is no
    such queue."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="cs-supervisor")
    try:
        topics = topics_to_watch(set(consumer.topics()), prefix, builtin, queue, tenant)
    except NoSuchQueue as exc:
        print(f"escalations watch: {exc}", file=sys.stderr)
        consumer.close()
        return 2
    partitions = []
    for topic in topics:
        partitions += [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    if from_beginning:
        consumer.seek_to_beginning(*partitions)
    else:
        consumer.seek_to_end(*partitions)
    seen, last = 0, time.monotonic()
    try:
        while True:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    try:
                        esc = ESCALATIONS.decode(record.value)
                    except PoisonEvent as poison:
                        print(
                            json.dumps(
                                {
                                    "error": poison.reason,
                                    "detail": poison.detail,
                                    "topic": record.topic,
                                    "offset": record.offset,
                                }
                            ),
                            file=sys.stderr,
                        )
                        continue
                    if tenant and esc.tenant_id != tenant:
                        continue
                    print(
                        json.dumps(MessageToDict(esc, preserving_proto_field_name=True), ensure_ascii=False), flush=True
                    )
                    seen += 1
                    last = time.monotonic()
                    if max_events and seen >= max_events:
                        return 0
            if idle_timeout_s and time.monotonic() - last > idle_timeout_s:
                return 0
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()

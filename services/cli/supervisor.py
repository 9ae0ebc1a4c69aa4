"""Supervisors follow escalation queues straight from Kafka (kafka-python, synchronous).

Each escalation is printed as one JSON object per line (protobuf JSON mapping of
cs.v1.EscalationRaised, field names as in the .proto), so it can be piped into other tools.
No consumer group is used: a supervisor watching never takes events away from anyone else.
"""

from __future__ import annotations

import json
import sys
import time

from google.protobuf.json_format import MessageToDict

from services.common.platform.topics import ESCALATIONS, PoisonEvent, escalation_topic


def watch_escalations(
    bootstrap: str,
    prefix: str,
    queues: list[str],
    from_beginning: bool,
    tenant: str | None,
    max_events: int = 0,
    idle_timeout_s: float = 0,
) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="cs-supervisor")
    partitions = []
    for queue in queues:
        topic = escalation_topic(prefix, queue)
        found = consumer.partitions_for_topic(topic)
        if not found:
            print(
                f"escalations watch: topic {topic} does not exist (is the queue in CS_ESCALATION_QUEUES?)",
                file=sys.stderr,
            )
            return 2
        partitions += [TopicPartition(topic, p) for p in sorted(found)]
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

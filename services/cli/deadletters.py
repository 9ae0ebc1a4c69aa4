"""`cs deadletters`: see the events the workers gave up on, and put them back once the cause is fixed.

A dead letter (cs.v1.DeadLetter on <prefix>deadletter) carries the original bytes, key, topic,
partition and offset of the event and why it failed. Its id here is `<partition>:<offset>` on the
dead-letter topic. `replay` re-publishes the original bytes to the topic they came from, so the
worker processes them again, keyed by the event's conversation (`conversation_key`: tenant and id;
a letter from a release that keyed by the conversation id alone is re-keyed, so the replayed event
lands on its conversation's partition now; an undecodable one keeps its original key). Every step
of the pipeline is idempotent (ids derive from the message id, stored replies are never sent
twice), so a replay never duplicates a reply, and a message a person already took over stays with
that person.

kafka-python, synchronous: an operator tool, never inside a service.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

from google.protobuf.json_format import MessageToDict

from services.common.platform.pii import mask_pii
from services.common.platform.topics import DEAD_LETTER, ENRICHED, INBOUND, UNDERSTOOD, PoisonEvent
from services.common.proto.cs.v1 import events_pb2 as ev

REPLAYABLE = (INBOUND, UNDERSTOOD, ENRICHED)  # the workers' source topics
READ_TIMEOUT_S = 30


class DeadLetterError(Exception):
    """A dead-letter command refused; nothing was published. The message says what to do."""


@dataclass(frozen=True)
class Letter:
    id: str  # <partition>:<offset> on the dead-letter topic
    letter: ev.DeadLetter

    @property
    def conversation(self) -> str:
        """The letter's key as text: "<tenant>/<conversation>" (the conversation id alone from older releases)."""
        return self.letter.key.decode("utf-8", "replace")

    @property
    def failed_at(self) -> str:
        if not self.letter.HasField("failed_at"):
            return "?"
        return self.letter.failed_at.ToDatetime(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def read_letters(bootstrap: str, prefix: str, timeout_s: float = READ_TIMEOUT_S) -> list[Letter]:
    """Every dead letter on the deployment's dead-letter topic, oldest first per partition."""
    from kafka import KafkaConsumer, TopicPartition

    topic = DEAD_LETTER.name(prefix)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="cs-deadletters")
    try:
        found = consumer.partitions_for_topic(topic)
        if not found:
            raise DeadLetterError(f"topic {topic} does not exist: run `cs topics create` (is CS_TOPIC_PREFIX right?)")
        partitions = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        letters: list[Letter] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise DeadLetterError(f"reading {topic} did not finish within {timeout_s:.0f} s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    if record.offset >= end[tp]:
                        continue
                    try:
                        letters.append(Letter(f"{tp.partition}:{record.offset}", DEAD_LETTER.decode(record.value)))
                    except PoisonEvent:
                        continue  # not a dead letter this build can read; nothing to replay
        return letters
    finally:
        consumer.close()


def select(letters: list[Letter], reason: str | None = None, service: str | None = None) -> list[Letter]:
    return [
        x
        for x in letters
        if (reason is None or x.letter.reason == reason) and (service is None or x.letter.service == service)
    ]


def table(letters: list[Letter]) -> str:
    if not letters:
        return "no dead letters"
    rows = [("ID", "FAILED AT (UTC)", "SERVICE", "REASON", "FROM", "CONVERSATION", "ERROR")]
    for x in letters:
        source = f"{x.letter.source_topic}@{x.letter.partition}:{x.letter.offset}"
        error = mask_pii(x.letter.error.splitlines()[0] if x.letter.error else "")[:80]
        rows.append((x.id, x.failed_at, x.letter.service, x.letter.reason, source, x.conversation, error))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows)


def find(letters: list[Letter], ids: list[str]) -> list[Letter]:
    by_id = {x.id: x for x in letters}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DeadLetterError(
            f"no dead letter {', '.join(missing)} (ids are PARTITION:OFFSET, see `cs deadletters list`)"
        )
    return [by_id[i] for i in ids]


def _masked(value):
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def describe(x: Letter, prefix: str, unmasked: bool = False) -> str:
    """The letter and, when it can be read, the event it carries, as JSON (PII masked unless asked)."""
    letter = MessageToDict(x.letter, preserving_proto_field_name=True)
    letter.pop("payload", None)
    letter["key"] = x.conversation
    out: dict = {"id": x.id, "letter": letter}
    spec = _source_spec(x.letter.source_topic, prefix)
    if spec is None:
        out["event"] = None
    else:
        try:
            event = MessageToDict(spec.decode(x.letter.payload), preserving_proto_field_name=True)
            out["event"] = event if unmasked else _masked(event)
        except PoisonEvent as poison:
            out["event"] = {"undecodable": poison.reason, "detail": poison.detail}
    return json.dumps(out if unmasked else {**out, "letter": _masked(letter)}, ensure_ascii=False, indent=2)


def _source_spec(source_topic: str, prefix: str):
    return next((spec for spec in REPLAYABLE if spec.name(prefix) == source_topic), None)


def replay(bootstrap: str, prefix: str, letters: list[Letter], timeout_s: float = READ_TIMEOUT_S) -> int:
    """Re-publish each letter's original bytes to its source topic (acks=all); how many were sent."""
    from kafka import KafkaProducer

    refused = [x.id for x in letters if _source_spec(x.letter.source_topic, prefix) is None]
    if refused:
        names = ", ".join(spec.name(prefix) for spec in REPLAYABLE)
        raise DeadLetterError(
            f"dead letters {', '.join(refused)} did not come from a worker's source topic of this deployment "
            f"({names}); nothing was replayed"
        )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="cs-deadletters")
    try:
        for x in letters:
            key = replay_key(x, prefix)
            producer.send(x.letter.source_topic, value=x.letter.payload, key=key).get(timeout_s)
    finally:
        producer.close()
    return len(letters)


def replay_key(x: Letter, prefix: str) -> bytes | None:
    """The key to replay a letter under: its event's conversation when the event decodes, else the
    key it came with."""
    spec = _source_spec(x.letter.source_topic, prefix)
    if spec is not None:
        try:
            return spec.key(spec.decode(x.letter.payload))
        except PoisonEvent:
            pass
    return x.letter.key or None

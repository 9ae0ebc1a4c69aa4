"""The topic registry and the protobuf codec for Kafka: one place for names, types and keys.

Every event is a protobuf message from protos/cs/v1/events.proto, serialised as bytes, keyed by
conversation id so one conversation stays ordered on one partition. The same specs drive the
Faust topics in the workers, the aiokafka clients in the gateway, the kafka-python tools
(`cs topics create`, `cs escalations watch`) and the README's topic list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from services.common.platform.settings import COMMON
from services.common.proto.cs.v1 import events_pb2 as ev

SCHEMA_VERSION = 1

M = TypeVar("M", bound=Message)


class PoisonEvent(Exception):
    """An event that can never be processed; it goes to the dead-letter topic with `reason`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class TopicSpec(Generic[M]):
    suffix: str
    message: type[M]
    doc: str
    # Fields that must be non-empty for the event to be processable.
    required: tuple[str, ...] = ()

    def name(self, prefix: str) -> str:
        return prefix + self.suffix

    def encode(self, event: M) -> bytes:
        if not isinstance(event, self.message):
            raise TypeError(f"{self.suffix} carries {self.message.__name__}, not {type(event).__name__}")
        if not event.schema_version:
            event.schema_version = SCHEMA_VERSION
        return event.SerializeToString(deterministic=True)

    def decode(self, payload: bytes | None) -> M:
        """Parse and validate; raise PoisonEvent when the event can never be processed."""
        if not payload:
            raise PoisonEvent("undecodable", f"empty payload on {self.suffix}")
        event = self.message()
        try:
            event.ParseFromString(payload)
        except (DecodeError, ValueError) as exc:
            raise PoisonEvent("undecodable", f"not a {self.message.__name__}: {exc}") from None
        if event.schema_version == 0 or event.schema_version > SCHEMA_VERSION:
            raise PoisonEvent(
                "schema_version",
                f"{self.message.__name__} schema_version {event.schema_version}, this build reads 1..{SCHEMA_VERSION}",
            )
        for path in self.required:
            if not _field(event, path):
                raise PoisonEvent("invalid", f"{self.message.__name__}.{path} is empty")
        return event


def _field(event: Message, path: str) -> object:
    value: object = event
    for part in path.split("."):
        value = getattr(value, part)
    return value


_MSG = ("message.tenant_id", "message.conversation_id", "message.message_id")

INBOUND = TopicSpec(
    "messages.inbound",
    ev.MessageReceived,
    "Customer messages as received (gateway or adapters publishing directly)",
    ("tenant_id", "conversation_id", "message_id"),
)
UNDERSTOOD = TopicSpec("messages.understood", ev.MessageUnderstood, "Messages with language, intent and entities", _MSG)
ENRICHED = TopicSpec("messages.enriched", ev.MessageEnriched, "Messages with understanding and sentiment", _MSG)
REPLIES = TopicSpec(
    "replies",
    ev.ReplyPublished,
    "Final replies to customers: bot answers, handover notices, agent replies",
    ("tenant_id", "conversation_id", "reply_id"),
)
STATE = TopicSpec(
    "conversations.state",
    ev.ConversationStateChanged,
    "Conversation state transitions",
    ("tenant_id", "conversation_id"),
)
FEEDBACK = TopicSpec(
    "feedback", ev.FeedbackSubmitted, "Thumbs and CSAT per reply", ("tenant_id", "conversation_id", "reply_id")
)
DEAD_LETTER = TopicSpec(
    "deadletter", ev.DeadLetter, "Events a consumer could not process, with the reason", ("source_topic",)
)
ESCALATION_PREFIX = "escalations."
ESCALATIONS = TopicSpec(
    ESCALATION_PREFIX + "<queue>",
    ev.EscalationRaised,
    "Conversations handed to humans, one topic per queue",
    ("tenant_id", "conversation_id", "escalation_id", "queue"),
)

FIXED_TOPICS: tuple[TopicSpec, ...] = (INBOUND, UNDERSTOOD, ENRICHED, REPLIES, STATE, FEEDBACK, DEAD_LETTER)


def escalation_topic(prefix: str, queue: str) -> str:
    return f"{prefix}{ESCALATION_PREFIX}{queue}"


def all_topic_names(prefix: str, queues: tuple[str, ...] | list[str]) -> list[str]:
    return [spec.name(prefix) for spec in FIXED_TOPICS] + [escalation_topic(prefix, q) for q in queues]


def consumer_group(prefix: str, service: str) -> str:
    """The Kafka consumer group of a service's workers: one per deployment (topic prefix) and service.

    Deployments or test sessions with different prefixes on one broker must not share a group: every
    worker that joins or leaves rebalances all members, whatever topics they read, and the assignor
    then spreads each deployment's partitions over the other's members too. The default prefix keeps
    the historical name `cs-<service>`, under which deployments have committed offsets and which the
    lag alerts and KEDA triggers name; any other prefix is put in front of it (`staging.cs-intent`).
    """
    name = f"cs-{service}"
    return name if prefix == COMMON["CS_TOPIC_PREFIX"].default else f"{prefix}{name}"


def conversation_key(conversation_id: str) -> bytes:
    return conversation_id.encode()

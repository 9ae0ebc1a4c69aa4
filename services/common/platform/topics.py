"""The topic registry and the protobuf codec for Kafka: one place for names, types and keys.

Every event is a protobuf message from protos/cs/v1/events.proto, serialised as bytes, keyed by
its conversation: `conversation_key(tenant_id, conversation_id)`, "<tenant>/<conversation>", so one
conversation stays ordered on one partition and two tenants' conversations with the same id are two
keys. The key is taken from the event itself (`TopicSpec.key`), never passed alongside it, so it
cannot disagree with the event. The same specs drive the
Faust topics in the workers, the aiokafka clients in the gateway, the kafka-python tools
(`cs topics create`, `cs escalations watch`) and the README's topic list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from services.common.platform.ids import conversation_ref
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
    # Where the event names its conversation (tenant id, conversation id), its Kafka key; empty for
    # events that belong to no conversation (dead letters keep the key of the event they carry).
    key_fields: tuple[str, ...] = ("tenant_id", "conversation_id")

    def name(self, prefix: str) -> str:
        return prefix + self.suffix

    def key(self, event: M) -> bytes:
        """The record key of `event`: its conversation, see `conversation_key`."""
        if not self.key_fields:
            raise TypeError(f"{self.suffix} events name no conversation; publish them with an explicit key")
        tenant, conversation = self.key_fields
        return conversation_key(str(_field(event, tenant)), str(_field(event, conversation)))

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
        if self.key_fields and "/" in str(_field(event, self.key_fields[0])):
            raise PoisonEvent("invalid", f"{self.message.__name__}.{self.key_fields[0]} contains '/'")
        return event


def _field(event: Message, path: str) -> object:
    value: object = event
    for part in path.split("."):
        value = getattr(value, part)
    return value


_MSG = ("message.tenant_id", "message.conversation_id", "message.message_id")
_MSG_KEY = ("message.tenant_id", "message.conversation_id")

INBOUND = TopicSpec(
    "messages.inbound",
    ev.MessageReceived,
    "Customer messages as received (gateway or adapters publishing directly)",
    ("tenant_id", "conversation_id", "message_id"),
)
UNDERSTOOD = TopicSpec(
    "messages.understood", ev.MessageUnderstood, "Messages with language, intent and entities", _MSG, _MSG_KEY
)
ENRICHED = TopicSpec(
    "messages.enriched", ev.MessageEnriched, "Messages with understanding and sentiment", _MSG, _MSG_KEY
)
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
    "deadletter", ev.DeadLetter, "Events a consumer could not process, with the reason", ("source_topic",), ()
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


def queue_topic(prefix: str, tenant_id: str, queue: str, builtin_queues: tuple[str, ...] | list[str]) -> str:
    """The escalation topic of a tenant's queue.

    A platform queue (CS_ESCALATION_QUEUES) has one topic every tenant shares, `<prefix>escalations.<queue>`;
    a queue a tenant file declares has its own, `<prefix>escalations.<tenant>.<queue>` (tenant queue names
    hold no '.', so the last dot separates tenant and queue), created by `cs tenants apply`, so its
    supervisors can be given that topic alone.
    """
    if queue in builtin_queues:
        return escalation_topic(prefix, queue)
    return f"{prefix}{ESCALATION_PREFIX}{tenant_id}.{queue}"


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


def conversation_key(tenant_id: str, conversation_id: str) -> bytes:
    """The Kafka record key of a conversation's events: "<tenant>/<conversation>" in UTF-8.

    The tenant is part of it because conversation ids are the adapters' own and only unique within
    a tenant: keyed by the id alone, two tenants' conversations "c1" would share one key. It is the
    string the conversation's document is stored under (`conversation_ref`). Events published by
    releases before it are keyed by the conversation id alone; consumers never read the key (they
    take tenant and conversation from the event), so those still process normally.
    """
    return conversation_ref(tenant_id, conversation_id).encode()

import datetime

from services.common.proto.cs.v1 import conversation_pb2 as _conversation_pb2
from services.common.proto.cs.v1 import understanding_pb2 as _understanding_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rating(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATING_UNSPECIFIED: _ClassVar[Rating]
    RATING_THUMBS_UP: _ClassVar[Rating]
    RATING_THUMBS_DOWN: _ClassVar[Rating]
RATING_UNSPECIFIED: Rating
RATING_THUMBS_UP: Rating
RATING_THUMBS_DOWN: Rating

class MessageReceived(_message.Message):
    __slots__ = ("schema_version", "tenant_id", "conversation_id", "message_id", "customer_id", "channel", "text", "sent_at", "received_at", "customer", "gateway_id")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_ID_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    tenant_id: str
    conversation_id: str
    message_id: str
    customer_id: str
    channel: str
    text: str
    sent_at: _timestamp_pb2.Timestamp
    received_at: _timestamp_pb2.Timestamp
    customer: _conversation_pb2.CustomerProfile
    gateway_id: str
    def __init__(self, schema_version: _Optional[int] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., channel: _Optional[str] = ..., text: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., customer: _Optional[_Union[_conversation_pb2.CustomerProfile, _Mapping]] = ..., gateway_id: _Optional[str] = ...) -> None: ...

class MessageUnderstood(_message.Message):
    __slots__ = ("schema_version", "message", "understanding")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UNDERSTANDING_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    message: MessageReceived
    understanding: _understanding_pb2.Understanding
    def __init__(self, schema_version: _Optional[int] = ..., message: _Optional[_Union[MessageReceived, _Mapping]] = ..., understanding: _Optional[_Union[_understanding_pb2.Understanding, _Mapping]] = ...) -> None: ...

class MessageEnriched(_message.Message):
    __slots__ = ("schema_version", "message", "understanding", "sentiment")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UNDERSTANDING_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    message: MessageReceived
    understanding: _understanding_pb2.Understanding
    sentiment: _understanding_pb2.Sentiment
    def __init__(self, schema_version: _Optional[int] = ..., message: _Optional[_Union[MessageReceived, _Mapping]] = ..., understanding: _Optional[_Union[_understanding_pb2.Understanding, _Mapping]] = ..., sentiment: _Optional[_Union[_understanding_pb2.Sentiment, _Mapping]] = ...) -> None: ...

class ReplyPublished(_message.Message):
    __slots__ = ("schema_version", "tenant_id", "conversation_id", "reply_id", "in_reply_to", "author", "agent_id", "kind", "text", "language", "citations", "model_version", "created_at", "first_token_seconds", "generation_seconds")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FIRST_TOKEN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    tenant_id: str
    conversation_id: str
    reply_id: str
    in_reply_to: str
    author: _conversation_pb2.Author
    agent_id: str
    kind: _conversation_pb2.ReplyKind
    text: str
    language: str
    citations: _containers.RepeatedScalarFieldContainer[str]
    model_version: str
    created_at: _timestamp_pb2.Timestamp
    first_token_seconds: float
    generation_seconds: float
    def __init__(self, schema_version: _Optional[int] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., reply_id: _Optional[str] = ..., in_reply_to: _Optional[str] = ..., author: _Optional[_Union[_conversation_pb2.Author, str]] = ..., agent_id: _Optional[str] = ..., kind: _Optional[_Union[_conversation_pb2.ReplyKind, str]] = ..., text: _Optional[str] = ..., language: _Optional[str] = ..., citations: _Optional[_Iterable[str]] = ..., model_version: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_token_seconds: _Optional[float] = ..., generation_seconds: _Optional[float] = ...) -> None: ...

class EscalationRaised(_message.Message):
    __slots__ = ("schema_version", "escalation_id", "tenant_id", "conversation_id", "message_id", "customer_id", "queue", "priority", "reasons", "summary", "suggested_reply", "language", "understanding", "sentiment", "created_at", "transferred_from")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_REPLY_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    UNDERSTANDING_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TRANSFERRED_FROM_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    escalation_id: str
    tenant_id: str
    conversation_id: str
    message_id: str
    customer_id: str
    queue: str
    priority: _conversation_pb2.Priority
    reasons: _containers.RepeatedCompositeFieldContainer[_conversation_pb2.EscalationReason]
    summary: str
    suggested_reply: str
    language: str
    understanding: _understanding_pb2.Understanding
    sentiment: _understanding_pb2.Sentiment
    created_at: _timestamp_pb2.Timestamp
    transferred_from: str
    def __init__(self, schema_version: _Optional[int] = ..., escalation_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., queue: _Optional[str] = ..., priority: _Optional[_Union[_conversation_pb2.Priority, str]] = ..., reasons: _Optional[_Iterable[_Union[_conversation_pb2.EscalationReason, _Mapping]]] = ..., summary: _Optional[str] = ..., suggested_reply: _Optional[str] = ..., language: _Optional[str] = ..., understanding: _Optional[_Union[_understanding_pb2.Understanding, _Mapping]] = ..., sentiment: _Optional[_Union[_understanding_pb2.Sentiment, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., transferred_from: _Optional[str] = ...) -> None: ...

class ConversationStateChanged(_message.Message):
    __slots__ = ("schema_version", "tenant_id", "conversation_id", "from_state", "to_state", "queue", "agent_id", "changed_at")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    tenant_id: str
    conversation_id: str
    from_state: _conversation_pb2.ConversationState
    to_state: _conversation_pb2.ConversationState
    queue: str
    agent_id: str
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, schema_version: _Optional[int] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., from_state: _Optional[_Union[_conversation_pb2.ConversationState, str]] = ..., to_state: _Optional[_Union[_conversation_pb2.ConversationState, str]] = ..., queue: _Optional[str] = ..., agent_id: _Optional[str] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FeedbackSubmitted(_message.Message):
    __slots__ = ("schema_version", "feedback_id", "tenant_id", "conversation_id", "reply_id", "rating", "csat", "comment", "created_at")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CSAT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    feedback_id: str
    tenant_id: str
    conversation_id: str
    reply_id: str
    rating: Rating
    csat: int
    comment: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, schema_version: _Optional[int] = ..., feedback_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., reply_id: _Optional[str] = ..., rating: _Optional[_Union[Rating, str]] = ..., csat: _Optional[int] = ..., comment: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("schema_version", "source_topic", "partition", "offset", "key", "payload", "reason", "error", "service", "failed_at")
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    source_topic: str
    partition: int
    offset: int
    key: bytes
    payload: bytes
    reason: str
    error: str
    service: str
    failed_at: _timestamp_pb2.Timestamp
    def __init__(self, schema_version: _Optional[int] = ..., source_topic: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., key: _Optional[bytes] = ..., payload: _Optional[bytes] = ..., reason: _Optional[str] = ..., error: _Optional[str] = ..., service: _Optional[str] = ..., failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

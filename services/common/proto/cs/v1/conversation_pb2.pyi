import datetime

from services.common.proto.cs.v1 import understanding_pb2 as _understanding_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConversationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSATION_STATE_UNSPECIFIED: _ClassVar[ConversationState]
    CONVERSATION_STATE_BOT: _ClassVar[ConversationState]
    CONVERSATION_STATE_QUEUED: _ClassVar[ConversationState]
    CONVERSATION_STATE_AGENT: _ClassVar[ConversationState]
    CONVERSATION_STATE_RESOLVED: _ClassVar[ConversationState]

class Author(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTHOR_UNSPECIFIED: _ClassVar[Author]
    AUTHOR_CUSTOMER: _ClassVar[Author]
    AUTHOR_BOT: _ClassVar[Author]
    AUTHOR_AGENT: _ClassVar[Author]
    AUTHOR_SYSTEM: _ClassVar[Author]

class ReplyKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPLY_KIND_UNSPECIFIED: _ClassVar[ReplyKind]
    REPLY_KIND_ANSWER: _ClassVar[ReplyKind]
    REPLY_KIND_HANDOVER: _ClassVar[ReplyKind]
    REPLY_KIND_FALLBACK: _ClassVar[ReplyKind]
    REPLY_KIND_AGENT: _ClassVar[ReplyKind]

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_LOW: _ClassVar[Priority]
    PRIORITY_NORMAL: _ClassVar[Priority]
    PRIORITY_HIGH: _ClassVar[Priority]
    PRIORITY_URGENT: _ClassVar[Priority]

class ReasonCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_CODE_UNSPECIFIED: _ClassVar[ReasonCode]
    REASON_CODE_HUMAN_REQUESTED: _ClassVar[ReasonCode]
    REASON_CODE_ANGER: _ClassVar[ReasonCode]
    REASON_CODE_WORSENING_SENTIMENT: _ClassVar[ReasonCode]
    REASON_CODE_COMPLAINT: _ClassVar[ReasonCode]
    REASON_CODE_LEGAL: _ClassVar[ReasonCode]
    REASON_CODE_LOW_CONFIDENCE: _ClassVar[ReasonCode]
    REASON_CODE_OUT_OF_SCOPE: _ClassVar[ReasonCode]
    REASON_CODE_VIP: _ClassVar[ReasonCode]
    REASON_CODE_BOT_LOOP: _ClassVar[ReasonCode]
    REASON_CODE_TRANSFER: _ClassVar[ReasonCode]
    REASON_CODE_ANSWER_CHECK_FAILED: _ClassVar[ReasonCode]
    REASON_CODE_NO_KNOWLEDGE: _ClassVar[ReasonCode]
    REASON_CODE_PROCESSING_ERROR: _ClassVar[ReasonCode]
    REASON_CODE_SAFETY: _ClassVar[ReasonCode]
    REASON_CODE_ROUTING_RULE: _ClassVar[ReasonCode]
CONVERSATION_STATE_UNSPECIFIED: ConversationState
CONVERSATION_STATE_BOT: ConversationState
CONVERSATION_STATE_QUEUED: ConversationState
CONVERSATION_STATE_AGENT: ConversationState
CONVERSATION_STATE_RESOLVED: ConversationState
AUTHOR_UNSPECIFIED: Author
AUTHOR_CUSTOMER: Author
AUTHOR_BOT: Author
AUTHOR_AGENT: Author
AUTHOR_SYSTEM: Author
REPLY_KIND_UNSPECIFIED: ReplyKind
REPLY_KIND_ANSWER: ReplyKind
REPLY_KIND_HANDOVER: ReplyKind
REPLY_KIND_FALLBACK: ReplyKind
REPLY_KIND_AGENT: ReplyKind
PRIORITY_UNSPECIFIED: Priority
PRIORITY_LOW: Priority
PRIORITY_NORMAL: Priority
PRIORITY_HIGH: Priority
PRIORITY_URGENT: Priority
REASON_CODE_UNSPECIFIED: ReasonCode
REASON_CODE_HUMAN_REQUESTED: ReasonCode
REASON_CODE_ANGER: ReasonCode
REASON_CODE_WORSENING_SENTIMENT: ReasonCode
REASON_CODE_COMPLAINT: ReasonCode
REASON_CODE_LEGAL: ReasonCode
REASON_CODE_LOW_CONFIDENCE: ReasonCode
REASON_CODE_OUT_OF_SCOPE: ReasonCode
REASON_CODE_VIP: ReasonCode
REASON_CODE_BOT_LOOP: ReasonCode
REASON_CODE_TRANSFER: ReasonCode
REASON_CODE_ANSWER_CHECK_FAILED: ReasonCode
REASON_CODE_NO_KNOWLEDGE: ReasonCode
REASON_CODE_PROCESSING_ERROR: ReasonCode
REASON_CODE_SAFETY: ReasonCode
REASON_CODE_ROUTING_RULE: ReasonCode

class EscalationReason(_message.Message):
    __slots__ = ("code", "detail")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    code: ReasonCode
    detail: str
    def __init__(self, code: _Optional[_Union[ReasonCode, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class CustomerProfile(_message.Message):
    __slots__ = ("display_name", "tier", "locale")
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    display_name: str
    tier: str
    locale: str
    def __init__(self, display_name: _Optional[str] = ..., tier: _Optional[str] = ..., locale: _Optional[str] = ...) -> None: ...

class Conversation(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "customer_id", "channel", "state", "queue", "agent_id", "created_at", "updated_at")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    customer_id: str
    channel: str
    state: ConversationState
    queue: str
    agent_id: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., channel: _Optional[str] = ..., state: _Optional[_Union[ConversationState, str]] = ..., queue: _Optional[str] = ..., agent_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConversationMessage(_message.Message):
    __slots__ = ("message_id", "author", "text", "created_at", "understanding", "sentiment", "reply_kind", "in_reply_to", "agent_id", "citations", "model_version", "correction")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UNDERSTANDING_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    REPLY_KIND_FIELD_NUMBER: _ClassVar[int]
    IN_REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    author: Author
    text: str
    created_at: _timestamp_pb2.Timestamp
    understanding: _understanding_pb2.Understanding
    sentiment: _understanding_pb2.Sentiment
    reply_kind: ReplyKind
    in_reply_to: str
    agent_id: str
    citations: _containers.RepeatedScalarFieldContainer[str]
    model_version: str
    correction: _understanding_pb2.Correction
    def __init__(self, message_id: _Optional[str] = ..., author: _Optional[_Union[Author, str]] = ..., text: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., understanding: _Optional[_Union[_understanding_pb2.Understanding, _Mapping]] = ..., sentiment: _Optional[_Union[_understanding_pb2.Sentiment, _Mapping]] = ..., reply_kind: _Optional[_Union[ReplyKind, str]] = ..., in_reply_to: _Optional[str] = ..., agent_id: _Optional[str] = ..., citations: _Optional[_Iterable[str]] = ..., model_version: _Optional[str] = ..., correction: _Optional[_Union[_understanding_pb2.Correction, _Mapping]] = ...) -> None: ...

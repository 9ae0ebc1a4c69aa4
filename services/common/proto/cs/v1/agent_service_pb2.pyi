import datetime

from services.common.proto.cs.v1 import conversation_pb2 as _conversation_pb2
from services.common.proto.cs.v1 import events_pb2 as _events_pb2
from services.common.proto.cs.v1 import understanding_pb2 as _understanding_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RemovalReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REMOVAL_REASON_UNSPECIFIED: _ClassVar[RemovalReason]
    REMOVAL_REASON_CLAIMED: _ClassVar[RemovalReason]
    REMOVAL_REASON_TRANSFERRED: _ClassVar[RemovalReason]
    REMOVAL_REASON_RESOLVED: _ClassVar[RemovalReason]
REMOVAL_REASON_UNSPECIFIED: RemovalReason
REMOVAL_REASON_CLAIMED: RemovalReason
REMOVAL_REASON_TRANSFERRED: RemovalReason
REMOVAL_REASON_RESOLVED: RemovalReason

class ListQueuesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListQueuesResponse(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queues: _Optional[_Iterable[str]] = ...) -> None: ...

class TakeOverConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class TakeOverConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _conversation_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_conversation_pb2.Conversation, _Mapping]] = ...) -> None: ...

class ListBotConversationsRequest(_message.Message):
    __slots__ = ("limit", "active_within_s")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_WITHIN_S_FIELD_NUMBER: _ClassVar[int]
    limit: int
    active_within_s: int
    def __init__(self, limit: _Optional[int] = ..., active_within_s: _Optional[int] = ...) -> None: ...

class ListBotConversationsResponse(_message.Message):
    __slots__ = ("conversations",)
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[_conversation_pb2.Conversation]
    def __init__(self, conversations: _Optional[_Iterable[_Union[_conversation_pb2.Conversation, _Mapping]]] = ...) -> None: ...

class GetWallboardRequest(_message.Message):
    __slots__ = ("service_level_s", "abandon_after_s")
    SERVICE_LEVEL_S_FIELD_NUMBER: _ClassVar[int]
    ABANDON_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    service_level_s: int
    abandon_after_s: int
    def __init__(self, service_level_s: _Optional[int] = ..., abandon_after_s: _Optional[int] = ...) -> None: ...

class ReasonCount(_message.Message):
    __slots__ = ("code", "count")
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    code: _conversation_pb2.ReasonCode
    count: int
    def __init__(self, code: _Optional[_Union[_conversation_pb2.ReasonCode, str]] = ..., count: _Optional[int] = ...) -> None: ...

class QueueFigures(_message.Message):
    __slots__ = ("queue", "waiting", "longest_wait_s", "escalated_last_hour", "claimed_last_hour", "claimed_within_sla_last_hour", "abandoned_last_hour", "service_level", "reasons_last_hour")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    LONGEST_WAIT_S_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_LAST_HOUR_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_LAST_HOUR_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_WITHIN_SLA_LAST_HOUR_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_LAST_HOUR_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REASONS_LAST_HOUR_FIELD_NUMBER: _ClassVar[int]
    queue: str
    waiting: int
    longest_wait_s: float
    escalated_last_hour: int
    claimed_last_hour: int
    claimed_within_sla_last_hour: int
    abandoned_last_hour: int
    service_level: float
    reasons_last_hour: _containers.RepeatedCompositeFieldContainer[ReasonCount]
    def __init__(self, queue: _Optional[str] = ..., waiting: _Optional[int] = ..., longest_wait_s: _Optional[float] = ..., escalated_last_hour: _Optional[int] = ..., claimed_last_hour: _Optional[int] = ..., claimed_within_sla_last_hour: _Optional[int] = ..., abandoned_last_hour: _Optional[int] = ..., service_level: _Optional[float] = ..., reasons_last_hour: _Optional[_Iterable[_Union[ReasonCount, _Mapping]]] = ...) -> None: ...

class AgentLoad(_message.Message):
    __slots__ = ("agent_id", "signed_in", "conversations")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNED_IN_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    signed_in: bool
    conversations: int
    def __init__(self, agent_id: _Optional[str] = ..., signed_in: _Optional[bool] = ..., conversations: _Optional[int] = ...) -> None: ...

class GetWallboardResponse(_message.Message):
    __slots__ = ("computed_at", "service_level_s", "abandon_after_s", "abandoned_definition", "queues", "agents", "csat_average", "csat_responses", "csat_window_s", "day")
    COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_S_FIELD_NUMBER: _ClassVar[int]
    ABANDON_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_DEFINITION_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    CSAT_AVERAGE_FIELD_NUMBER: _ClassVar[int]
    CSAT_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    CSAT_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    computed_at: _timestamp_pb2.Timestamp
    service_level_s: int
    abandon_after_s: int
    abandoned_definition: str
    queues: _containers.RepeatedCompositeFieldContainer[QueueFigures]
    agents: _containers.RepeatedCompositeFieldContainer[AgentLoad]
    csat_average: float
    csat_responses: int
    csat_window_s: int
    day: _containers.RepeatedCompositeFieldContainer[HourFigures]
    def __init__(self, computed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., service_level_s: _Optional[int] = ..., abandon_after_s: _Optional[int] = ..., abandoned_definition: _Optional[str] = ..., queues: _Optional[_Iterable[_Union[QueueFigures, _Mapping]]] = ..., agents: _Optional[_Iterable[_Union[AgentLoad, _Mapping]]] = ..., csat_average: _Optional[float] = ..., csat_responses: _Optional[int] = ..., csat_window_s: _Optional[int] = ..., day: _Optional[_Iterable[_Union[HourFigures, _Mapping]]] = ...) -> None: ...

class HourFigures(_message.Message):
    __slots__ = ("hour", "escalated", "claimed", "mean_wait_s")
    HOUR_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    MEAN_WAIT_S_FIELD_NUMBER: _ClassVar[int]
    hour: _timestamp_pb2.Timestamp
    escalated: int
    claimed: int
    mean_wait_s: float
    def __init__(self, hour: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., escalated: _Optional[int] = ..., claimed: _Optional[int] = ..., mean_wait_s: _Optional[float] = ...) -> None: ...

class CorrectUnderstandingRequest(_message.Message):
    __slots__ = ("conversation_id", "message_id", "intent", "polarity")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    POLARITY_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    message_id: str
    intent: str
    polarity: _understanding_pb2.Polarity
    def __init__(self, conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., intent: _Optional[str] = ..., polarity: _Optional[_Union[_understanding_pb2.Polarity, str]] = ...) -> None: ...

class CorrectUnderstandingResponse(_message.Message):
    __slots__ = ("correction",)
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    correction: _understanding_pb2.Correction
    def __init__(self, correction: _Optional[_Union[_understanding_pb2.Correction, _Mapping]] = ...) -> None: ...

class WatchConversationRequest(_message.Message):
    __slots__ = ("conversation_id", "after_seq", "resume")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    after_seq: int
    resume: bool
    def __init__(self, conversation_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., resume: _Optional[bool] = ...) -> None: ...

class WatchConversationResponse(_message.Message):
    __slots__ = ("customer_message", "reply", "state", "seq")
    CUSTOMER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    customer_message: _events_pb2.MessageEnriched
    reply: _events_pb2.ReplyPublished
    state: _events_pb2.ConversationStateChanged
    seq: int
    def __init__(self, customer_message: _Optional[_Union[_events_pb2.MessageEnriched, _Mapping]] = ..., reply: _Optional[_Union[_events_pb2.ReplyPublished, _Mapping]] = ..., state: _Optional[_Union[_events_pb2.ConversationStateChanged, _Mapping]] = ..., seq: _Optional[int] = ...) -> None: ...

class ReadConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class ReadConversationResponse(_message.Message):
    __slots__ = ("conversation", "messages", "cursor", "customer", "escalation")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _conversation_pb2.Conversation
    messages: _containers.RepeatedCompositeFieldContainer[_conversation_pb2.ConversationMessage]
    cursor: int
    customer: _conversation_pb2.CustomerProfile
    escalation: _events_pb2.EscalationRaised
    def __init__(self, conversation: _Optional[_Union[_conversation_pb2.Conversation, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[_conversation_pb2.ConversationMessage, _Mapping]]] = ..., cursor: _Optional[int] = ..., customer: _Optional[_Union[_conversation_pb2.CustomerProfile, _Mapping]] = ..., escalation: _Optional[_Union[_events_pb2.EscalationRaised, _Mapping]] = ...) -> None: ...

class WatchQueueRequest(_message.Message):
    __slots__ = ("queue", "after_seq", "send_caught_up", "resume")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    SEND_CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    queue: str
    after_seq: int
    send_caught_up: bool
    resume: bool
    def __init__(self, queue: _Optional[str] = ..., after_seq: _Optional[int] = ..., send_caught_up: _Optional[bool] = ..., resume: _Optional[bool] = ...) -> None: ...

class QueueRemoval(_message.Message):
    __slots__ = ("conversation_id", "reason", "agent_id", "to_queue", "removed_at")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TO_QUEUE_FIELD_NUMBER: _ClassVar[int]
    REMOVED_AT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    reason: RemovalReason
    agent_id: str
    to_queue: str
    removed_at: _timestamp_pb2.Timestamp
    def __init__(self, conversation_id: _Optional[str] = ..., reason: _Optional[_Union[RemovalReason, str]] = ..., agent_id: _Optional[str] = ..., to_queue: _Optional[str] = ..., removed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchQueueResponse(_message.Message):
    __slots__ = ("escalation", "seq", "removed", "backlog", "caught_up")
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    escalation: _events_pb2.EscalationRaised
    seq: int
    removed: QueueRemoval
    backlog: bool
    caught_up: bool
    def __init__(self, escalation: _Optional[_Union[_events_pb2.EscalationRaised, _Mapping]] = ..., seq: _Optional[int] = ..., removed: _Optional[_Union[QueueRemoval, _Mapping]] = ..., backlog: _Optional[bool] = ..., caught_up: _Optional[bool] = ...) -> None: ...

class ClaimConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class ClaimConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _conversation_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_conversation_pb2.Conversation, _Mapping]] = ...) -> None: ...

class SendAgentReplyRequest(_message.Message):
    __slots__ = ("conversation_id", "text", "client_reply_id")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    text: str
    client_reply_id: str
    def __init__(self, conversation_id: _Optional[str] = ..., text: _Optional[str] = ..., client_reply_id: _Optional[str] = ...) -> None: ...

class SendAgentReplyResponse(_message.Message):
    __slots__ = ("reply_id",)
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    reply_id: str
    def __init__(self, reply_id: _Optional[str] = ...) -> None: ...

class TransferConversationRequest(_message.Message):
    __slots__ = ("conversation_id", "queue", "note")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    queue: str
    note: str
    def __init__(self, conversation_id: _Optional[str] = ..., queue: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class TransferConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _conversation_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_conversation_pb2.Conversation, _Mapping]] = ...) -> None: ...

class ResolveConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class ResolveConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _conversation_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_conversation_pb2.Conversation, _Mapping]] = ...) -> None: ...

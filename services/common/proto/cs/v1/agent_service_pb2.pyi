from services.common.proto.cs.v1 import conversation_pb2 as _conversation_pb2
from services.common.proto.cs.v1 import events_pb2 as _events_pb2
from services.common.proto.cs.v1 import understanding_pb2 as _understanding_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class WatchConversationResponse(_message.Message):
    __slots__ = ("customer_message", "reply", "state")
    CUSTOMER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    customer_message: _events_pb2.MessageEnriched
    reply: _events_pb2.ReplyPublished
    state: _events_pb2.ConversationStateChanged
    def __init__(self, customer_message: _Optional[_Union[_events_pb2.MessageEnriched, _Mapping]] = ..., reply: _Optional[_Union[_events_pb2.ReplyPublished, _Mapping]] = ..., state: _Optional[_Union[_events_pb2.ConversationStateChanged, _Mapping]] = ...) -> None: ...

class ReadConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class ReadConversationResponse(_message.Message):
    __slots__ = ("conversation", "messages")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    conversation: _conversation_pb2.Conversation
    messages: _containers.RepeatedCompositeFieldContainer[_conversation_pb2.ConversationMessage]
    def __init__(self, conversation: _Optional[_Union[_conversation_pb2.Conversation, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[_conversation_pb2.ConversationMessage, _Mapping]]] = ...) -> None: ...

class WatchQueueRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class WatchQueueResponse(_message.Message):
    __slots__ = ("escalation",)
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    escalation: _events_pb2.EscalationRaised
    def __init__(self, escalation: _Optional[_Union[_events_pb2.EscalationRaised, _Mapping]] = ...) -> None: ...

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

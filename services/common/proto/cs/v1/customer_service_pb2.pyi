import datetime

from services.common.proto.cs.v1 import conversation_pb2 as _conversation_pb2
from services.common.proto.cs.v1 import events_pb2 as _events_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SendMessageRequest(_message.Message):
    __slots__ = ("conversation_id", "customer_id", "channel", "text", "client_message_id", "customer")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    customer_id: str
    channel: str
    text: str
    client_message_id: str
    customer: _conversation_pb2.CustomerProfile
    def __init__(self, conversation_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., channel: _Optional[str] = ..., text: _Optional[str] = ..., client_message_id: _Optional[str] = ..., customer: _Optional[_Union[_conversation_pb2.CustomerProfile, _Mapping]] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("conversation_id", "message_id", "accepted_at")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_AT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    message_id: str
    accepted_at: _timestamp_pb2.Timestamp
    def __init__(self, conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., accepted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StreamRepliesRequest(_message.Message):
    __slots__ = ("conversation_id", "replay")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    replay: bool
    def __init__(self, conversation_id: _Optional[str] = ..., replay: _Optional[bool] = ...) -> None: ...

class ReplyToken(_message.Message):
    __slots__ = ("conversation_id", "reply_id", "index", "text")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    reply_id: str
    index: int
    text: str
    def __init__(self, conversation_id: _Optional[str] = ..., reply_id: _Optional[str] = ..., index: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class StreamRepliesResponse(_message.Message):
    __slots__ = ("token", "reply", "state")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    token: ReplyToken
    reply: _events_pb2.ReplyPublished
    state: _events_pb2.ConversationStateChanged
    def __init__(self, token: _Optional[_Union[ReplyToken, _Mapping]] = ..., reply: _Optional[_Union[_events_pb2.ReplyPublished, _Mapping]] = ..., state: _Optional[_Union[_events_pb2.ConversationStateChanged, _Mapping]] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("conversation_id", "reply_id", "rating", "csat", "comment")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CSAT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    reply_id: str
    rating: _events_pb2.Rating
    csat: int
    comment: str
    def __init__(self, conversation_id: _Optional[str] = ..., reply_id: _Optional[str] = ..., rating: _Optional[_Union[_events_pb2.Rating, str]] = ..., csat: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class SubmitFeedbackResponse(_message.Message):
    __slots__ = ("feedback_id",)
    FEEDBACK_ID_FIELD_NUMBER: _ClassVar[int]
    feedback_id: str
    def __init__(self, feedback_id: _Optional[str] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    def __init__(self, conversation_id: _Optional[str] = ...) -> None: ...

class GetConversationResponse(_message.Message):
    __slots__ = ("conversation", "messages")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    conversation: _conversation_pb2.Conversation
    messages: _containers.RepeatedCompositeFieldContainer[_conversation_pb2.ConversationMessage]
    def __init__(self, conversation: _Optional[_Union[_conversation_pb2.Conversation, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[_conversation_pb2.ConversationMessage, _Mapping]]] = ...) -> None: ...

from services.common.proto.cs.v1 import customer_service_pb2 as _customer_service_pb2
from services.common.proto.cs.v1 import events_pb2 as _events_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PushReplyRequest(_message.Message):
    __slots__ = ("tenant_id", "token", "reply")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    token: _customer_service_pb2.ReplyToken
    reply: _events_pb2.ReplyPublished
    def __init__(self, tenant_id: _Optional[str] = ..., token: _Optional[_Union[_customer_service_pb2.ReplyToken, _Mapping]] = ..., reply: _Optional[_Union[_events_pb2.ReplyPublished, _Mapping]] = ...) -> None: ...

class PushReplyResponse(_message.Message):
    __slots__ = ("delivered",)
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    delivered: int
    def __init__(self, delivered: _Optional[int] = ...) -> None: ...

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ResolveWidgetKeyRequest(_message.Message):
    __slots__ = ("widget_key", "origin")
    WIDGET_KEY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    widget_key: str
    origin: str
    def __init__(self, widget_key: _Optional[str] = ..., origin: _Optional[str] = ...) -> None: ...

class ResolveWidgetKeyResponse(_message.Message):
    __slots__ = ("tenant_id", "widget_key_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    WIDGET_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    widget_key_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., widget_key_id: _Optional[str] = ...) -> None: ...

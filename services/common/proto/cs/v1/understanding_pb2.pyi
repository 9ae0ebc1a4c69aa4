import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Polarity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLARITY_UNSPECIFIED: _ClassVar[Polarity]
    POLARITY_NEGATIVE: _ClassVar[Polarity]
    POLARITY_NEUTRAL: _ClassVar[Polarity]
    POLARITY_POSITIVE: _ClassVar[Polarity]

class Emotion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMOTION_UNSPECIFIED: _ClassVar[Emotion]
    EMOTION_NEUTRAL: _ClassVar[Emotion]
    EMOTION_ANGER: _ClassVar[Emotion]
    EMOTION_FRUSTRATION: _ClassVar[Emotion]
    EMOTION_SADNESS: _ClassVar[Emotion]
    EMOTION_JOY: _ClassVar[Emotion]
    EMOTION_ANXIETY: _ClassVar[Emotion]

class Trend(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TREND_UNSPECIFIED: _ClassVar[Trend]
    TREND_IMPROVING: _ClassVar[Trend]
    TREND_STABLE: _ClassVar[Trend]
    TREND_WORSENING: _ClassVar[Trend]
POLARITY_UNSPECIFIED: Polarity
POLARITY_NEGATIVE: Polarity
POLARITY_NEUTRAL: Polarity
POLARITY_POSITIVE: Polarity
EMOTION_UNSPECIFIED: Emotion
EMOTION_NEUTRAL: Emotion
EMOTION_ANGER: Emotion
EMOTION_FRUSTRATION: Emotion
EMOTION_SADNESS: Emotion
EMOTION_JOY: Emotion
EMOTION_ANXIETY: Emotion
TREND_UNSPECIFIED: Trend
TREND_IMPROVING: Trend
TREND_STABLE: Trend
TREND_WORSENING: Trend

class Understanding(_message.Message):
    __slots__ = ("language", "intent", "entities", "model_version", "latency_seconds", "tenant_model_version")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TENANT_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    language: str
    intent: Intent
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    model_version: str
    latency_seconds: float
    tenant_model_version: int
    def __init__(self, language: _Optional[str] = ..., intent: _Optional[_Union[Intent, _Mapping]] = ..., entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., model_version: _Optional[str] = ..., latency_seconds: _Optional[float] = ..., tenant_model_version: _Optional[int] = ...) -> None: ...

class Intent(_message.Message):
    __slots__ = ("label", "confidence", "out_of_scope", "alternatives")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    label: str
    confidence: float
    out_of_scope: bool
    alternatives: _containers.RepeatedCompositeFieldContainer[IntentScore]
    def __init__(self, label: _Optional[str] = ..., confidence: _Optional[float] = ..., out_of_scope: _Optional[bool] = ..., alternatives: _Optional[_Iterable[_Union[IntentScore, _Mapping]]] = ...) -> None: ...

class IntentScore(_message.Message):
    __slots__ = ("label", "confidence")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    label: str
    confidence: float
    def __init__(self, label: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("type", "text", "value", "start", "end")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    value: str
    start: int
    end: int
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., value: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class Sentiment(_message.Message):
    __slots__ = ("polarity", "score", "emotion", "intensity", "anger", "trend", "trend_slope", "model_version", "latency_seconds")
    POLARITY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    ANGER_FIELD_NUMBER: _ClassVar[int]
    TREND_FIELD_NUMBER: _ClassVar[int]
    TREND_SLOPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    polarity: Polarity
    score: float
    emotion: Emotion
    intensity: float
    anger: float
    trend: Trend
    trend_slope: float
    model_version: str
    latency_seconds: float
    def __init__(self, polarity: _Optional[_Union[Polarity, str]] = ..., score: _Optional[float] = ..., emotion: _Optional[_Union[Emotion, str]] = ..., intensity: _Optional[float] = ..., anger: _Optional[float] = ..., trend: _Optional[_Union[Trend, str]] = ..., trend_slope: _Optional[float] = ..., model_version: _Optional[str] = ..., latency_seconds: _Optional[float] = ...) -> None: ...

class Correction(_message.Message):
    __slots__ = ("intent", "polarity", "agent_id", "corrected_at", "model_intent", "model_version")
    INTENT_FIELD_NUMBER: _ClassVar[int]
    POLARITY_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_INTENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    intent: str
    polarity: Polarity
    agent_id: str
    corrected_at: _timestamp_pb2.Timestamp
    model_intent: str
    model_version: str
    def __init__(self, intent: _Optional[str] = ..., polarity: _Optional[_Union[Polarity, str]] = ..., agent_id: _Optional[str] = ..., corrected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_intent: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

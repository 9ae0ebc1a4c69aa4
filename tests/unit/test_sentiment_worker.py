"""The sentiment worker's mapping of the engine's results onto the contract."""

from __future__ import annotations

from services.common.proto.cs.v1 import understanding_pb2 as und
from services.sentiment.engine import EMOTIONS
from services.sentiment.worker import emotion_value


def test_every_emotion_the_engine_names_has_its_own_contract_value():
    values = {name: emotion_value(name) for name in EMOTIONS}
    assert values["anger"] == und.EMOTION_ANGER and values["joy"] == und.EMOTION_JOY
    assert len(set(values.values())) == len(EMOTIONS), values
    assert und.EMOTION_UNSPECIFIED not in values.values()


def test_an_emotion_the_contract_does_not_know_is_neutral():
    assert emotion_value("disgust") == und.EMOTION_NEUTRAL

"""Sentiment behaviour the routing policy depends on, in Chinese and English, and the trend rule.

Pinned: which messages are angry enough to escalate (anger >= the policy's 0.75 default), which
are calm (anger well below it), and the polarity sign. Not pinned: exact scores, which move with
every retrain. The engine comes from the stored model built from the current inputs (trained first
when missing).
"""

from __future__ import annotations

import re

import pytest

from services.common.ml.model_store import ModelStore
from services.sentiment.engine import SentimentEngine
from services.sentiment.training import ensure_model
from services.sentiment.trend import conversation_trend, slope

ESCALATION_ANGER = 0.75  # CS_POLICY_ANGER_THRESHOLD's default

ANGRY = [
    ("This is ridiculous, third time I'm asking and nobody answers!!!", "en"),
    ("You people are useless scammers, I want my money back NOW", "en"),
    ("你们这是什么破服务，垃圾！", "zh"),
    ("第三次问了，还是没人理我，气死了", "zh"),
    ("已经等了两个星期了还没发货，太过分了", "zh"),
]
CALM = [
    ("Where is my order 12345?", "en", "neutral"),
    ("How do I change my shipping address?", "en", "neutral"),
    ("Thanks so much, that solved it!", "en", "positive"),
    ("great, thanks for the quick help", "en", "positive"),
    ("我的快递到哪了", "zh", "neutral"),
    ("请问怎么修改收货地址", "zh", "neutral"),
    ("谢谢你，问题解决了，非常满意", "zh", "positive"),
]


@pytest.fixture(scope="module")
def engine() -> SentimentEngine:
    _, path = ensure_model(ModelStore(), require_latest=True)
    return SentimentEngine.load(path)


@pytest.mark.models
@pytest.mark.parametrize(("text", "language"), ANGRY)
def test_angry_messages_reach_the_escalation_threshold(engine, text, language):
    result = engine.analyze(text, language)
    assert result.polarity == "negative"
    assert result.anger >= ESCALATION_ANGER, result
    assert result.emotion in {"anger", "frustration"}


@pytest.mark.models
@pytest.mark.parametrize(("text", "language", "polarity"), CALM)
def test_calm_messages_stay_far_from_it(engine, text, language, polarity):
    result = engine.analyze(text, language)
    assert result.anger < 0.3, result
    assert result.polarity == polarity, result


@pytest.mark.models
def test_waiting_without_insults_is_frustration(engine):
    result = engine.analyze("I'm fed up with waiting for weeks", "en")
    assert result.polarity == "negative"
    assert result.emotion == "frustration"


@pytest.mark.models
def test_batch_gives_the_same_answers_as_one_by_one(engine):
    texts = [t for t, _ in ANGRY] + [t for t, _, _ in CALM]
    languages = [lang for _, lang in ANGRY] + [lang for _, lang, _ in CALM]
    batched = engine.analyze_many(texts, languages)
    for text, language, got in zip(texts, languages, batched):
        one = engine.analyze(text, language)
        assert (got.polarity, got.emotion) == (one.polarity, one.emotion)
        # Padding in a batch moves the encoding slightly; the anger head reads the embedding directly (the
        # emotion head's anger was scaled by p(negative)), so the same shift moves anger up to ~0.015.
        assert got.anger == pytest.approx(one.anger, abs=0.02)


@pytest.mark.models
def test_bad_input_is_refused_with_a_clear_error(engine):
    with pytest.raises(ValueError, match="languages"):
        engine.analyze_many(["a", "b"], ["en"])
    with pytest.raises(TypeError, match="expected str"):
        engine.analyze_many([b"bytes"], "en")
    assert engine.analyze_many([], "en") == []


def test_trend_needs_three_turns():
    assert conversation_trend([]) == ("stable", 0.0)
    assert conversation_trend([-0.9]) == ("stable", 0.0)
    # A neutral question after a neutral one (the demo's "how long does a refund take?") is no trend.
    trend, k = conversation_trend([-0.02, -0.23])
    assert trend == "stable" and k == pytest.approx(-0.21)


def test_a_conversation_going_sour_is_worsening():
    trend, k = conversation_trend([0.2, 0.0, -0.3, -0.6, -0.8])
    assert trend == "worsening"
    assert k == pytest.approx(-0.26)


def test_a_recovering_conversation_is_improving():
    assert conversation_trend([-0.8, -0.5, 0.1, 0.6])[0] == "improving"


def test_one_outlier_does_not_make_a_trend():
    assert conversation_trend([0.1, 0.0, -0.9, 0.1, 0.1])[0] == "stable"
    assert conversation_trend([0.0, 0.05, 0.0, 0.05])[0] == "stable"


def test_only_the_window_counts():
    # Early anger, five calm turns since: stable.
    assert conversation_trend([-0.9, -0.9, 0.0, 0.0, 0.0, 0.0, 0.0], window=5) == ("stable", 0.0)


def test_trend_refuses_scores_outside_the_scale_and_tiny_windows():
    with pytest.raises(ValueError, match=re.escape("outside -1..1")):
        conversation_trend([0.0, 3.0])
    with pytest.raises(ValueError, match="at least 2"):
        conversation_trend([0.0, 0.1], window=1)


def test_slope_is_least_squares():
    assert slope([0.0, 0.5, 1.0]) == pytest.approx(0.5)
    assert slope([1.0, 1.0]) == 0.0

"""The anger head (issue 16): a binary head stored as two classes, and how the engine combines it with the cues."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from services.common.ml.embeddings import DIM
from services.common.ml.ngrams import NgramVocabulary, stack_features
from services.sentiment import datasets
from services.sentiment.cues import EscalationCues
from services.sentiment.engine import SentimentEngine
from services.sentiment.heads import LinearHead, StackedHead

TEXTS = ["you are useless, fix it now", "thanks, that solved it", "this is a joke", "where is my parcel please"]


def _embeddings(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_binary_head_gives_the_probabilities_of_the_model_it_was_fitted_as():
    vocabulary = NgramVocabulary.fit(TEXTS, 1)
    x = stack_features(_embeddings(4), TEXTS, vocabulary)
    model = LogisticRegression(C=10.0, max_iter=1000).fit(x, [True, False, True, False])
    head = StackedHead.from_binary_sklearn(model, vocabulary, DIM, ("calm", "anger"))
    assert head.classes == ("calm", "anger")
    np.testing.assert_allclose(head.predict_proba(_embeddings(4), TEXTS), model.predict_proba(x), atol=1e-5)


def _engine(anger_bias: float | None) -> SentimentEngine:
    """Polarity always neutral, emotion always sadness, and an anger head that says only its bias."""
    polarity = StackedHead(
        ("negative", "neutral", "positive"),
        np.zeros((3, DIM), np.float32),
        np.zeros((3, 0), np.float32),
        np.array([0.0, 5.0, 0.0], np.float32),
        NgramVocabulary.empty(),
    )
    classes = ("anger", "disgust", "fear", "happiness", "like", "sadness", "surprise")
    emotion = LinearHead(classes, np.zeros((7, DIM), np.float32), np.array([0, 0, 0, 0, 0, 5, 0], np.float32))
    anger = None
    if anger_bias is not None:
        anger = StackedHead(
            ("calm", "anger"),
            np.zeros((2, DIM), np.float32),
            np.zeros((2, 0), np.float32),
            np.array([0.0, anger_bias], np.float32),
            NgramVocabulary.empty(),
        )
    return SentimentEngine(polarity, emotion, EscalationCues.load(), "test", anger=anger)  # the shared encoder


@pytest.mark.parametrize("text", ["where is my parcel please", "我想查一下物流"])
def test_the_anger_head_decides_the_models_share_of_anger(text):
    assert _engine(6.0).analyze(text, "und").anger > 0.99
    assert _engine(-6.0).analyze(text, "und").anger < 0.01
    assert _engine(None).analyze(text, "und").anger < 0.05  # without a head: the emotion head's anger, none here


def test_explicit_anger_cues_still_count_when_the_head_is_calm():
    assert _engine(-6.0).analyze("this is the worst service ever, you are useless!!!", "en").anger >= 0.5


def test_the_support_anger_messages_are_split_by_label_and_language_without_overlap():
    train, test = datasets.anger_support("train"), datasets.anger_support("test")
    assert not set(train.texts) & set(test.texts)
    assert len(train) + len(test) == 140
    for part in (train, test):
        assert {"anger", "calm"} == set(part.labels)

"""Informal phrasing: chat spelling normalised, informal training copies, character n-grams (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.ml.ngrams import CHAR_SCHEME, SCHEME, NgramVocabulary, terms_of
from services.intent.augment import informal_copies, informal_copy
from services.intent.normalise import normalise


@pytest.mark.parametrize(
    ("written", "standard"),
    [
        ("wheres my pkg pls", "where is my package please"),
        ("can u cancel b4 it ships", "can you cancel before it ships"),
        ("pay w apple pay?", "pay with apple pay?"),
        ("HUMAN PLS!!!", "HUMAN please!"),
        ("pw忘了咋办", "password忘了怎么办"),
        ("帐号咋注销", "账号怎么注销"),
    ],
)
def test_chat_spelling_is_rewritten_to_standard_spelling(written, standard):
    assert normalise(written) == standard


@pytest.mark.parametrize("text", ["Menu, your account", "order id 55231", "I'm ok", "thank you"])
def test_words_that_only_contain_a_chat_word_are_left_alone(text):
    assert normalise(text) == text


def test_informal_copies_drop_the_polite_frame_and_are_reproducible():
    texts = ["I would like to cancel my order, could you help me?", "could you help me to track my refund?"]
    first, again = informal_copies(texts, seed=3), informal_copies(texts, seed=3)
    assert first == again
    assert all(not copy.startswith(("i would like", "could you")) for copy in first)
    assert informal_copies(texts, seed=4) != first or len(set(first)) == len(first)


def test_an_informal_copy_keeps_the_words_a_typo_spares():
    copy = informal_copy("I want to change my shipping address", np.random.default_rng(0), typo_rate=0.0)
    assert "address" in copy and not copy.startswith("i want to")


def test_character_ngrams_let_a_misspelt_word_share_terms_with_the_right_one():
    right, typo = set(terms_of("cancel", CHAR_SCHEME)), set(terms_of("cancle", CHAR_SCHEME))
    assert {t for t in right & typo if t.startswith("c:")} >= {"c: ca", "c: can", "c:canc"}
    assert not any(t.startswith("c:") for t in terms_of("cancel", SCHEME))


def test_a_character_ngram_vocabulary_survives_storage():
    vocabulary = NgramVocabulary.fit(["cancel my order", "cancel order pls", "where is my order"], 1, CHAR_SCHEME)
    stored = vocabulary.to_arrays()
    loaded = NgramVocabulary.from_arrays(stored["ngram_scheme"], stored["ngram_terms"], stored["ngram_idf"])
    assert loaded.scheme == CHAR_SCHEME and loaded.terms == vocabulary.terms
    rows = loaded.transform(["cancle my ordr"])
    assert len(rows.indices) > 0

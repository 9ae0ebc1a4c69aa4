"""Sentiment evaluation helpers: balanced accuracy, and held-out review samples that stay held out."""

from __future__ import annotations

import pytest

from services.sentiment import datasets
from services.sentiment.evaluation import balanced_accuracy, binary_accuracy


def test_balanced_accuracy_gives_a_constant_answer_one_half_however_skewed_the_set():
    gold = ["positive"] * 8 + ["negative"] * 2
    always_positive = ["positive"] * 10
    assert binary_accuracy(always_positive, gold) == 0.8
    assert balanced_accuracy(always_positive, gold) == 0.5
    assert balanced_accuracy(gold, gold) == 1.0


@pytest.mark.parametrize("corpus", ["online-shopping", "hotels"])
def test_held_out_reviews_share_no_review_with_the_training_corpora_and_never_change(corpus):
    root = datasets.default_data_root()
    sample = datasets.held_out_reviews(root, corpus, size=300)
    assert len(sample) == 300 and set(sample.labels) == {"positive", "negative"}
    trained = {datasets.review_key(t) for t in datasets.chnsenticorp(root, "train").texts + datasets.waimai(root).texts}
    assert not trained & {datasets.review_key(t) for t in sample.texts}
    assert datasets.held_out_reviews(root, corpus, size=300).texts == sample.texts


def test_an_unknown_review_corpus_is_refused():
    with pytest.raises(ValueError, match="online-shopping"):
        datasets.held_out_reviews(datasets.default_data_root(), "movies", size=10)

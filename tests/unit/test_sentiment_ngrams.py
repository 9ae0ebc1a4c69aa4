"""The polarity head's n-gram features and its stored form: what training computes, the worker computes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from services.common.ml.ngrams import NgramVocabulary, ngrams
from services.sentiment.cues import DEFAULT_CUES_PATH
from services.sentiment.engine import (
    CUES_FILE,
    EMOTION_FILE,
    EMOTIONS,
    LEGACY_POLARITY_FILE,
    POLARITY_FILE,
    SentimentEngine,
)
from services.sentiment.heads import LinearHead, StackedHead

TEXTS = [
    "这家酒店服务很好，房间干净",
    "房间太小了，服务也不好！",
    "The room isn't clean, not good at all!!",
    "great service, the room is n't small",
    "物流很快 but the box was damaged",
]
CLASSES = ("negative", "neutral", "positive")
DIM = 4


class FixedEncoder:
    """Every text gets the same embedding, so only the n-grams tell texts apart."""

    def encode(self, texts):
        return np.tile(np.asarray([0.5, 0.5, 0.5, 0.5], dtype=np.float32), (len(texts), 1))


def _write_folder(folder, polarity_file: str, head) -> None:
    folder.mkdir()
    head.save(folder / polarity_file)
    rng = np.random.default_rng(0)
    emotion_classes = (*tuple(EMOTIONS), "disgust", "fear")
    LinearHead(
        emotion_classes,
        rng.normal(size=(len(emotion_classes), DIM)).astype(np.float32),
        np.zeros(len(emotion_classes), dtype=np.float32),
    ).save(folder / EMOTION_FILE)
    shutil.copyfile(DEFAULT_CUES_PATH, folder / CUES_FILE)


def test_chinese_gives_character_ngrams_and_english_words_without_a_language_code():
    terms = ngrams("不错! Isn't it")
    assert {"不", "错", "不错"} <= set(terms)
    assert {"w:!", "w:is", "w:not", "w:is not", "w:not it"} <= set(terms)
    assert ngrams("it isn't") == ngrams("it is n't")


def test_features_are_the_tfidf_scikit_learn_computes():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vocabulary = NgramVocabulary.fit(TEXTS, min_df=1)
    rows = vocabulary.transform(TEXTS)
    reference = TfidfVectorizer(analyzer=ngrams, sublinear_tf=True).fit(TEXTS)
    assert list(reference.get_feature_names_out()) == list(vocabulary.terms)
    expected = reference.transform(TEXTS).toarray()
    for i in range(len(TEXTS)):
        got = np.zeros(len(vocabulary))
        span = slice(rows.indptr[i], rows.indptr[i + 1])
        got[rows.indices[span]] = rows.weights[span]
        np.testing.assert_allclose(got, expected[i], atol=1e-6)


def test_min_df_drops_rare_terms_and_unknown_terms_are_ignored():
    vocabulary = NgramVocabulary.fit(TEXTS, min_df=2)
    assert "房间" in vocabulary.terms and "酒店" not in vocabulary.terms
    rows = vocabulary.transform(["完全陌生的词 zzz"])
    assert rows.indptr.tolist() == [0, 0]


def test_stacked_head_survives_its_file_and_scores_by_the_words(tmp_path):
    vocabulary = NgramVocabulary.fit(TEXTS, min_df=1)
    ngram_coef = np.zeros((3, len(vocabulary)), dtype=np.float32)
    ngram_coef[2, vocabulary.terms.index("好")] = 5.0
    ngram_coef[0, vocabulary.terms.index("不好")] = 10.0
    head = StackedHead(
        CLASSES, np.zeros((3, DIM), dtype=np.float32), ngram_coef, np.zeros(3, dtype=np.float32), vocabulary
    )
    head.save(tmp_path / POLARITY_FILE)
    loaded = StackedHead.load(tmp_path / POLARITY_FILE)
    assert loaded.vocabulary.terms == vocabulary.terms
    embeddings = FixedEncoder().encode(TEXTS[:2])
    np.testing.assert_allclose(loaded.predict_proba(embeddings, TEXTS[:2]), head.predict_proba(embeddings, TEXTS[:2]))
    good, bad = loaded.predict_proba(embeddings, TEXTS[:2])
    assert good.argmax() == 2 and bad.argmax() == 0


def test_a_version_built_before_the_ngrams_still_loads_so_rolling_back_works(tmp_path):
    coef = np.zeros((3, DIM), dtype=np.float32)
    coef[2] = 1.0
    _write_folder(tmp_path / "old", LEGACY_POLARITY_FILE, LinearHead(CLASSES, coef, np.zeros(3, dtype=np.float32)))
    engine = SentimentEngine.load(tmp_path / "old", encoder=FixedEncoder())
    assert engine.analyze("谢谢", "zh").score > 0


def test_a_folder_without_polarity_weights_is_refused_with_the_rebuild_command(tmp_path):
    _write_folder(
        tmp_path / "broken",
        "unrelated.npz",
        LinearHead(CLASSES, np.zeros((3, DIM), dtype=np.float32), np.zeros(3, dtype=np.float32)),
    )
    with pytest.raises(FileNotFoundError, match="--force"):
        SentimentEngine.load(tmp_path / "broken", encoder=FixedEncoder())


def test_a_vocabulary_built_for_other_features_is_refused(tmp_path):
    arrays = NgramVocabulary.fit(TEXTS, min_df=1).to_arrays()
    with pytest.raises(ValueError, match="rebuild the model"):
        NgramVocabulary.from_arrays(np.asarray("zh-chars-1-2/v0"), arrays["ngram_terms"], arrays["ngram_idf"])

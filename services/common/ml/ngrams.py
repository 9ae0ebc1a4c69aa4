"""Sparse n-gram features beside the sentence embedding: Chinese characters and English words.

Used by the sentiment polarity head and the intent head. The sentence encoder gives a message's
gist but blurs the exact words a decision turns on (不错 / 不好, "not bad", "top up" vs "top-up
failed"); a TF-IDF bag of n-grams keeps them. Chinese needs no word segmenter: runs of
Chinese characters give their 1-, 2- and 3-grams. English words (lower-cased, "n't" read as "not"
so "isn't" and SST-2's "is n't" agree) give unigrams and bigrams, with "!" and "?" as words.
Both languages share one vocabulary, so a message needs no language code.

Weights are sublinear TF-IDF, L2-normalised per text (scikit-learn's TfidfVectorizer with
sublinear_tf and smooth_idf); the vocabulary and its idf are stored as plain arrays, and the same
code computes the features in training and in the worker, so the two can never disagree.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

CHINESE_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
ENGLISH_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?]")
_NOT = re.compile(r"n't\b")
CHINESE_MAX_N = 3
# Names what `ngrams` produces. Stored with every vocabulary and checked on load, and part of the
# model fingerprint: change it whenever `ngrams` changes, or stored heads would read other terms.
SCHEME = "zh-chars-1-3+en-words-1-2/v1"
# The same plus Latin character 3-5-grams of each word (with its edges: " canc", "cel "), which a
# misspelt word still shares most of with the right one ("cancle" / "cancel", "invoce" / "invoice").
# The intent head reads these; the sentiment head keeps `SCHEME`.
CHAR_SCHEME = "zh-chars-1-3+en-words-1-2+en-chars-3-5/v1"
SCHEMES = (SCHEME, CHAR_SCHEME)
_LATIN_WORD = re.compile(r"[a-z]+")
CHAR_MIN_N, CHAR_MAX_N = 3, 5
# Terms never contain a newline (neither pattern matches one), so the vocabulary is stored as one
# newline-joined string.
_SEPARATOR = "\n"


def ngrams(text: str) -> list[str]:
    """The terms of one text: Chinese character 1-3-grams, then English "w:" word 1-2-grams."""
    text = text.lower()
    terms: list[str] = []
    for run in CHINESE_RUN.findall(text):
        for n in range(1, CHINESE_MAX_N + 1):
            terms.extend(run[i : i + n] for i in range(len(run) - n + 1))
    words = ENGLISH_WORD.findall(_NOT.sub(" not", text))
    terms.extend(f"w:{w}" for w in words)
    terms.extend(f"w:{a} {b}" for a, b in itertools.pairwise(words))
    return terms


def terms_of(text: str, scheme: str = SCHEME) -> list[str]:
    """The terms `scheme` reads in one text: `ngrams`, and for `CHAR_SCHEME` also "c:" character n-grams."""
    terms = ngrams(text)
    if scheme == CHAR_SCHEME:
        for word in _LATIN_WORD.findall(text.lower()):
            padded = f" {word} "
            for n in range(CHAR_MIN_N, min(CHAR_MAX_N, len(padded)) + 1):
                terms.extend(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    elif scheme != SCHEME:
        raise ValueError(f"unknown n-gram scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    return terms


@dataclasses.dataclass(frozen=True)
class SparseRows:
    """Feature rows in CSR layout: row i is columns indices[indptr[i]:indptr[i+1]] with weights."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def to_csr(self, n_columns: int):
        """As a scipy CSR matrix with `n_columns` columns (the vocabulary size)."""
        from scipy.sparse import csr_matrix

        return csr_matrix((self.weights, self.indices, self.indptr), shape=(len(self), n_columns))

    def add_products(self, logits: np.ndarray, term_weights: np.ndarray) -> np.ndarray:
        """logits[i] += row i @ term_weights (one weight row per vocabulary term), in place; returns logits.

        A head's hot path: gathering a text's few term rows is cheaper than a scipy product per message.
        """
        for i in range(len(self)):
            span = slice(self.indptr[i], self.indptr[i + 1])
            logits[i] += self.weights[span] @ term_weights[self.indices[span]]
        return logits


@dataclasses.dataclass(frozen=True)
class NgramVocabulary:
    """The n-gram terms a head has weights for, each with its inverse document frequency."""

    terms: tuple[str, ...]
    idf: np.ndarray
    scheme: str = SCHEME
    _index: dict[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.idf.shape != (len(self.terms),):
            raise ValueError(f"vocabulary has {len(self.terms)} terms but {self.idf.shape} idf values")
        object.__setattr__(self, "_index", {term: i for i, term in enumerate(self.terms)})

    def __len__(self) -> int:
        return len(self.terms)

    @classmethod
    def empty(cls) -> NgramVocabulary:
        return cls((), np.zeros(0, dtype=np.float32))

    @classmethod
    def fit(cls, texts: Iterable[str], min_df: int, scheme: str = SCHEME) -> NgramVocabulary:
        """Terms (of `scheme`) found in at least `min_df` texts, in sorted order, with smoothed idf."""
        document_frequency: Counter[str] = Counter()
        n_texts = 0
        for text in texts:
            document_frequency.update(set(terms_of(text, scheme)))
            n_texts += 1
        terms = tuple(sorted(t for t, df in document_frequency.items() if df >= min_df))
        df = np.fromiter((document_frequency[t] for t in terms), dtype=np.float64, count=len(terms))
        idf = np.log((1.0 + n_texts) / (1.0 + df)) + 1.0
        return cls(terms, idf.astype(np.float32), scheme)

    def transform(self, texts: Sequence[str]) -> SparseRows:
        """Sublinear TF-IDF rows, L2-normalised; terms outside the vocabulary are ignored."""
        indptr = [0]
        indices: list[int] = []
        weights: list[float] = []
        for text in texts:
            counts = Counter(i for i in map(self._index.get, terms_of(text, self.scheme)) if i is not None)
            row = sorted(counts)
            values = [(1.0 + math.log(counts[i])) * float(self.idf[i]) for i in row]
            norm = math.sqrt(sum(v * v for v in values)) or 1.0
            indices.extend(row)
            weights.extend(v / norm for v in values)
            indptr.append(len(indices))
        return SparseRows(
            np.asarray(indptr, dtype=np.int64),
            np.asarray(indices, dtype=np.int64),
            np.asarray(weights, dtype=np.float32),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        encoded = _SEPARATOR.join(self.terms).encode("utf-8")
        return {
            "ngram_scheme": np.asarray(self.scheme),
            "ngram_terms": np.frombuffer(encoded, dtype=np.uint8),
            "ngram_idf": self.idf,
        }

    @classmethod
    def from_arrays(cls, scheme: np.ndarray, terms: np.ndarray, idf: np.ndarray) -> NgramVocabulary:
        if str(scheme) not in SCHEMES:
            raise ValueError(
                f"the n-gram vocabulary was built for features {str(scheme)!r}, this code computes "
                f"{' or '.join(SCHEMES)}; rebuild the model (its service's training command with --promote)"
            )
        text = terms.tobytes().decode("utf-8")
        return cls(tuple(text.split(_SEPARATOR)) if text else (), np.asarray(idf, dtype=np.float32), str(scheme))


def stack_features(embeddings: np.ndarray, texts: Sequence[str], vocabulary: NgramVocabulary | None):
    """A head's input rows: the embeddings alone (no vocabulary), or [embedding | n-gram TF-IDF] as CSR.

    Training, evaluation and the workers all build rows here, so they can never disagree.
    """
    if vocabulary is None or not len(vocabulary):
        return embeddings
    if len(texts) != len(embeddings):
        raise ValueError(f"{len(embeddings)} embeddings for {len(texts)} texts; pass one text per embedding")
    from scipy.sparse import csr_matrix, hstack

    return hstack([csr_matrix(embeddings), vocabulary.transform(texts).to_csr(len(vocabulary))], format="csr")

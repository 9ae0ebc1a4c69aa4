"""Linear softmax classifiers over sentence embeddings (and n-grams), stored as plain arrays.

The heads are trained with scikit-learn but saved as weight matrices in `.npz` files (no pickle),
so a worker loads them with numpy alone, a model folder can be inspected, and loading never runs
code from disk.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from services.common.ml.ngrams import NgramVocabulary


@dataclasses.dataclass(frozen=True)
class LinearHead:
    """softmax(X @ coef.T + intercept) over `classes`."""

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray

    def __post_init__(self) -> None:
        if (
            self.coef.ndim != 2
            or self.coef.shape[0] != len(self.classes)
            or self.intercept.shape != (len(self.classes),)
        ):
            raise ValueError(f"head has {len(self.classes)} classes but weights of shape {self.coef.shape}")

    @classmethod
    def from_sklearn(cls, model, class_names: dict | None = None) -> LinearHead:
        """From a fitted multinomial LogisticRegression; `class_names` maps its labels to names."""
        names = tuple(str(class_names[c]) if class_names else str(c) for c in model.classes_)
        if len(names) < 3:
            raise ValueError("LinearHead needs a multinomial model with three or more classes")
        return cls(names, np.asarray(model.coef_, dtype=np.float32), np.asarray(model.intercept_, dtype=np.float32))

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def column(self, name: str) -> int:
        return self.classes.index(name)

    def save(self, path: pathlib.Path) -> None:
        np.savez(path, classes=np.asarray(self.classes), coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: pathlib.Path) -> LinearHead:
        _require_weights(path)
        with np.load(path, allow_pickle=False) as data:
            return cls(tuple(str(c) for c in data["classes"]), data["coef"], data["intercept"])


@dataclasses.dataclass(frozen=True)
class StackedHead:
    """One linear softmax over a text's sentence embedding and its n-gram TF-IDF features.

    The embedding carries meaning across languages and paraphrases; the n-grams carry the exact
    words a review turns on. Fitted together, so each weighs what the other misses.
    """

    classes: tuple[str, ...]
    coef: np.ndarray
    ngram_coef: np.ndarray
    intercept: np.ndarray
    vocabulary: NgramVocabulary
    _term_weights: np.ndarray = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        k = len(self.classes)
        if self.coef.ndim != 2 or self.coef.shape[0] != k or self.intercept.shape != (k,):
            raise ValueError(f"head has {k} classes but embedding weights of shape {self.coef.shape}")
        if self.ngram_coef.shape != (k, len(self.vocabulary)):
            raise ValueError(
                f"head has {k} classes and {len(self.vocabulary)} n-grams "
                f"but n-gram weights of shape {self.ngram_coef.shape}"
            )
        # Row-per-term copy: a text's few terms are gathered as rows.
        object.__setattr__(self, "_term_weights", np.ascontiguousarray(self.ngram_coef.T))

    @classmethod
    def from_sklearn(cls, model, vocabulary: NgramVocabulary, embedding_dim: int) -> StackedHead:
        """From a multinomial LogisticRegression fitted on [embedding | n-gram features] columns."""
        if len(model.classes_) < 3:
            raise ValueError("StackedHead needs a multinomial model with three or more classes")
        coef = np.asarray(model.coef_, dtype=np.float32)
        if coef.shape[1] != embedding_dim + len(vocabulary):
            raise ValueError(f"model has {coef.shape[1]} features, expected {embedding_dim} + {len(vocabulary)}")
        return cls(
            tuple(str(c) for c in model.classes_),
            coef[:, :embedding_dim],
            coef[:, embedding_dim:],
            np.asarray(model.intercept_, dtype=np.float32),
            vocabulary,
        )

    @classmethod
    def from_binary_sklearn(
        cls, model, vocabulary: NgramVocabulary, embedding_dim: int, names: tuple[str, str]
    ) -> StackedHead:
        """From a binary LogisticRegression on [embedding | n-gram] columns, as two classes (`names`: the
        negative class, then the positive one): softmax over logits (0, z) is the model's sigmoid(z)."""
        coef = np.asarray(model.coef_, dtype=np.float32)
        if coef.shape != (1, embedding_dim + len(vocabulary)):
            raise ValueError(f"model has weights {coef.shape}, expected (1, {embedding_dim} + {len(vocabulary)})")
        both = np.vstack([np.zeros_like(coef), coef])
        intercept = np.asarray([0.0, float(model.intercept_[0])], dtype=np.float32)
        return cls(names, both[:, :embedding_dim], both[:, embedding_dim:], intercept, vocabulary)

    @classmethod
    def from_linear(cls, head: LinearHead) -> StackedHead:
        """An embedding-only head (model versions built before n-grams) with no n-gram weights."""
        empty = np.zeros((len(head.classes), 0), dtype=np.float32)
        return cls(head.classes, head.coef, empty, head.intercept, NgramVocabulary.empty())

    def predict_proba(self, embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
        logits = embeddings @ self.coef.T + self.intercept
        self.vocabulary.transform(texts).add_products(logits, self._term_weights)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, path: pathlib.Path) -> None:
        np.savez_compressed(
            path,
            classes=np.asarray(self.classes),
            coef=self.coef,
            ngram_coef=self.ngram_coef,
            intercept=self.intercept,
            **self.vocabulary.to_arrays(),
        )

    @classmethod
    def load(cls, path: pathlib.Path) -> StackedHead:
        _require_weights(path)
        with np.load(path, allow_pickle=False) as data:
            vocabulary = NgramVocabulary.from_arrays(data["ngram_scheme"], data["ngram_terms"], data["ngram_idf"])
            return cls(
                tuple(str(c) for c in data["classes"]), data["coef"], data["ngram_coef"], data["intercept"], vocabulary
            )


def _require_weights(path: pathlib.Path) -> None:
    """A missing weights file says how to rebuild, instead of numpy's bare file error."""
    if not path.exists():
        raise FileNotFoundError(
            f"classifier weights {path} are missing; rebuild the model with "
            "`python -m services.sentiment.training --promote --force`"
        )

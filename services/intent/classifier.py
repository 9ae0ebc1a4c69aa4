"""The intent head: a softmax over sentence embeddings and n-grams, with calibrated confidence and "don't know".

The shared multilingual encoder puts a Chinese message near its English paraphrase, so a linear
softmax trained mostly on English customer-service data (plus a few hundred Chinese examples)
classifies both languages. Beside the embedding the head reads the message's Chinese character and
English word n-grams (TF-IDF, `services/common/ml/ngrams.py`): the embedding blurs the exact words
that separate close intents ("top up" / "top-up failed"), the n-grams keep them (the README's
"Measuring it" compares the two). A head without a vocabulary (embedding only) still loads, so
rolling back to a version built before the n-grams works.

The head is stored as plain numpy arrays and applied with numpy/scipy: no pickled scikit-learn
object to break on upgrade, and nothing to lock for concurrent reads.

Out of scope is decided two ways, both learned from held-out data at training time:
- the head has an explicit `out_of_scope` class, trained on off-topic messages;
- a message whose best in-scope intent is less likely than `threshold` (after temperature
  scaling) is also out of scope: the caller gets an explicit "don't know" rather than a guess.
"""

from __future__ import annotations

import io
import json
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.common.ml.ngrams import NgramVocabulary, stack_features
from services.intent import normalise

OUT_OF_SCOPE = "out_of_scope"
# The ModelStore kind the intent model is stored under.
MODEL_KIND = "intent"
HEAD_FILE = "intent_head.npz"
META_FILE = "model.json"


@dataclass(frozen=True)
class IntentPrediction:
    """What the customer wants.

    `label` is an intent, or "out_of_scope" when the model does not know (then `confidence` is the
    probability that none of the intents applies, and `alternatives` still lists the closest
    intents so a policy can ask a clarifying question). Otherwise `confidence` is the calibrated
    probability of `label` and `alternatives` the next most likely intents.
    """

    label: str
    confidence: float
    out_of_scope: bool
    alternatives: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Decisions:
    """Vectorised decisions for a batch: best in-scope intent, its probability, out-of-scope flag."""

    best: np.ndarray
    confidence: np.ndarray
    out_of_scope: np.ndarray


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def decide(probabilities: np.ndarray, oos_index: int, threshold: float) -> Decisions:
    """The decision rule, shared by prediction and by threshold selection during training."""
    in_scope = probabilities.copy()
    in_scope[:, oos_index] = -1.0
    best = in_scope.argmax(axis=1)
    confidence = in_scope[np.arange(len(best)), best]
    oos = (probabilities[:, oos_index] > confidence) | (confidence < threshold)
    return Decisions(best, confidence, oos)


class IntentClassifier:
    """Linear softmax head over feature rows (see `features`); immutable after construction.

    `vocabulary` is the n-gram vocabulary whose TF-IDF columns follow the embedding's in `weights`;
    None for an embedding-only head (or one evaluated on a feature matrix built elsewhere).
    """

    def __init__(
        self,
        labels: Sequence[str],
        weights: np.ndarray,
        bias: np.ndarray,
        temperature: float,
        threshold: float,
        encoder: str,
        alternatives: int = 3,
        vocabulary: NgramVocabulary | None = None,
        normaliser: str = "",
    ) -> None:
        if OUT_OF_SCOPE not in labels:
            raise ValueError(f"intent head labels must include {OUT_OF_SCOPE!r}; retrain the intent model")
        if weights.shape[0] != len(labels) or bias.shape != (len(labels),):
            raise ValueError(
                f"intent head has {weights.shape[0]} weight rows and {bias.shape} biases for {len(labels)} "
                "labels; the model files are inconsistent, retrain the intent model"
            )
        if normaliser not in ("", normalise.SCHEME):
            raise ValueError(
                f"intent head was trained on texts spelled by {normaliser!r}, this code knows {normalise.SCHEME!r}; "
                "retrain the intent model"
            )
        self.normaliser = normaliser
        self.labels = tuple(labels)
        self.oos_index = self.labels.index(OUT_OF_SCOPE)
        self.weights = np.ascontiguousarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.temperature = float(temperature)
        self.threshold = float(threshold)
        self.encoder = encoder
        self.alternatives = alternatives
        self.vocabulary = vocabulary if vocabulary is not None and len(vocabulary) else None
        self._embedding_dim = self.weights.shape[1] - (len(self.vocabulary) if self.vocabulary else 0)
        if self._embedding_dim <= 0:
            raise ValueError(
                f"intent head has {self.weights.shape[1]} weight columns, too few for {len(self.vocabulary)} n-grams "
                "plus an embedding; the model files are inconsistent, retrain the intent model"
            )
        # The worker's path (predict_texts) gathers a text's few n-gram rows from these instead of
        # building a scipy matrix per message, which costs more than the rest of the head together.
        self._embedding_weights = np.ascontiguousarray(self.weights[:, : self._embedding_dim].T)
        self._term_weights = np.ascontiguousarray(self.weights[:, self._embedding_dim :].T)

    @property
    def intents(self) -> tuple[str, ...]:
        """The in-scope intents this head can return."""
        return tuple(label for label in self.labels if label != OUT_OF_SCOPE)

    def prepare(self, texts: Sequence[str]) -> list[str]:
        """The texts as this head was trained to read them (chat spelling normalised when it was trained so);
        embed and predict these, not the raw texts."""
        if self.normaliser:
            return [normalise.normalise(text) for text in texts]
        return list(texts)

    def features(self, embeddings: np.ndarray, texts: Sequence[str]):
        """The rows this head reads for these texts (given their embeddings)."""
        return stack_features(np.atleast_2d(embeddings), texts, self.vocabulary)

    def logits(self, features) -> np.ndarray:
        """features: rows from `features` (or a dense / scipy sparse matrix as wide as the weights)."""
        if features.shape[1] != self.weights.shape[1]:
            raise ValueError(
                f"intent head expects {self.weights.shape[1]} feature columns, got {features.shape[1]}"
                + ("; build rows with IntentClassifier.features(embeddings, texts)" if self.vocabulary else "")
            )
        return np.asarray(features @ self.weights.T) + self.bias

    def probabilities(self, features) -> np.ndarray:
        """Calibrated class probabilities, one row per feature row, columns in `labels` order."""
        return softmax(self.logits(features) / self.temperature)

    def predict_texts(self, embeddings: np.ndarray, texts: Sequence[str]) -> list[IntentPrediction]:
        """Predictions for texts, given their embeddings (what the engine calls); same as predict(features(...))."""
        embeddings = np.atleast_2d(embeddings)
        if len(texts) != len(embeddings):
            raise ValueError(f"{len(embeddings)} embeddings for {len(texts)} texts; pass one text per embedding")
        if embeddings.shape[1] != self._embedding_dim:
            raise ValueError(
                f"intent head expects {self._embedding_dim}-dimensional embeddings, got {embeddings.shape[1]}"
            )
        logits = embeddings @ self._embedding_weights + self.bias
        if self.vocabulary is not None:
            self.vocabulary.transform(texts).add_products(logits, self._term_weights)
        return self._decide(softmax(logits / self.temperature))

    def predict(self, features) -> list[IntentPrediction]:
        if isinstance(features, np.ndarray):
            features = np.atleast_2d(features)
        return self._decide(self.probabilities(features))

    def _decide(self, probabilities: np.ndarray) -> list[IntentPrediction]:
        decisions = decide(probabilities, self.oos_index, self.threshold)
        return [
            self._prediction(row, int(best), float(conf), bool(oos))
            for row, best, conf, oos in zip(probabilities, decisions.best, decisions.confidence, decisions.out_of_scope)
        ]

    def _prediction(self, row: np.ndarray, best: int, confidence: float, oos: bool) -> IntentPrediction:
        ranked = [i for i in np.argsort(-row) if i != self.oos_index]
        if oos:
            shown = ranked[: self.alternatives]
            return IntentPrediction(OUT_OF_SCOPE, round(1.0 - confidence, 4), True, self._pairs(row, shown))
        shown = [i for i in ranked if i != best][: self.alternatives]
        return IntentPrediction(self.labels[best], round(confidence, 4), False, self._pairs(row, shown))

    def _pairs(self, row: np.ndarray, indices: Sequence[int]) -> tuple[tuple[str, float], ...]:
        return tuple((self.labels[i], round(float(row[i]), 4)) for i in indices)

    def save(self, folder: pathlib.Path, metadata: dict) -> None:
        """Write the head (numpy arrays) and its description (JSON) into `folder`."""
        ngram_arrays = self.vocabulary.to_arrays() if self.vocabulary is not None else {}
        np.savez_compressed(folder / HEAD_FILE, weights=self.weights, bias=self.bias, **ngram_arrays)
        description = {
            **metadata,
            "labels": list(self.labels),
            "temperature": self.temperature,
            "threshold": self.threshold,
            "encoder": self.encoder,
            "features": f"embedding+ngrams:{ngram_arrays['ngram_scheme']}" if ngram_arrays else "embedding",
            "normaliser": self.normaliser,
        }
        (folder / META_FILE).write_text(json.dumps(description, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: pathlib.Path) -> IntentClassifier:
        folder = pathlib.Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            with np.load(folder / HEAD_FILE, allow_pickle=False) as arrays:
                return cls._from_arrays(meta, arrays)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"intent model folder {folder} is incomplete ({exc.filename} missing); rebuild it with "
                "`python -m services.intent.training --promote --force`"
            ) from None

    @classmethod
    def from_bytes(cls, head: bytes, meta: dict) -> IntentClassifier:
        """A head stored as data rather than as a folder (a tenant's model in the database): the bytes
        of HEAD_FILE and the object of META_FILE, as `save` writes them."""
        with np.load(io.BytesIO(head), allow_pickle=False) as arrays:
            return cls._from_arrays(meta, arrays)

    @classmethod
    def _from_arrays(cls, meta: dict, arrays) -> IntentClassifier:
        vocabulary = (
            NgramVocabulary.from_arrays(arrays["ngram_scheme"], arrays["ngram_terms"], arrays["ngram_idf"])
            if "ngram_scheme" in arrays
            else None
        )  # None: an embedding-only head
        return cls(
            meta["labels"],
            arrays["weights"],
            arrays["bias"],
            meta["temperature"],
            meta["threshold"],
            meta["encoder"],
            vocabulary=vocabulary,
            normaliser=meta.get("normaliser", ""),
        )


def read_metadata(folder: pathlib.Path) -> dict:
    """The JSON written next to the head: labels, threshold, metrics, version, training settings."""
    return json.loads((pathlib.Path(folder) / META_FILE).read_text(encoding="utf-8"))

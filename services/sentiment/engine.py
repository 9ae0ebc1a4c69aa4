"""The sentiment engine: polarity, emotion and an escalation-ready anger score for one message.

Three signals, each doing what it is good at:

- a polarity classifier (negative / neutral / positive): one linear model over the shared
  multilingual sentence embedding, which lets English training transfer to Chinese and back, and
  Chinese character / English word n-grams (`services/common/ml/ngrams.py`), which keep the words reviews turn on;
  trained on English and Chinese reviews plus neutral support requests;
- an emotion classifier over the same embeddings (Chinese Weibo emotions), for sadness, joy,
  fear and a weak anger signal;
- explicit escalation cues (`cues.py`): insults, "third time", 投诉, ALL CAPS, "!!!", which the
  review-trained classifiers barely see but which decide whether a human should step in.

The anger score is a noisy-OR of the cue evidence (discounted when the message is clearly
positive) and the classifiers' anger (weighted by how negative the message is). The engine knows
nothing of Kafka or gRPC; the worker calls it.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from services.common.ml.embeddings import shared_encoder
from services.common.ml.model_store import ModelStore
from services.sentiment.cues import CueMatch, EscalationCues
from services.sentiment.heads import LinearHead, StackedHead

MODEL_KIND = "sentiment"
POLARITY_FILE = "polarity_stacked.npz"
# Embedding-only polarity head of versions built before the n-grams; still loaded, so rolling
# back to one works. New versions use another file name, so an older worker refuses them
# (and keeps serving its version) instead of reading half a head.
LEGACY_POLARITY_FILE = "polarity.npz"
EMOTION_FILE = "emotion.npz"
# Anger or frustration vs the rest, trained for escalation (versions built before issue 16 have none:
# their anger comes from the emotion head, as before).
ANGER_FILE = "anger.npz"
CUES_FILE = "escalation_cues.json"
EMOTIONS = ("neutral", "anger", "frustration", "sadness", "joy", "anxiety")


class Encoder(Protocol):
    """What the engine needs from a sentence encoder (services.common.ml.embeddings.SentenceEncoder)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclasses.dataclass(frozen=True)
class SentimentResult:
    """One message's sentiment.

    score is p(positive) - p(negative) in [-1, 1], pulled down to at most -anger when explicit
    anger outweighs the classifier's positivity. anger (0..1) covers anger and frustration alike:
    it is what escalation rules compare with a threshold. cues names the escalation cues found,
    so a supervisor can see why a conversation was flagged.
    """

    polarity: str
    score: float
    emotion: str
    intensity: float
    anger: float
    latency_seconds: float
    cues: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    """Thresholds; defaults were chosen on the hand-written support messages in the unit tests.

    neutral_band: |score| below this is neutral (0.3 is p(positive | polar) between 0.35 and 0.65).
    anger_threshold: anger from which the emotion is reported as anger or frustration.
    shouting_weight: how much each shouting cue (!!!, ALL CAPS) adds, only in a negative context.
    positive_discount: how much a clearly positive message discounts cue words ("worst day ever,
        but you saved it, thanks!").
    """

    neutral_band: float = 0.3
    anger_threshold: float = 0.5
    shouting_weight: float = 0.2
    positive_discount: float = 0.6


def load_polarity_head(path: pathlib.Path) -> StackedHead:
    """The polarity head of a model folder, stacked or (older versions) embedding-only."""
    if not (path / POLARITY_FILE).exists() and (path / LEGACY_POLARITY_FILE).exists():
        return StackedHead.from_linear(LinearHead.load(path / LEGACY_POLARITY_FILE))
    return StackedHead.load(path / POLARITY_FILE)


class SentimentEngine:
    """Loads a trained model folder once; `analyze` is thread-safe (the encoder locks itself)."""

    def __init__(
        self,
        polarity: StackedHead,
        emotion: LinearHead,
        cues: EscalationCues,
        version: str,
        encoder: Encoder | None = None,
        settings: EngineSettings = EngineSettings(),
        anger: StackedHead | None = None,
    ) -> None:
        if polarity.classes != ("negative", "neutral", "positive"):
            raise ValueError(f"polarity head classes {polarity.classes} are not negative/neutral/positive; retrain")
        self.version = version
        self.settings = settings
        self._polarity = polarity
        self._emotion = emotion
        self._cues = cues
        self._encoder = encoder
        self._emotion_cols = {name: emotion.column(name) for name in ("anger", "disgust", "sadness", "fear")}
        if anger is not None and anger.classes != ("calm", "anger"):
            raise ValueError(f"anger head classes {anger.classes} are not calm/anger; retrain")
        self._anger_head = anger

    @classmethod
    def load(
        cls,
        path: pathlib.Path,
        encoder: Encoder | None = None,
        settings: EngineSettings = EngineSettings(),
    ) -> SentimentEngine:
        """From a model folder built by `services.sentiment.training`.

        The folder carries its own copy of the cue lexicon, so a version always behaves the same;
        edits to `data/escalation_cues.json` take effect with the next build.
        """
        path = pathlib.Path(path)
        complete = path / ".complete"
        version = complete.read_text().strip() if complete.exists() else path.name
        return cls(
            load_polarity_head(path),
            LinearHead.load(path / EMOTION_FILE),
            EscalationCues.load(path / CUES_FILE),
            version,
            encoder,
            settings,
            StackedHead.load(path / ANGER_FILE) if (path / ANGER_FILE).exists() else None,
        )

    @classmethod
    def from_store(
        cls,
        store: ModelStore,
        encoder: Encoder | None = None,
        settings: EngineSettings = EngineSettings(),
    ) -> SentimentEngine:
        current = store.current(MODEL_KIND)
        if current is None:
            raise FileNotFoundError(
                f"no promoted sentiment model under {store.root / MODEL_KIND}; "
                "build one with `python -m services.sentiment.training --promote`"
            )
        return cls.load(current[1], encoder, settings)

    def analyze(self, text: str, language: str) -> SentimentResult:
        return self.analyze_many([text], language)[0]

    def analyze_many(self, texts: Sequence[str], languages: str | Sequence[str]) -> list[SentimentResult]:
        """Batch analysis (one encoder call); `languages` is one code for all or one per text.

        latency_seconds of each result is the batch time divided by the batch size.
        """
        started = time.perf_counter()
        if isinstance(languages, str):
            languages = [languages] * len(texts)
        if len(languages) != len(texts):
            raise ValueError(
                f"got {len(texts)} texts but {len(languages)} languages; pass one language or one per text"
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, expected str")
        if not texts:
            return []
        encoder = self._encoder or shared_encoder()
        embeddings = encoder.encode(list(texts))
        polarity = self._polarity.predict_proba(embeddings, list(texts))
        emotion = self._emotion.predict_proba(embeddings)
        learned = self._anger_head.predict_proba(embeddings, list(texts))[:, 1] if self._anger_head else None
        parts = [
            self._combine(
                polarity[i],
                emotion[i],
                self._cues.match(text, languages[i]),
                learned[i] if learned is not None else None,
            )
            for i, text in enumerate(texts)
        ]
        latency = (time.perf_counter() - started) / len(texts)
        return [dataclasses.replace(part, latency_seconds=latency) for part in parts]

    def _combine(
        self, polarity: np.ndarray, emotion: np.ndarray, cue: CueMatch, learned_anger: float | None = None
    ) -> SentimentResult:
        p_negative, _, p_positive = (float(p) for p in polarity)
        cue_anger = self._cue_anger(p_negative, p_positive, cue)
        anger = self._anger(p_negative, p_positive, emotion, cue_anger, learned_anger)
        score = p_positive - p_negative
        # Only explicit anger (the cues) overrides the polarity classifier. The emotion head's
        # anger is a weak signal: letting it pull the score down flips mixed but positive reviews
        # to negative. It still counts in `anger`, which is what escalation reads.
        if cue_anger > max(score, 0.0):
            score = min(score, -anger)
        label = self._polarity_label(score)
        return SentimentResult(
            polarity=label,
            score=float(np.clip(score, -1.0, 1.0)),
            emotion=self._emotion_label(label, anger, emotion, cue),
            intensity=float(min(1.0, max(abs(score), anger))),
            anger=float(anger),
            latency_seconds=0.0,
            cues=cue.matched,
        )

    def _cue_anger(self, p_negative: float, p_positive: float, cue: CueMatch) -> float:
        """The explicit anger of the cues (shouting counts when there is other evidence), discounted when positive."""
        s = self.settings
        keep = 1.0 - cue.lexical_anger
        if cue.shouting and (cue.lexical_anger > 0 or p_negative > 0.5):
            keep *= (1.0 - s.shouting_weight) ** min(cue.shouting, 3)
        return (1.0 - keep) * (1.0 - s.positive_discount * p_positive)

    def _anger(
        self, p_negative: float, p_positive: float, emotion: np.ndarray, cue_anger: float, learned: float | None
    ) -> float:
        """Noisy-OR of the cues and the model: the anger head where the version has one (discounted, like the
        cues, when the message is clearly positive: "thanks so much, that solved it!"), else the emotion
        head's anger and disgust weighted by how negative the message is."""
        if learned is not None:
            model_anger = float(learned) * (1.0 - self.settings.positive_discount * p_positive)
        else:
            angry_emotion = emotion[self._emotion_cols["anger"]] + emotion[self._emotion_cols["disgust"]]
            model_anger = p_negative * float(angry_emotion)
        return 1.0 - (1.0 - cue_anger) * (1.0 - model_anger)

    def _polarity_label(self, score: float) -> str:
        if score <= -self.settings.neutral_band:
            return "negative"
        if score >= self.settings.neutral_band:
            return "positive"
        return "neutral"

    def _emotion_label(self, polarity: str, anger: float, emotion: np.ndarray, cue: CueMatch) -> str:
        """Hostile words make it anger; waiting, repeating and threats without them, frustration."""
        grievance = cue.has("exasperation") or cue.has("threat")
        if anger >= self.settings.anger_threshold:
            return "frustration" if grievance and not cue.has("hostility") else "anger"
        if polarity == "positive":
            return "joy"
        if cue.has("anxiety"):
            return "anxiety"
        if polarity == "neutral":
            return "neutral"
        if grievance or cue.has("hostility"):
            return "frustration"
        cols = self._emotion_cols
        candidates = {
            "frustration": emotion[cols["anger"]] + emotion[cols["disgust"]],
            "sadness": emotion[cols["sadness"]],
            "anxiety": emotion[cols["fear"]],
        }
        return max(candidates, key=candidates.__getitem__)

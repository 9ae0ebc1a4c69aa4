"""The intent worker's model engine: language, intent and entities for customer messages.

Knows nothing of Kafka or gRPC: the worker hands it text and the time the message was sent, and
gets a plain result back. One engine serves many threads: the encoder serialises its own ONNX
calls, and everything else only reads immutable arrays and compiled patterns.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from services.common.ml.embeddings import MODEL_NAME, SentenceEncoder, shared_encoder
from services.common.ml.model_store import ModelStore
from services.intent.catalogue import Catalogue
from services.intent.classifier import MODEL_KIND, OUT_OF_SCOPE, IntentClassifier, IntentPrediction
from services.intent.entities import Entity, extract_entities
from services.intent.language import detect_language, load_detector

_EMPTY = IntentPrediction(OUT_OF_SCOPE, 1.0, True, ())


@dataclass(frozen=True)
class UnderstandingResult:
    """Everything the intent worker adds to one message."""

    language: str
    intent: IntentPrediction
    entities: list[Entity]
    latency_seconds: float


class IntentEngine:
    """Loads one stored intent model version and applies it."""

    def __init__(
        self,
        model_dir: str | pathlib.Path,
        encoder: SentenceEncoder | None = None,
        catalogue: Catalogue | None = None,
        timezone: dt.tzinfo | None = None,
    ) -> None:
        """`timezone` is where the tenant's customers are: "today" sent at 01:00 in Shanghai is
        17:00 UTC the day before, so relative dates are resolved in this zone (None: in the zone
        of the `now` the caller passes)."""
        self.model_dir = pathlib.Path(model_dir)
        self.classifier = IntentClassifier.load(self.model_dir)
        if self.classifier.encoder != MODEL_NAME:
            raise ValueError(
                f"intent model {self.model_dir.name} was trained on encoder {self.classifier.encoder!r} but this "
                f"build embeds with {MODEL_NAME!r}; retrain with `python -m services.intent.training --promote`"
            )
        self.encoder = encoder or shared_encoder()
        self.catalogue = catalogue
        self.timezone = timezone
        load_detector()

    @classmethod
    def load(
        cls, model_dir: str | pathlib.Path, catalogue: Catalogue | None = None, timezone: dt.tzinfo | None = None
    ) -> IntentEngine:
        """The engine for one stored model folder, with the shared encoder."""
        return cls(model_dir, catalogue=catalogue, timezone=timezone)

    @classmethod
    def from_store(
        cls, store: ModelStore, catalogue: Catalogue | None = None, timezone: dt.tzinfo | None = None
    ) -> IntentEngine:
        """The engine for the store's CURRENT intent model."""
        current = store.current(MODEL_KIND)
        if current is None:
            raise FileNotFoundError(
                f"no current intent model in {store.root / MODEL_KIND}; build one with "
                "`python -m services.intent.training --promote`"
            )
        return cls(current[1], catalogue=catalogue, timezone=timezone)

    @property
    def version(self) -> str:
        """The model version recorded with every enrichment (the stored folder's name)."""
        return self.model_dir.name

    def understand(
        self, text: str, now: dt.datetime | None = None, classifier: IntentClassifier | None = None
    ) -> UnderstandingResult:
        return self.understand_many([text], now, classifier)[0]

    def understand_many(
        self, texts: Sequence[str], now: dt.datetime | None = None, classifier: IntentClassifier | None = None
    ) -> list[UnderstandingResult]:
        """One batched encoder call for all texts; `now` is when they were sent (default: now, UTC).

        `classifier` is a tenant's own head (services/intent/tenant_heads.py) over the same encoder;
        None: this engine's model, the built-in taxonomy.

        Each result's latency is the batch's time divided by its size: the cost per message.
        """
        started = time.perf_counter()
        now = now or dt.datetime.now(dt.UTC)
        if self.timezone is not None and now.tzinfo is not None:
            now = now.astimezone(self.timezone)
        filled = [i for i, text in enumerate(texts) if text.strip()]
        intents = [_EMPTY] * len(texts)
        if filled:
            written = self.classifier.prepare([texts[i] for i in filled])
            embeddings = self.encoder.encode(written)
            head = classifier or self.classifier
            for i, prediction in zip(filled, head.predict_texts(embeddings, written)):
                intents[i] = prediction
        languages = [detect_language(text) for text in texts]
        entities = [extract_entities(text, now, self.catalogue) for text in texts]
        per_message = (time.perf_counter() - started) / max(len(texts), 1)
        return [
            UnderstandingResult(language, intent, found, per_message)
            for language, intent, found in zip(languages, intents, entities)
        ]

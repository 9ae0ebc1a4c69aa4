"""Sentiment worker: cs.messages.understood -> polarity, emotion, anger, trend -> cs.messages.enriched.

The conversation's trend needs its recent scores; they are kept in the `sentiment_scores`
collection keyed by message id, so a redelivered event doesn't count twice.
"""

from __future__ import annotations

import asyncio

from pymongo import DESCENDING

from services.common.ml.model_reload import ModelSlot
from services.common.platform import metrics
from services.common.platform.clock import utcnow
from services.common.platform.topics import ENRICHED
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.worker.runtime import WorkerContext
from services.sentiment.trend import conversation_trend

TREND_WINDOW = 5
POLARITY = {"negative": und.POLARITY_NEGATIVE, "neutral": und.POLARITY_NEUTRAL, "positive": und.POLARITY_POSITIVE}
TREND = {"improving": und.TREND_IMPROVING, "stable": und.TREND_STABLE, "worsening": und.TREND_WORSENING}


def emotion_value(name: str) -> int:
    """The contract's value of an emotion name; neutral for a name the contract does not know."""
    try:
        return und.Emotion.Value(f"EMOTION_{name.upper()}")
    except ValueError:
        return und.EMOTION_NEUTRAL


class ScoreHistory:
    def __init__(self, db) -> None:
        self._c = db["sentiment_scores"]

    async def add_and_recent(self, message: ev.MessageReceived, score: float, window: int) -> list[float]:
        received = message.received_at.ToDatetime() if message.HasField("received_at") else utcnow()
        await self._c.update_one(
            {"_id": message.message_id},
            {
                "$setOnInsert": {
                    "tenant_id": message.tenant_id,
                    "conversation_id": message.conversation_id,
                    "score": score,
                    "at": received,
                }
            },
            upsert=True,
        )
        cursor = self._c.find({"tenant_id": message.tenant_id, "conversation_id": message.conversation_id})
        docs = await cursor.sort("at", DESCENDING).limit(window).to_list()
        return [d["score"] for d in reversed(docs)]


def make_handler(ctx: WorkerContext, slot: ModelSlot):
    """`slot` holds the engine in service; each event takes it once, so a hot reload never splits an event."""
    history = ScoreHistory(ctx.db)

    async def handle(event: ev.MessageUnderstood) -> None:
        engine = slot.engine
        message = event.message
        result = await asyncio.to_thread(engine.analyze, message.text, event.understanding.language or "und")
        metrics.MODEL_SECONDS.labels(service="sentiment", model="sentiment").observe(result.latency_seconds)
        scores = await history.add_and_recent(message, float(result.score), TREND_WINDOW)
        trend, slope = conversation_trend(scores, window=TREND_WINDOW)
        sentiment = und.Sentiment(
            polarity=POLARITY[result.polarity],
            score=float(result.score),
            emotion=emotion_value(result.emotion),
            intensity=float(result.intensity),
            anger=float(result.anger),
            trend=TREND[trend],
            trend_slope=float(slope),
            model_version=engine.version,
            latency_seconds=float(result.latency_seconds),
        )
        enriched = ev.MessageEnriched(message=message, understanding=event.understanding, sentiment=sentiment)
        await ctx.publisher.publish(ENRICHED, enriched)

    async def pass_on_without_sentiment(event: ev.MessageUnderstood, reason: str, detail: str) -> None:
        """A message the model failed on goes on with no sentiment (no model version), so the generator
        still answers it or hands it to a person; the dead-letter topic keeps it for a replay."""
        enriched = ev.MessageEnriched(
            message=event.message, understanding=event.understanding, sentiment=und.Sentiment()
        )
        await ctx.publisher.publish(ENRICHED, enriched)

    ctx.on_give_up(pass_on_without_sentiment)
    return handle

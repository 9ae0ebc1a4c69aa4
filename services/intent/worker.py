"""Intent worker: cs.messages.inbound -> language, intent, entities -> cs.messages.understood.

The Kafka loop is services.common.worker.loop; this file only turns the engine's result into the event.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from services.common.ml.model_reload import ModelSlot
from services.common.platform import metrics
from services.common.platform.pii import find_pii
from services.common.platform.topics import UNDERSTOOD
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.worker.runtime import WorkerContext


def to_proto(result, version: str) -> und.Understanding:
    """The engine's result as the contract's Understanding; PII entity spans are masked."""
    intent = result.intent
    out = und.Understanding(
        language=result.language,
        intent=und.Intent(
            label=intent.label,
            confidence=float(intent.confidence),
            out_of_scope=bool(intent.out_of_scope),
            alternatives=[und.IntentScore(label=label, confidence=float(conf)) for label, conf in intent.alternatives],
        ),
        model_version=version,
        latency_seconds=float(result.latency_seconds),
    )
    for entity in result.entities:
        text = entity.text
        if entity.type in ("email", "phone") or find_pii(text):
            text = f"[{entity.type.upper()}]"
        out.entities.add(type=entity.type, text=text, value=entity.value, start=entity.start, end=entity.end)
    return out


def make_handler(ctx: WorkerContext, slot: ModelSlot):
    """`slot` holds the engine in service; each event takes it once, so a hot reload never splits an event."""

    async def handle(message: ev.MessageReceived) -> None:
        engine = slot.engine
        sent = message.sent_at.ToDatetime(dt.UTC) if message.HasField("sent_at") else None
        result = await asyncio.to_thread(engine.understand, message.text, sent)
        metrics.MODEL_SECONDS.labels(service="intent", model="intent").observe(result.latency_seconds)
        event = ev.MessageUnderstood(message=message, understanding=to_proto(result, engine.version))
        await ctx.publisher.publish(UNDERSTOOD, event)

    async def pass_on_not_understood(message: ev.MessageReceived, reason: str, detail: str) -> None:
        """A message the model failed on goes on as not understood (no model version), so the generator
        still answers it or hands it to a person; the dead-letter topic keeps it for a replay."""
        understanding = und.Understanding(language="und", intent=und.Intent(out_of_scope=True))
        event = ev.MessageUnderstood(message=message, understanding=understanding)
        await ctx.publisher.publish(UNDERSTOOD, event)

    ctx.on_give_up(pass_on_not_understood)
    return handle

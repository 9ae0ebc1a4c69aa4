"""Intent worker: cs.messages.inbound -> language, intent, entities -> cs.messages.understood.

The Kafka loop is services.common.worker.loop; this file only turns the engine's result into the event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

from services.common.ml.model_reload import ModelSlot
from services.common.platform import metrics
from services.common.platform.pii import find_pii
from services.common.platform.topics import UNDERSTOOD
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.worker.runtime import WorkerContext

if TYPE_CHECKING:
    from services.intent.tenant_heads import TenantHeads


def to_proto(result, version: str, tenant_version: int = 0) -> und.Understanding:
    """The engine's result as the contract's Understanding; PII entity spans are masked.

    `tenant_version` is the version of the tenant's own model that labelled it (0: the built-in one)."""
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
        tenant_model_version=tenant_version,
    )
    for entity in result.entities:
        text = entity.text
        if entity.type in ("email", "phone") or find_pii(text):
            text = f"[{entity.type.upper()}]"
        out.entities.add(type=entity.type, text=text, value=entity.value, start=entity.start, end=entity.end)
    return out


def with_tenant_entities(entities: list, found: list) -> list:
    """The tenant's own entities, and the built-in ones that do not overlap them (the tenant's word wins)."""
    kept = [e for e in entities if all(e.end <= t.start or e.start >= t.end for t in found)]
    return sorted([*kept, *found], key=lambda e: (e.start, e.end))


def make_handler(ctx: WorkerContext, slot: ModelSlot, tenants: TenantHeads | None = None):
    """`slot` holds the engine in service and `tenants` the tenants' own heads; each event takes both
    once, so a hot reload (of either) never splits an event."""

    async def handle(message: ev.MessageReceived) -> None:
        engine = slot.engine
        head = tenants.get(message.tenant_id) if tenants is not None else None
        sent = message.sent_at.ToDatetime(dt.UTC) if message.HasField("sent_at") else None
        if head is None:
            result = await asyncio.to_thread(engine.understand, message.text, sent)
            understanding = to_proto(result, engine.version)
        else:
            result = await asyncio.to_thread(engine.understand, message.text, sent, head.classifier)
            result = replace(result, entities=with_tenant_entities(result.entities, head.entities.find(message.text)))
            understanding = to_proto(result, head.model_version, head.version)
        metrics.MODEL_SECONDS.labels(service="intent", model="intent").observe(result.latency_seconds)
        event = ev.MessageUnderstood(message=message, understanding=understanding)
        await ctx.publisher.publish(UNDERSTOOD, event)

    async def pass_on_not_understood(message: ev.MessageReceived, reason: str, detail: str) -> None:
        """A message the model failed on goes on as not understood (no model version), so the generator
        still answers it or hands it to a person; the dead-letter topic keeps it for a replay."""
        understanding = und.Understanding(language="und", intent=und.Intent(out_of_scope=True))
        event = ev.MessageUnderstood(message=message, understanding=understanding)
        await ctx.publisher.publish(UNDERSTOOD, event)

    ctx.on_give_up(pass_on_not_understood)
    return handle

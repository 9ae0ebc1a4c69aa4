"""Entry point: `cs-sentiment`."""

from __future__ import annotations

import asyncio

from services.common.ml.model_reload import announced_slot
from services.common.ml.model_store import ModelStore
from services.common.platform import lifecycle
from services.common.platform.topics import UNDERSTOOD
from services.common.worker.loop import WorkerSpec
from services.common.worker.runtime import WorkerContext, serve
from services.sentiment.settings import SentimentSettings
from services.sentiment.worker import POLARITY, make_handler

SPEC = WorkerSpec(service="sentiment", source=UNDERSTOOD)


def main() -> None:
    settings = lifecycle.configure("cs-sentiment", SentimentSettings.from_env)
    store = ModelStore()

    async def setup(ctx: WorkerContext):
        from services.sentiment.engine import MODEL_KIND, SentimentEngine
        from services.sentiment.training import ensure_model

        await ctx.db["sentiment_scores"].create_index([("tenant_id", 1), ("conversation_id", 1), ("at", -1)])
        _, path = await asyncio.to_thread(ensure_model, store)
        engine = await asyncio.to_thread(SentimentEngine.load, path)
        slot = await announced_slot(
            ctx.db, store, MODEL_KIND, "sentiment", engine, SentimentEngine.load, lambda _: POLARITY
        )
        if settings.reload_s:
            ctx.spawn(slot.follow(settings.reload_s))
        return make_handler(ctx, slot)

    serve(SPEC, settings.worker, setup)


if __name__ == "__main__":
    main()

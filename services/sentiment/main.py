"""Entry point: `cs-sentiment`."""

from __future__ import annotations

import asyncio

from services.common.platform import lifecycle
from services.common.ml.model_reload import ModelSlot, reload_interval
from services.common.ml.model_store import ModelStore
from services.common.storage.repositories import ModelVersionRepo
from services.common.worker.runtime import WorkerContext, run_worker
from services.common.platform.settings import CommonSettings, Env
from services.common.platform.topics import UNDERSTOOD
from services.common.worker.loop import WorkerSpec
from services.sentiment.worker import POLARITY, make_handler

SPEC = WorkerSpec(service="sentiment", source=UNDERSTOOD)


def main() -> None:
    env = Env()
    settings = lifecycle.configure("cs-sentiment", lambda: CommonSettings.from_env("sentiment", 9103, env))
    health_port = lifecycle.configure("cs-sentiment", lambda: env.int("CS_HEALTH_PORT", 50062))
    reload_s = lifecycle.configure("cs-sentiment", lambda: reload_interval(env))
    store = ModelStore()

    async def setup(ctx: WorkerContext):
        from services.sentiment.engine import MODEL_KIND, SentimentEngine
        from services.sentiment.training import ensure_model

        await ctx.db["sentiment_scores"].create_index([("tenant_id", 1), ("conversation_id", 1), ("at", -1)])
        _, path = await asyncio.to_thread(ensure_model, store)
        engine = await asyncio.to_thread(SentimentEngine.load, path)
        versions = ModelVersionRepo(ctx.db)

        async def announce(served: SentimentEngine) -> None:
            await versions.announce(MODEL_KIND, served.version, list(POLARITY))

        slot = ModelSlot(store, MODEL_KIND, "sentiment", engine, SentimentEngine.load, announce)
        await slot.announce()
        if reload_s:
            ctx.spawn(slot.follow(reload_s))
        return make_handler(ctx, slot)

    async def run(stop) -> None:
        await run_worker(stop, settings, SPEC, health_port, setup)

    lifecycle.run(run, "cs-sentiment")


if __name__ == "__main__":
    main()

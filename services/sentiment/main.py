"""Entry point: `cs-sentiment`."""

from __future__ import annotations

import asyncio

from services.common import lifecycle
from services.common.model_store import ModelStore
from services.common.runtime import WorkerContext, run_worker
from services.common.settings import CommonSettings, Env
from services.common.topics import UNDERSTOOD
from services.common.worker import WorkerSpec
from services.sentiment.worker import make_handler

SPEC = WorkerSpec(service="sentiment", source=UNDERSTOOD, group_id="cs-sentiment")


def main() -> None:
    env = Env()
    settings = lifecycle.configure("cs-sentiment", lambda: CommonSettings.from_env("sentiment", 9103, env))
    health_port = lifecycle.configure("cs-sentiment", lambda: env.int("CS_HEALTH_PORT", 50062))
    store = ModelStore()

    async def setup(ctx: WorkerContext):
        from services.sentiment.engine import SentimentEngine
        from services.sentiment.training import ensure_model

        await ctx.db["sentiment_scores"].create_index([("tenant_id", 1), ("conversation_id", 1), ("at", -1)])
        _, path = await asyncio.to_thread(ensure_model, store)
        engine = await asyncio.to_thread(SentimentEngine.load, path)
        return make_handler(ctx, engine)

    async def run(stop) -> None:
        await run_worker(stop, settings, SPEC, health_port, setup)

    lifecycle.run(run, "cs-sentiment")


if __name__ == "__main__":
    main()

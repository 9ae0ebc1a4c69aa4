"""Entry point: `cs-intent`."""

from __future__ import annotations

import asyncio
import zoneinfo

from services.common.platform import lifecycle
from services.common.ml.model_reload import ModelSlot, reload_interval
from services.common.ml.model_store import ModelStore
from services.common.storage.repositories import ModelVersionRepo
from services.common.worker.runtime import WorkerContext, run_worker
from services.common.platform.settings import CommonSettings, Env
from services.common.platform.topics import INBOUND
from services.common.worker.loop import WorkerSpec
from services.intent.worker import make_handler

SPEC = WorkerSpec(service="intent", source=INBOUND)


def main() -> None:
    env = Env()
    settings = lifecycle.configure("cs-intent", lambda: CommonSettings.from_env("intent", 9102, env))
    health_port = lifecycle.configure("cs-intent", lambda: env.int("CS_HEALTH_PORT", 50061))
    zone_name = lifecycle.configure("cs-intent", lambda: env.str("CS_CUSTOMER_TIMEZONE"))
    try:
        timezone = zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        lifecycle.fail("cs-intent", f"CS_CUSTOMER_TIMEZONE={zone_name!r} is not an IANA time zone")
    reload_s = lifecycle.configure("cs-intent", lambda: reload_interval(env))
    store = ModelStore()

    async def setup(ctx: WorkerContext):
        from services.intent.catalogue import Catalogue
        from services.intent.classifier import MODEL_KIND
        from services.intent.corpora import DEMO_CATALOGUE
        from services.intent.engine import IntentEngine
        from services.intent.training import ensure_model

        _, path = await asyncio.to_thread(ensure_model, store)
        catalogue = Catalogue.load(DEMO_CATALOGUE)
        engine = await asyncio.to_thread(IntentEngine.load, path, catalogue, timezone)
        versions = ModelVersionRepo(ctx.db)

        async def announce(served: IntentEngine) -> None:
            await versions.announce(MODEL_KIND, served.version, list(served.classifier.labels))

        slot = ModelSlot(store, MODEL_KIND, "intent", engine, lambda p: IntentEngine.load(p, catalogue, timezone), announce)
        await slot.announce()
        if reload_s:
            ctx.spawn(slot.follow(reload_s))
        return make_handler(ctx, slot)

    async def run(stop) -> None:
        await run_worker(stop, settings, SPEC, health_port, setup)

    lifecycle.run(run, "cs-intent")


if __name__ == "__main__":
    main()

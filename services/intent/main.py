"""Entry point: `cs-intent`."""

from __future__ import annotations

import asyncio
import pathlib

from services.common.ml.model_reload import announced_slot
from services.common.ml.model_store import ModelStore
from services.common.platform import lifecycle
from services.common.platform.topics import INBOUND
from services.common.worker.loop import WorkerSpec
from services.common.worker.runtime import WorkerContext, serve
from services.intent.settings import IntentSettings
from services.intent.worker import make_handler

SPEC = WorkerSpec(service="intent", source=INBOUND)


def main() -> None:
    settings = lifecycle.configure("cs-intent", IntentSettings.from_env)
    store = ModelStore()

    async def setup(ctx: WorkerContext):
        from services.intent.catalogue import Catalogue
        from services.intent.classifier import MODEL_KIND
        from services.intent.corpora import DEMO_CATALOGUE
        from services.intent.engine import IntentEngine
        from services.intent.tenant_heads import TenantHeads
        from services.intent.training import ensure_model

        _, path = await asyncio.to_thread(ensure_model, store)
        catalogue = Catalogue.load(DEMO_CATALOGUE)

        def load(version_path: pathlib.Path) -> IntentEngine:
            return IntentEngine.load(version_path, catalogue, settings.timezone)

        engine = await asyncio.to_thread(load, path)
        slot = await announced_slot(ctx.db, store, MODEL_KIND, "intent", engine, load, lambda e: e.classifier.labels)
        if settings.reload_s:
            ctx.spawn(slot.follow(settings.reload_s))
        tenants = TenantHeads(ctx.db)
        await tenants.refresh()  # the tenants' own models before the first event
        ctx.spawn(tenants.follow(settings.worker.common.tenant_reload_s))
        return make_handler(ctx, slot, tenants)

    serve(SPEC, settings.worker, setup)


if __name__ == "__main__":
    main()

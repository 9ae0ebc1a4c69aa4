"""The tenants' own intent heads this worker serves, following their pointers in the database.

`cs tenants apply` stores a tenant's head as data (services/common/storage/tenant_models.py) and then
points the tenant at it. Every CS_TENANT_RELOAD_S seconds `refresh` reads all pointers; a version not
loaded yet is read and deserialised in a thread, off the event loop, and only a complete head goes into
the mapping, which is replaced whole by one assignment. The handler takes a tenant's head once per
event, so an event is labelled by one complete version from start to end, and no event waits for a
load: the same pattern as services/common/ml/model_reload.py for the shared model.

A version that fails to load is logged and counted, the tenant keeps what it had (its previous head,
or the built-in taxonomy), and that version is not retried until the pointer changes. Each head put
into service is announced in `model_versions` with its labels, so the gateway checks an agent's
correction of a tenant-labelled message against that tenant's intents.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from services.common.ml.embeddings import MODEL_NAME
from services.common.platform import metrics
from services.common.platform.tenant_file import TenantFile
from services.common.storage.repositories import ModelVersionRepo
from services.common.storage.tenant_models import TenantModelRepo
from services.intent.classifier import IntentClassifier
from services.intent.tenant_entities import TenantEntities

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantHead:
    tenant_id: str
    version: int
    model_version: str
    classifier: IntentClassifier
    entities: TenantEntities


def head_from_doc(doc: dict) -> TenantHead:
    """A stored version (tenant_models document) as a servable head; raises ValueError when it cannot serve."""
    classifier = IntentClassifier.from_bytes(bytes(doc["head"]), doc["meta"])
    if classifier.encoder != MODEL_NAME:
        raise ValueError(
            f"{doc['model_version']} was trained on encoder {classifier.encoder!r}, this build has {MODEL_NAME!r}"
        )
    entities = TenantEntities(TenantFile.from_doc(doc["file"]).entities)
    return TenantHead(doc["tenant_id"], int(doc["version"]), doc["model_version"], classifier, entities)


class TenantHeads:
    def __init__(self, db: AsyncDatabase) -> None:
        self._repo = TenantModelRepo(db)
        self._versions = ModelVersionRepo(db)
        self.heads: Mapping[str, TenantHead] = {}
        self._failed: dict[str, int] = {}

    def get(self, tenant_id: str) -> TenantHead | None:
        return self.heads.get(tenant_id)

    async def refresh(self) -> int:
        """One look at every tenant's pointer; returns how many heads went into service."""
        served = await self._repo.served()
        heads = dict(self.heads)
        switched = 0
        for tenant_id in set(heads) - set(served):
            del heads[tenant_id]  # the tenant's pointer is gone: the built-in taxonomy again
        for tenant_id, pointer in served.items():
            version = int(pointer["version"])
            loaded = heads.get(tenant_id)
            if (loaded is not None and loaded.version == version) or self._failed.get(tenant_id) == version:
                continue
            started = time.perf_counter()
            try:
                doc = await self._repo.get(tenant_id, version)
                if doc is None:
                    raise LookupError(f"version {version} is not stored")
                head = await asyncio.to_thread(head_from_doc, doc)
            except Exception as exc:
                self._failed[tenant_id] = version
                metrics.MODEL_RELOADS.labels(service="intent", kind="tenant-intent", outcome="failed").inc()
                log.error(
                    "tenant model failed to load; the tenant keeps the model it had",
                    extra={"tenant_id": tenant_id, "version": version, "error": f"{type(exc).__name__}: {exc}"[:500]},
                )
                continue
            await self._versions.announce("intent", head.model_version, list(head.classifier.labels))
            heads[tenant_id] = head
            self._failed.pop(tenant_id, None)
            switched += 1
            metrics.MODEL_RELOADS.labels(service="intent", kind="tenant-intent", outcome="switched").inc()
            log.info(
                "tenant model in service",
                extra={
                    "tenant_id": tenant_id,
                    "to_version": head.model_version,
                    "from_version": loaded.model_version if loaded else "built-in",
                    "load_seconds": round(time.perf_counter() - started, 3),
                },
            )
        self.heads = heads  # the switch: events that already took a head finish with it
        return switched

    async def follow(self, interval_s: float) -> None:
        """Refresh every `interval_s` seconds until cancelled; one failed look never ends it."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("could not read the tenants' models", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})

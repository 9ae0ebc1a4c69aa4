"""A tenant's own intent models and routing rules, stored as data so every replica can load them.

Why the database and not the model volume: tenant models change while the platform runs (`cs tenants
apply`, retraining from corrections), the model volume is read-only to the workers, and every
replica of every service must see the same version. So each version is one document in
`tenant_models`, written once:

    _id "<tenant>/v<n>", tenant_id, version n, model_version "intent-tenant-<tenant>-v<n>",
    file (the tenant file as applied), head (the intent head's npz bytes), meta (its description and
    figures), labels, created_at

and the version in service is a pointer in the tenant's `tenant_settings` document:

    understanding: {version n, model_version, labels, rules (queues, routing, hours), activated_at}
    understanding_history: [{at, from, to}]   one entry per change, for `cs tenants rollback`

The pointer is set last, after the version is stored and its topics exist, so a reader never sees a
version that is not complete. Intent workers poll the pointers (`served`), the gateway and the
generator read `rules`. A head is ~100 kB for a few dozen intents, far below the 16 MB document limit.
"""

from __future__ import annotations

from bson import Binary
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.common.platform.clock import utcnow
from services.common.platform.tenant_file import TenantRules

MODEL_VERSION_PREFIX = "intent-tenant-"


def model_version_name(tenant_id: str, version: int) -> str:
    """The name a tenant model version is recorded under with every enrichment and in model_versions."""
    return f"{MODEL_VERSION_PREFIX}{tenant_id}-v{version}"


class TenantModelRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._models = db["tenant_models"]
        self._settings = db["tenant_settings"]
        self._messages = db["messages"]
        self._corrections = db["corrections"]

    async def next_version(self, tenant_id: str) -> int:
        docs = (
            await self._models.find({"tenant_id": tenant_id}, {"version": 1})
            .sort("version", DESCENDING)
            .limit(1)
            .to_list()
        )
        return int(docs[0]["version"]) + 1 if docs else 1

    async def store(self, tenant_id: str, version: int, file_doc: dict, head: bytes, meta: dict) -> str:
        """Write a version once (DuplicateKeyError when another apply took the number first); returns its name."""
        name = model_version_name(tenant_id, version)
        await self._models.insert_one(
            {
                "_id": f"{tenant_id}/v{version}",
                "tenant_id": tenant_id,
                "version": version,
                "model_version": name,
                "file": file_doc,
                "head": Binary(head),
                "meta": meta,
                "labels": list(meta["labels"]),
                "created_at": utcnow(),
            }
        )
        return name

    async def get(self, tenant_id: str, version: int, with_head: bool = True) -> dict | None:
        projection = None if with_head else {"head": 0}
        return await self._models.find_one({"_id": f"{tenant_id}/v{version}"}, projection)

    async def versions(self, tenant_id: str) -> list[dict]:
        """Every stored version, newest first, without the heads."""
        return (
            await self._models.find({"tenant_id": tenant_id}, {"head": 0, "file": 0})
            .sort("version", DESCENDING)
            .to_list()
        )

    async def activate(self, tenant_id: str, version: int, rules: TenantRules) -> None:
        """Put a stored version into service for the tenant (the pointer the workers follow)."""
        doc = await self.get(tenant_id, version, with_head=False)
        if doc is None:
            raise LookupError(f"tenant {tenant_id} has no stored model version {version}")
        before = await self.current(tenant_id)
        now = utcnow()
        pointer = {
            "version": version,
            "model_version": doc["model_version"],
            "labels": doc["labels"],
            "rules": rules.to_doc(),
            "activated_at": now,
        }
        update: dict = {"$set": {"understanding": pointer, "updated_at": now}}
        previous = int(before["version"]) if before else 0
        if previous != version:
            update["$push"] = {"understanding_history": {"at": now, "from": previous, "to": version}}
        await self._settings.update_one({"_id": tenant_id}, update, upsert=True)

    async def current(self, tenant_id: str) -> dict | None:
        """The tenant's pointer (version, model_version, labels, rules), or None: the built-in taxonomy."""
        doc = await self._settings.find_one({"_id": tenant_id}, {"understanding": 1})
        return (doc or {}).get("understanding")

    async def rules(self, tenant_id: str) -> TenantRules | None:
        current = await self.current(tenant_id)
        return TenantRules.from_doc(current["rules"]) if current else None

    async def history(self, tenant_id: str) -> list[dict]:
        doc = await self._settings.find_one({"_id": tenant_id}, {"understanding_history": 1})
        return list((doc or {}).get("understanding_history") or [])

    async def served(self) -> dict[str, dict]:
        """Every tenant's pointer, by tenant id (what the intent workers and the gateway poll)."""
        docs = await self._settings.find({"understanding": {"$exists": True}}, {"understanding": 1}).to_list()
        return {doc["_id"]: doc["understanding"] for doc in docs}

    async def label_use(self, tenant_id: str, labels: list[str]) -> dict[str, int]:
        """How many stored messages (labelled by this tenant's own models) and corrections use each label."""
        found: dict[str, int] = {}
        for label in labels:
            messages = await self._messages.count_documents(
                {
                    "tenant_id": tenant_id,
                    "understanding.intent.label": label,
                    "model_versions.intent": {"$regex": f"^{MODEL_VERSION_PREFIX}"},
                }
            )
            corrections = await self._corrections.count_documents({"tenant_id": tenant_id, "intent": label})
            if messages + corrections:
                found[label] = messages + corrections
        return found

    async def migrate_labels(self, tenant_id: str, renames: dict[str, str]) -> int:
        """Relabel stored messages and corrections (old -> new intent); returns how many documents changed."""
        changed = 0
        for old, new in renames.items():
            result = await self._messages.update_many(
                {"tenant_id": tenant_id, "understanding.intent.label": old},
                {"$set": {"understanding.intent.label": new}},
            )
            changed += result.modified_count
            result = await self._corrections.update_many(
                {"tenant_id": tenant_id, "intent": old}, {"$set": {"intent": new}}
            )
            changed += result.modified_count
        return changed


class TenantRulesCache:
    """The tenants' routing rules, read from the database at most once per `ttl_s` per tenant.

    The gateway (which queues a tenant has) and the generator (where a conversation goes) ask on
    every call; a rule change reaches them within `ttl_s` (CS_TENANT_RELOAD_S), no restart. When the
    database cannot be read the last rules known are kept, and the error is raised only when there
    are none yet.
    """

    def __init__(self, db: AsyncDatabase, ttl_s: float, clock=None) -> None:
        import time

        self._repo = TenantModelRepo(db)
        self._ttl = ttl_s
        self._clock = clock or time.monotonic
        self._cached: dict[str, tuple[float, TenantRules | None]] = {}

    async def get(self, tenant_id: str) -> TenantRules | None:
        now = self._clock()
        cached = self._cached.get(tenant_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            rules = await self._repo.rules(tenant_id)
        except Exception:
            if cached is None:
                raise
            return cached[1]
        self._cached[tenant_id] = (now, rules)
        return rules

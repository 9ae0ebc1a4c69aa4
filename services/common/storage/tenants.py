"""Per-tenant settings an operator sets with `cs tenants persona`: how the tenant's bot presents itself.

One document per tenant in `tenant_settings`; the generator reads it through `PersonaCache`, so a
change applies within its TTL (CS_GENERATOR_PERSONA_CACHE_S) without a restart.
"""

from __future__ import annotations

import time

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.common import locales
from services.common.platform.clock import utcnow
from services.common.storage.repositories import upserted

PERSONA_FIELDS = {
    "brand": "the name the bot speaks for",
    "voice": "tone in English prompts, e.g. 'warm and concise'",
    "business": "what the company is, e.g. 'an online clothing retailer'",
    "voice_zh": "tone in Chinese prompts",
    "business_zh": "what the company is, in Chinese",
    "language": "reply language when the customer's cannot be told: en or zh",
}
MAX_FIELD_CHARS = 200


class TenantSettingsRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["tenant_settings"]

    async def persona(self, tenant_id: str) -> dict:
        doc = await self._c.find_one({"_id": tenant_id}, {"persona": 1})
        return dict((doc or {}).get("persona") or {})

    async def set_persona(self, tenant_id: str, fields: dict[str, str]) -> dict:
        """Merge the given fields into the tenant's persona (an empty string removes one); returns the result."""
        unknown = sorted(set(fields) - set(PERSONA_FIELDS))
        if unknown:
            raise ValueError(f"unknown persona fields {unknown}; known: {sorted(PERSONA_FIELDS)}")
        too_long = [k for k, v in fields.items() if len(v) > MAX_FIELD_CHARS]
        if too_long:
            raise ValueError(f"persona fields {too_long} are longer than {MAX_FIELD_CHARS} characters")
        if fields.get("language") not in (None, "", *locales.languages()):
            raise ValueError(f"language must be {' or '.join(locales.languages())}, not {fields['language']!r}")
        update: dict = {"$set": {"updated_at": utcnow(), **{f"persona.{k}": v for k, v in fields.items() if v}}}
        removed = {f"persona.{k}": "" for k, v in fields.items() if not v}
        if removed:
            update["$unset"] = removed
        doc = await self._c.find_one_and_update(
            {"_id": tenant_id}, update, upsert=True, return_document=ReturnDocument.AFTER
        )
        return dict(upserted(doc, f"the persona of tenant {tenant_id}").get("persona") or {})


class PersonaCache:
    """Each tenant's persona as read at most `ttl_s` ago: one database read per tenant and TTL instead
    of one per answer (0: read every time). Concurrent misses for one tenant may each read; harmless."""

    def __init__(self, repo: TenantSettingsRepo, ttl_s: float) -> None:
        self._repo = repo
        self._ttl_s = ttl_s
        self._cached: dict[str, tuple[float, dict]] = {}

    async def persona(self, tenant_id: str) -> dict:
        now = time.monotonic()
        hit = self._cached.get(tenant_id)
        if hit is not None and now - hit[0] < self._ttl_s:
            return dict(hit[1])
        persona = await self._repo.persona(tenant_id)
        if self._ttl_s > 0:
            self._cached[tenant_id] = (now, persona)
        return dict(persona)

"""Widget keys: the publishable credential a company puts in its web page for the chat widget.

A widget key names a tenant and the page origins allowed to use it. It is public by design (anyone
can read it from the page), so on its own it grants nothing: the gateway honours it only for a
caller holding a channel API key (the web-chat service), and only for a request whose page origin
the key lists. Stored like API keys, as a SHA-256 hash, so a database dump does not hand out keys
that pages not yet published would use.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from services.common.platform.clock import utcnow
from services.common.platform.origins import normalize_origin
from services.common.storage.repositories import TENANT_ID, hash_key

PREFIX = "cs_wk_"


@dataclass(frozen=True)
class WidgetKey:
    tenant_id: str
    origins: tuple[str, ...]  # normal forms (services.common.platform.origins)
    key_id: str  # first characters of the hash: names the key in logs without revealing it


class WidgetKeyRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["widget_keys"]

    async def create(self, tenant_id: str, origins: list[str]) -> str:
        """A new key for `tenant_id` usable from `origins`; OriginError/ValueError name what is wrong."""
        if not TENANT_ID.fullmatch(tenant_id):
            raise ValueError(f"tenant id {tenant_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if not origins:
            raise ValueError("a widget key needs at least one origin (--origin https://shop.example)")
        normal = sorted({normalize_origin(o) for o in origins})
        key = f"{PREFIX}{secrets.token_urlsafe(24)}"
        await self._c.insert_one(
            {"_id": hash_key(key), "tenant_id": tenant_id, "origins": normal, "created_at": utcnow(), "revoked": False}
        )
        return key

    async def lookup(self, key: str) -> WidgetKey | None:
        if not key.startswith(PREFIX):
            return None
        digest = hash_key(key)
        doc = await self._c.find_one({"_id": digest, "revoked": False})
        if not doc:
            return None
        return WidgetKey(doc["tenant_id"], tuple(doc.get("origins", ())), digest[:12])

    async def revoke(self, key: str) -> bool:
        result = await self._c.update_one({"_id": hash_key(key)}, {"$set": {"revoked": True}})
        return result.modified_count == 1

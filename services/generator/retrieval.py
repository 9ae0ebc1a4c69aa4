"""Knowledge retrieval for the generator: each tenant's passages in memory, reloaded when they change.

The index of a tenant is loaded from the database on its first question and kept; at most every
`refresh_s` seconds the tenant's knowledge revision is read (one small query), and a new revision
(someone ran `cs kb ingest`) reloads the index. So new knowledge reaches answers within seconds,
without a restart, and a question costs no database read of the passages.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from services.common.knowledge.index import Hit, KnowledgeIndex
from services.common.knowledge.repo import KnowledgeRepo
from services.common.ml.embeddings import SentenceEncoder


@dataclass(frozen=True)
class RetrievalSettings:
    """k: passages put in the prompt; min_score: cosine below which a passage is not about the question."""

    k: int = 3
    min_score: float = 0.3
    refresh_s: float = 10.0


MAX_TENANT_INDEXES = 256  # tenants whose knowledge index a generator keeps in memory


@dataclass
class _Cached:
    index: KnowledgeIndex
    checked_at: float


class Retriever:
    def __init__(
        self, repo: KnowledgeRepo, encoder: SentenceEncoder, settings: RetrievalSettings | None = None
    ) -> None:
        self.repo = repo
        self.encoder = encoder
        self.settings = settings or RetrievalSettings()
        self._cache: OrderedDict[str, _Cached] = OrderedDict()  # least recently asked first
        self._locks: dict[str, asyncio.Lock] = {}

    async def index(self, tenant_id: str) -> KnowledgeIndex:
        """The tenant's index, reloaded when its revision moved (checked at most every refresh_s)."""
        cached = self._cache.get(tenant_id)
        now = time.monotonic()
        if cached is not None:
            self._cache.move_to_end(tenant_id)
            if now - cached.checked_at < self.settings.refresh_s:
                return cached.index
        async with self._locks.setdefault(tenant_id, asyncio.Lock()):
            cached = self._cache.get(tenant_id)
            if cached is not None and now - cached.checked_at < self.settings.refresh_s:
                return cached.index
            revision = await self.repo.revision(tenant_id)
            if cached is None or cached.index.revision != revision:
                index = KnowledgeIndex.from_records(await self.repo.chunks(tenant_id), revision)
            else:
                index = cached.index
            self._cache[tenant_id] = _Cached(index, time.monotonic())
            self._cache.move_to_end(tenant_id)
            self._forget_beyond(MAX_TENANT_INDEXES)
            return index

    def _forget_beyond(self, size: int) -> None:
        """Drop the least recently asked tenants' indexes (reloaded from the database when asked again)."""
        while len(self._cache) > size:
            tenant, _ = self._cache.popitem(last=False)
            lock = self._locks.get(tenant)
            if lock is not None and not lock.locked():
                del self._locks[tenant]

    async def search(self, tenant_id: str, query: str, k: int | None = None) -> list[Hit]:
        """The best k (default settings.k) passages for the query, best first, without a relevance cut."""
        index = await self.index(tenant_id)
        if not len(index):
            return []
        vector = await asyncio.to_thread(self.encoder.encode_one, query)
        return index.search(vector, k or self.settings.k)

    def relevant(self, hits: list[Hit]) -> list[Hit]:
        return [h for h in hits if h.score >= self.settings.min_score]

"""Which queues a tenant has: the platform's (CS_ESCALATION_QUEUES) and those its tenant file declares.

`cs tenants apply` stores the tenant's rules and creates its queues' escalation topics; this replica
learns of them within CS_TENANT_RELOAD_S, no restart: WatchQueue, TransferConversation and the
wallboard accept the new queues (TenantRulesCache), and `follow` has the topic feed read their topics,
so live escalations reach the watchers of the new queue.
"""

from __future__ import annotations

import asyncio
import logging

from pymongo.asynchronous.database import AsyncDatabase

from services.common.platform.tenant_file import TenantRules
from services.common.platform.topics import queue_topic
from services.common.storage.tenant_models import TenantModelRepo, TenantRulesCache
from services.gateway.hub import TopicFeed

log = logging.getLogger(__name__)


class TenantQueues:
    def __init__(self, db: AsyncDatabase, builtin: tuple[str, ...], prefix: str, ttl_s: float) -> None:
        self.builtin = builtin
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._repo = TenantModelRepo(db)
        self._rules = TenantRulesCache(db, ttl_s)

    async def of(self, tenant_id: str) -> tuple[str, ...]:
        """The platform's queues, then the tenant's own in its file's order."""
        rules = await self._rules.get(tenant_id)
        own = [q.name for q in rules.queues if q.name not in self.builtin] if rules else []
        return (*self.builtin, *own)

    async def intent_model(self, tenant_id: str) -> str | None:
        """The tenant's own intent model version in service (tenant_models.model_version_name), None when
        the tenant keeps the built-in taxonomy."""
        pointer = await self._repo.current(tenant_id)
        return str(pointer["model_version"]) if pointer else None

    def topic(self, tenant_id: str, queue: str) -> str:
        return queue_topic(self.prefix, tenant_id, queue, self.builtin)

    async def tenant_topics(self) -> list[str]:
        """Every tenant queue's own escalation topic (platform queues' topics are read anyway)."""
        topics = []
        for tenant_id, pointer in (await self._repo.served()).items():
            rules = TenantRules.from_doc(pointer.get("rules") or {})
            topics += [self.topic(tenant_id, q.name) for q in rules.queues if q.name not in self.builtin]
        return topics

    async def follow(self, feed: TopicFeed) -> None:
        """Have `feed` read each tenant queue topic that appears, until cancelled."""
        while True:
            await asyncio.sleep(self.ttl_s)
            try:
                new = [t for t in await self.tenant_topics() if t not in feed.topics]
                if new:
                    await feed.add_topics(new)
            except Exception as exc:
                log.warning(
                    "could not follow the tenants' queues", extra={"error": f"{type(exc).__name__}: {exc}"[:300]}
                )

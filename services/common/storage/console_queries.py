"""Read-only queries behind the agent console and the supervisor wallboard (tenant-scoped)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.common.storage.repositories import STATE_AGENT, STATE_BOT


class ConsoleQueries:
    def __init__(self, db: AsyncDatabase) -> None:
        self._conversations = db["conversations"]
        self._feedback = db["feedback"]

    async def bot_conversations(self, tenant_id: str, since: dt.datetime, limit: int) -> list[dict]:
        """Conversations with the bot, active since `since`, most recently active first."""
        cursor = self._conversations.find({"tenant_id": tenant_id, "state": STATE_BOT, "updated_at": {"$gte": since}})
        return await cursor.sort("updated_at", DESCENDING).limit(limit).to_list()

    async def agent_loads(self, tenant_id: str) -> Counter[str]:
        """Conversations each person holds now (state agent), by agent id."""
        cursor = self._conversations.find({"tenant_id": tenant_id, "state": STATE_AGENT}, {"agent_id": 1})
        return Counter([doc.get("agent_id", "") async for doc in cursor])

    async def csat(self, tenant_id: str, since: dt.datetime) -> list[int]:
        """The CSAT ratings (1..5) given since `since`."""
        cursor = self._feedback.find({"tenant_id": tenant_id, "created_at": {"$gte": since}}, {"csat": 1})
        return [int(doc["csat"]) async for doc in cursor if 1 <= int(doc.get("csat") or 0) <= 5]

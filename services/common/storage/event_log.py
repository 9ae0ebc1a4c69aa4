"""Numbered event logs: one per queue and one per conversation, the resume cursors of the watch streams.

A log is a run of entries 1, 2, 3, ... for one (tenant, stream), stream being "q/<queue>" or
"c/<conversation>". An entry is appended by inserting `_id` "<tenant>/<stream>/<seq>" with seq one
above the highest stored; a concurrent append that took the number fails on the unique `_id` and
tries the next. So the numbers have no gaps, and an entry n+1 exists only after entry n does: a
reader that has everything up to n and asks for "after n" misses nothing and gets nothing twice,
whichever gateway replica it asks (the log is in the database, not in a replica's memory).

Appends are idempotent: each entry carries the `event_key` of the event it records (an escalation
id, a reply id, ...), unique per tenant, so the same event appended twice (every replica reads the
live topics; the writer itself appends too) keeps its first number.
"""

from __future__ import annotations

import datetime as dt

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.platform.clock import utcnow
from services.common.platform.errors import TransientError


def queue_stream(queue: str) -> str:
    return f"q/{queue}"


def conversation_stream(conversation_id: str) -> str:
    return f"c/{conversation_id}"


class EventLog:
    ATTEMPTS = 50

    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["event_log"]

    async def append(
        self, tenant_id: str, stream: str, event_key: str, kind: str, payload: bytes = b"", **fields
    ) -> int:
        """The entry's seq: a new one, or the one `event_key` already has in this tenant's logs."""
        key = f"{tenant_id}/{event_key}"
        if stream.startswith("c/"):  # named, so erasing the customer's conversations erases their logs too
            fields.setdefault("conversation_id", stream[2:])
        for _ in range(self.ATTEMPTS):
            existing = await self._c.find_one({"event_key": key}, {"seq": 1})
            if existing is not None:
                return existing["seq"]
            seq = await self.head(tenant_id, stream) + 1
            try:
                await self._c.insert_one(
                    {
                        "_id": f"{tenant_id}/{stream}/{seq}",
                        "tenant_id": tenant_id,
                        "stream": stream,
                        "seq": seq,
                        "event_key": key,
                        "kind": kind,
                        "payload": payload,
                        "at": fields.pop("at", None) or utcnow(),
                        **fields,
                    }
                )
            except DuplicateKeyError:  # the number (or the event) was taken meanwhile: look again
                continue
            return seq
        raise TransientError(f"the event log {stream} is changing too fast to append to; retry")

    async def head(self, tenant_id: str, stream: str) -> int:
        """The highest seq of the log, 0 when it is empty."""
        docs = (
            await self._c.find({"tenant_id": tenant_id, "stream": stream}, {"seq": 1})
            .sort("seq", DESCENDING)
            .limit(1)
            .to_list()
        )
        return docs[0]["seq"] if docs else 0

    async def after(self, tenant_id: str, stream: str, seq: int, limit: int = 200) -> list[dict]:
        """Entries with a number above `seq`, in order (at most `limit`)."""
        cursor = self._c.find({"tenant_id": tenant_id, "stream": stream, "seq": {"$gt": seq}})
        return await cursor.sort("seq", ASCENDING).limit(limit).to_list()

    async def prune(self, before: dt.datetime, tenant_id: str | None = None) -> int:
        """Delete the entries stored before `before`, except each log's newest (the next append numbers
        from it, so a cursor never sees a number twice); how many went. A reader resuming from a cursor
        older than the retention gets what is left after it. `tenant_id`: that tenant's logs only."""
        old: dict = {"at": {"$lt": before}} | ({"tenant_id": tenant_id} if tenant_id is not None else {})
        streams = {(d["tenant_id"], d["stream"]) async for d in self._c.find(old, {"tenant_id": 1, "stream": 1})}
        deleted = 0
        for tenant_id, stream in sorted(streams):
            head = await self.head(tenant_id, stream)
            result = await self._c.delete_many(
                {"tenant_id": tenant_id, "stream": stream, "at": {"$lt": before}, "seq": {"$lt": head}}
            )
            deleted += result.deleted_count
        return deleted

    async def since(self, tenant_id: str, stream: str, at: dt.datetime) -> list[dict]:
        """Entries stored at or after `at`, in order (the wallboard's window)."""
        cursor = self._c.find({"tenant_id": tenant_id, "stream": stream, "at": {"$gte": at}})
        return await cursor.sort("seq", ASCENDING).to_list()

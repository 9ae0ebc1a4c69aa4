"""The watch streams' resume logs on the real database: numbering without gaps, and retention."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.common.platform.clock import utcnow
from services.common.storage.event_log import EventLog, conversation_stream, queue_stream
from services.common.storage.mongo import connect

pytestmark = pytest.mark.stack


@pytest.fixture
async def event_log(stack):
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    yield EventLog(db)
    await mongo.close()


async def test_pruning_keeps_recent_entries_and_each_logs_newest_so_numbering_continues(event_log):
    tenant = f"log-{uuid.uuid4().hex[:8]}"
    old = utcnow() - dt.timedelta(days=10)
    queue, conversation = queue_stream("billing"), conversation_stream("c1")
    for n in range(3):
        await event_log.append(tenant, queue, f"old-q-{n}", "escalated", at=old)
        await event_log.append(tenant, conversation, f"old-c-{n}", "reply", at=old)
    await event_log.append(tenant, conversation, "new-c", "reply")
    week_ago = utcnow() - dt.timedelta(days=7)
    # Counts are not asserted: every gateway of the test session prunes the shared database too (as
    # replicas do), so another may delete some of these first. What is left is what matters.
    await event_log.prune(week_ago, tenant)
    assert [e["seq"] for e in await event_log.after(tenant, queue, 0)] == [3]  # the newest, though old
    assert [e["seq"] for e in await event_log.after(tenant, conversation, 0)] == [4]
    assert await event_log.append(tenant, queue, "next-q", "escalated") == 4  # no number given twice
    await event_log.prune(week_ago, tenant)  # the old entry is no longer the newest
    assert [e["seq"] for e in await event_log.after(tenant, queue, 0)] == [4]
    assert await event_log.prune(week_ago, tenant) == 0  # nothing old is left for another run

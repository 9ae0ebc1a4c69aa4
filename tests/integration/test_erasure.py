"""Right to erasure: `cs customers erase --tenant T --customer C` against the real database.

The customer's data is written with the repositories the services use (profile, two conversations
with customer messages and their enrichment, bot replies, state transitions, escalations with their
summaries, feedback, a stream route, sentiment scores, the console's resume logs). Beside it: another customer of the same tenant,
and a customer with the same id at another tenant. After the command the whole database must be
exactly as it was before the customer's data was written: the customer's documents gone, every other
document unchanged. A second run must change nothing and succeed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import uuid

import bson
import pytest

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.event_log import EventLog, conversation_stream, queue_stream
from services.common.storage.mongo import connect
from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, Repositories
from services.sentiment.worker import ScoreHistory
from tests.conftest import ROOT

pytestmark = pytest.mark.stack

CLI_TIMEOUT_S = 60


async def seed_customer(
    db, tenant: str, customer: str, marker: str, conversations: int = 2, conversation_ids: list[str] | None = None
) -> list[str]:
    """What the services store about one customer; every text carries `marker`. Conversation ids are
    fresh unless given (`conversation_ids`)."""
    repos = Repositories.of(db)
    await repos.customers.upsert(tenant, customer, conv.CustomerProfile(display_name=f"Ann {marker}", tier="vip"))
    ids = []
    for n in range(conversations):
        cid = conversation_ids[n] if conversation_ids else f"conv-{uuid.uuid4().hex[:12]}"
        ids.append(cid)
        await repos.conversations.ensure(tenant, cid, customer, "web")
        msg = ev.MessageReceived(
            tenant_id=tenant,
            conversation_id=cid,
            message_id=f"m-{uuid.uuid4().hex}",
            customer_id=customer,
            channel="web",
            text=f"my e-mail is ann@example.com {marker}",
        )
        msg.received_at.GetCurrentTime()
        await repos.messages.record_customer(msg)
        await repos.messages.attach_enrichment(msg, und.Understanding(language="en"), und.Sentiment(score=-0.4))
        await ScoreHistory(db).add_and_recent(msg, -0.4, 5)
        reply = ev.ReplyPublished(
            tenant_id=tenant,
            conversation_id=cid,
            reply_id=f"r-{uuid.uuid4().hex}",
            in_reply_to=msg.message_id,
            author=conv.AUTHOR_BOT,
            kind=conv.REPLY_KIND_ANSWER,
            text=f"Hello Ann {marker}",
        )
        await repos.messages.record_reply(reply)
        await repos.conversations.transition(tenant, cid, (STATE_BOT,), STATE_QUEUED, queue="billing")
        escalation = ev.EscalationRaised(
            escalation_id=f"e-{uuid.uuid4().hex}",
            tenant_id=tenant,
            conversation_id=cid,
            customer_id=customer,
            queue="billing",
            summary=f"Ann is upset {marker}",
        )
        escalation.created_at.GetCurrentTime()
        await repos.escalations.record(escalation, escalation.SerializeToString())
        feedback = ev.FeedbackSubmitted(
            feedback_id=f"f-{uuid.uuid4().hex}",
            tenant_id=tenant,
            conversation_id=cid,
            reply_id=reply.reply_id,
            csat=2,
            comment=f"slow {marker}",
        )
        feedback.created_at.GetCurrentTime()
        await repos.feedback.record(feedback)
        await repos.stream_routes.set(tenant, cid, f"10.0.0.{n}:50051")
        log = EventLog(db)  # the watch streams' resume logs, as the gateway's recorder writes them
        await log.append(
            tenant, conversation_stream(cid), f"enriched/{msg.message_id}", "customer_message", msg.SerializeToString()
        )
        await log.append(
            tenant, conversation_stream(cid), f"reply/{reply.reply_id}", "reply", reply.SerializeToString()
        )
        await log.append(
            tenant,
            queue_stream("billing"),
            f"escalation/{escalation.escalation_id}",
            "escalated",
            escalation.SerializeToString(),
            conversation_id=cid,
        )
    return ids


async def everything(db) -> dict[str, dict]:
    """Every document of every collection, encoded, by collection and _id (empty collections left out)."""
    out = {}
    for name in await db.list_collection_names():
        docs = {repr(doc["_id"]): bson.encode(doc) async for doc in db[name].find({})}
        if docs:
            out[name] = docs
    return out


def differences(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """'collection _id: what happened' for every document that is not as it was before."""
    out = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name, {}), after.get(name, {})
        out += [f"{name} {key}: left behind" for key in now.keys() - was.keys()]
        out += [f"{name} {key}: deleted" for key in was.keys() - now.keys()]
        out += [f"{name} {key}: changed" for key in was.keys() & now.keys() if was[key] != now[key]]
    return out


def erase(stack, tenant: str, customer: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "customers", "erase", "--tenant", tenant, "--customer", customer],
        env=stack.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


async def test_erase_removes_exactly_the_customers_data_and_can_run_twice(stack):
    run = uuid.uuid4().hex[:6]
    tenant, other_tenant, customer = f"erase-{run}", f"erase-other-{run}", f"cust-{run}"
    marker = f"erase-marker-{run}"
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        await seed_customer(db, tenant, f"neighbour-{run}", f"keep-{run}")
        await seed_customer(db, other_tenant, customer, f"keep-{run}")  # same customer id, another tenant
        before = await everything(db)
        victim = await seed_customer(db, tenant, customer, marker)
        assert await everything(db) != before

        report = erase(stack, tenant, customer)
        after = await everything(db)
        assert report["conversations"] == len(victim)
        assert not [name for name, docs in after.items() for raw in docs.values() if marker.encode() in raw]
        assert differences(before, after) == []

        again = erase(stack, tenant, customer)
        assert again["conversations"] == 0 and again["deleted"] == {}
        assert differences(before, await everything(db)) == []
    finally:
        await mongo.close()


async def test_erase_leaves_another_tenants_conversations_with_the_same_ids(stack):
    """Conversation ids are unique only within a tenant: erasing a customer whose conversations have
    the same ids as another tenant's removes nothing of the other tenant's."""
    run = uuid.uuid4().hex[:6]
    tenant, other_tenant = f"erase-{run}", f"erase-other-{run}"
    shared = [f"conv-{run}-1", f"conv-{run}-2"]
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        await seed_customer(db, other_tenant, f"keeper-{run}", f"keep-{run}", conversation_ids=shared)
        before = await everything(db)
        victim = await seed_customer(db, tenant, f"cust-{run}", f"erase-marker-{run}", conversation_ids=shared)
        assert victim == shared

        report = erase(stack, tenant, f"cust-{run}")
        assert report["conversations"] == len(shared)
        assert differences(before, await everything(db)) == []
        repos = Repositories.of(db)
        for cid in shared:
            assert await repos.conversations.get(tenant, cid) is None
            kept = await repos.conversations.get(other_tenant, cid)
            assert kept is not None and kept["customer_id"] == f"keeper-{run}"
            assert [m["author"] for m in await repos.messages.history(other_tenant, cid)] == ["customer", "bot"]
    finally:
        await mongo.close()

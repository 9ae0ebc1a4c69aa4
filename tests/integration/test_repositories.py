"""The Mongo repositories against the real database (FerretDB locally, MongoDB in production)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.mongo import connect
from services.common.storage.repositories import STATE_AGENT, STATE_BOT, STATE_QUEUED, Repositories

pytestmark = pytest.mark.stack


@pytest.fixture
async def repos(stack):
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    yield Repositories.of(db)
    await mongo.close()


async def test_conversation_and_messages_read_back(repos):
    cid = f"c-{uuid.uuid4().hex}"
    created = await repos.conversations.ensure("acme", cid, "cust", "web")
    assert created["state"] == STATE_BOT
    msg = ev.MessageReceived(tenant_id="acme", conversation_id=cid, message_id=f"m-{uuid.uuid4().hex}", text="hello")
    assert await repos.messages.record_customer(msg) is True
    assert await repos.messages.record_customer(msg) is False  # redelivery: no second record
    understanding = und.Understanding(
        language="en", intent=und.Intent(label="track_order", confidence=0.9), model_version="intent-x"
    )
    await repos.messages.attach_enrichment(msg, understanding, und.Sentiment(score=-0.2, model_version="sent-y"))
    reply = ev.ReplyPublished(
        tenant_id="acme",
        conversation_id=cid,
        reply_id=f"r-{uuid.uuid4().hex}",
        in_reply_to=msg.message_id,
        author=conv.AUTHOR_BOT,
        kind=conv.REPLY_KIND_ANSWER,
        text="hi!",
    )
    assert await repos.messages.record_reply(reply) is True
    assert await repos.messages.record_reply(reply) is False
    history = await repos.messages.history("acme", cid)
    assert [d["author"] for d in history] == ["customer", "bot"]
    assert history[0]["understanding"]["intent"]["label"] == "track_order"
    assert history[0]["model_versions"] == {"intent": "intent-x", "sentiment": "sent-y"}
    assert await repos.messages.history("globex", cid) == []
    assert await repos.conversations.get("globex", cid) is None


async def test_a_reply_stored_before_publishing_can_be_published_after_a_crash(repos):
    cid = f"c-{uuid.uuid4().hex}"
    reply = ev.ReplyPublished(
        tenant_id="acme",
        conversation_id=cid,
        reply_id=f"r-{uuid.uuid4().hex}",
        author=conv.AUTHOR_BOT,
        kind=conv.REPLY_KIND_ANSWER,
        text="Your parcel left on Monday.",
    )
    assert await repos.messages.record_reply(reply, published=False) is True
    doc = await repos.messages.get_reply("acme", reply.reply_id)
    assert repos.messages.unpublished_event(doc) == reply  # what a redelivered event would publish
    await repos.messages.mark_published("acme", reply.reply_id)
    doc = await repos.messages.get_reply("acme", reply.reply_id)
    assert repos.messages.unpublished_event(doc) is None and "event" not in doc


async def test_only_one_of_concurrent_claims_wins(repos):
    # FerretDB's findAndModify alone lets several concurrent claims win; many rounds make that race
    # show up reliably should the guard against it break.
    for _ in range(15):
        cid = f"c-{uuid.uuid4().hex}"
        await repos.conversations.ensure("acme", cid, "cust", "web")
        assert await repos.conversations.transition("acme", cid, (STATE_BOT,), STATE_QUEUED, queue="billing")
        agents = ("alice", "bob", "carol", "dave", "erin")
        results = await asyncio.gather(
            *[
                repos.conversations.transition("acme", cid, (STATE_QUEUED,), STATE_AGENT, agent_id=agent)
                for agent in agents
            ]
        )
        winners = [r["agent_id"] for r in results if r is not None]
        assert len(winners) == 1, winners
        after = await repos.conversations.get("acme", cid)
        assert after["agent_id"] == winners[0] and after["state"] == STATE_AGENT and after["version"] == 2


async def test_a_transition_whose_writer_died_is_rolled_forward(repos):
    cid = f"c-{uuid.uuid4().hex}"
    await repos.conversations.ensure("acme", cid, "cust", "web")
    # A writer claimed version 1 and died before updating the conversation.
    await repos.conversations._log.insert_one(
        {
            "_id": f"acme/{cid}/1",
            "tenant_id": "acme",
            "conversation_id": cid,
            "from_state": STATE_BOT,
            "set": {"state": STATE_QUEUED, "queue": "billing"},
        }
    )
    assert await repos.conversations.transition("acme", cid, (STATE_BOT,), STATE_QUEUED, queue="orders") is None
    after = await repos.conversations.get("acme", cid)
    assert (after["state"], after["queue"], after["version"]) == (STATE_QUEUED, "billing", 1)
    claimed = await repos.conversations.transition("acme", cid, (STATE_QUEUED,), STATE_AGENT, agent_id="alice")
    assert (claimed["state"], claimed["version"]) == (STATE_AGENT, 2)


async def test_a_retried_transition_finds_its_own_change(repos):
    # The database took the write and died before answering: the caller retries with the same op_id.
    cid = f"c-{uuid.uuid4().hex}"
    await repos.conversations.ensure("acme", cid, "cust", "web")
    await repos.conversations._log.insert_one(
        {  # only the log entry made it (the first try's insert)
            "_id": f"acme/{cid}/1",
            "tenant_id": "acme",
            "conversation_id": cid,
            "from_state": STATE_BOT,
            "set": {"state": STATE_QUEUED, "queue": "billing", "last_op": "escalate/m1"},
        }
    )
    retried = await repos.conversations.transition(
        "acme", cid, (STATE_BOT,), STATE_QUEUED, queue="billing", op_id="escalate/m1"
    )
    assert (retried["state"], retried["queue"], retried["version"]) == (STATE_QUEUED, "billing", 1)
    again = await repos.conversations.transition(
        "acme", cid, (STATE_BOT,), STATE_QUEUED, queue="billing", op_id="escalate/m1"
    )
    assert again["version"] == 1, "a repeat changes nothing"
    assert (
        await repos.conversations.transition(
            "acme", cid, (STATE_BOT,), STATE_QUEUED, queue="billing", op_id="escalate/m2"
        )
        is None
    )
    # A later change without an op_id clears the marker, so an old op_id can't match it.
    await repos.conversations.transition("acme", cid, (STATE_QUEUED,), STATE_AGENT, agent_id="alice")
    assert await repos.conversations.transition("acme", cid, (STATE_BOT,), STATE_QUEUED, op_id="escalate/m1") is None


async def test_api_keys_are_stored_hashed(repos, stack):
    key = await repos.api_keys.create("acme", "agent", "alice")
    principal = await repos.api_keys.lookup(key)
    assert principal.tenant_id == "acme" and principal.role == "agent" and principal.agent_id == "alice"
    mongo, db = await connect(stack.mongo_uri, stack.database, 5)
    stored = [d async for d in db["api_keys"].find({})]
    await mongo.close()
    assert all(key not in str(d) for d in stored)
    assert await repos.api_keys.revoke(key) and await repos.api_keys.lookup(key) is None

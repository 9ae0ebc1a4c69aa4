"""Two services storing the same new record at the same moment, against the real database.

The gateway stores a customer message right after publishing it, and the generator stores the same
message with its enrichment as soon as the pipeline has it; under load the two writes meet. FerretDB
fails one of two concurrent upserts of a new _id with a duplicate key; taken as an error, it would
make the generator dead-letter the message, and the customer would get no reply. Both writers must
succeed, and exactly one record must exist.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.mongo import connect
from services.common.storage.repositories import Repositories

pytestmark = pytest.mark.stack

ROUNDS = 25  # the race needs a few tries to show up; each round is two small writes


@pytest.fixture
async def two_writers(stack):
    """Two clients, like two services: each has its own connections, so the writes really overlap."""
    clients = [await connect(stack.mongo_uri, stack.database, 10) for _ in range(2)]
    yield [Repositories.of(db) for _, db in clients], clients[0][1]
    for mongo, _ in clients:
        await mongo.close()


async def test_gateway_and_generator_store_one_message_at_once(two_writers):
    (gateway, generator), db = two_writers
    for _ in range(ROUNDS):
        msg = ev.MessageReceived(
            tenant_id="acme",
            conversation_id=f"c-{uuid.uuid4().hex}",
            message_id=f"m-{uuid.uuid4().hex}",
            customer_id="cust",
            text="hello",
        )
        _created, _ = await asyncio.gather(
            gateway.messages.record_customer(msg),
            generator.messages.attach_enrichment(msg, und.Understanding(language="en"), und.Sentiment(score=0.1)),
        )
        docs = await db["messages"].find({"_id": msg.message_id}).to_list()
        assert len(docs) == 1 and docs[0]["understanding"]["language"] == "en"


async def test_concurrent_first_writes_of_replies_escalations_feedback_and_profiles_succeed(two_writers):
    (one, other), db = two_writers
    for _ in range(ROUNDS):
        cid = f"c-{uuid.uuid4().hex}"
        reply = ev.ReplyPublished(
            tenant_id="acme",
            conversation_id=cid,
            reply_id=f"r-{uuid.uuid4().hex}",
            author=conv.AUTHOR_BOT,
            kind=conv.REPLY_KIND_ANSWER,
            text="hi",
        )
        esc = ev.EscalationRaised(escalation_id=f"e-{uuid.uuid4().hex}", tenant_id="acme", conversation_id=cid)
        esc.created_at.GetCurrentTime()
        fb = ev.FeedbackSubmitted(feedback_id=f"f-{uuid.uuid4().hex}", tenant_id="acme", conversation_id=cid, csat=4)
        fb.created_at.GetCurrentTime()
        customer = f"cust-{uuid.uuid4().hex[:8]}"
        profile = conv.CustomerProfile(display_name="Ann", tier="vip")
        created = await asyncio.gather(*(repos.messages.record_reply(reply) for repos in (one, other)))
        assert sorted(created) == [False, True]
        created = await asyncio.gather(*(repos.escalations.record(esc, b"x") for repos in (one, other)))
        assert sorted(created) == [False, True]
        await asyncio.gather(*(repos.feedback.record(fb) for repos in (one, other)))
        profiles = await asyncio.gather(*(repos.customers.upsert("acme", customer, profile) for repos in (one, other)))
        assert [p["profile"]["tier"] for p in profiles] == ["vip", "vip"]
        assert await db["feedback"].count_documents({"_id": fb.feedback_id}) == 1

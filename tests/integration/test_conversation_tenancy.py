"""Conversation ids are the adapters' own and unique only within a tenant.

Two tenants can use the same conversation id at once and each gets its own conversation: its own
customer, messages, replies, state and Kafka key. Neither can learn whether the other uses an id:
tenant B calling with an id tenant A uses is answered exactly as for an id nobody uses. Conversations
stored by releases that keyed them by the id alone are moved by `migrate` (the gateway runs it at
start), and a re-run finishes one that was cut short. Real gateway processes, Kafka and FerretDB;
the generator's own code with only the LLM replaced.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid

import grpc
import pytest
from pymongo import AsyncMongoClient

from services.common.platform.ids import derived_id
from services.common.platform.topics import ENRICHED, INBOUND, REPLIES, conversation_key
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.mongo import connect, migrate
from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, Repositories
from tests.integration.conftest import (
    auth,
    create_keys,
    create_keys_async,
    publish,
    read_from_start,
    start_gateway,
    stored,
    wait_stream_route,
)
from tests.integration.test_generator_failures import worker  # noqa: F401  (the fixture)

pytestmark = pytest.mark.stack

CALL_TIMEOUT_S = 15
OPEN_S = 3  # a refused stream ends at once; one still open after this is serving
QUIET_S = 2


@pytest.fixture(scope="module")
def tenants(stack) -> dict[str, str]:
    run = uuid.uuid4().hex[:6]
    a, b = f"ct-a-{run}", f"ct-b-{run}"
    values = create_keys(stack, [(a, "adapter", ""), (a, "agent", "anna"), (b, "adapter", ""), (b, "agent", "bert")])
    return dict(zip(["a", "b", "a_adapter", "a_agent", "b_adapter", "b_agent"], [a, b, *values]))


async def send(channel, key: str, conversation_id: str, customer_id: str, text: str) -> cpb.SendMessageResponse:
    request = cpb.SendMessageRequest(conversation_id=conversation_id, customer_id=customer_id, text=text)
    return await cgrpc.CustomerServiceStub(channel).SendMessage(request, metadata=auth(key), timeout=CALL_TIMEOUT_S)


async def get(channel, key: str, conversation_id: str) -> cpb.GetConversationResponse:
    request = cpb.GetConversationRequest(conversation_id=conversation_id)
    return await cgrpc.CustomerServiceStub(channel).GetConversation(request, metadata=auth(key), timeout=CALL_TIMEOUT_S)


async def outcome(call, conversation_id: str) -> tuple[str, str]:
    """(status code, details with the conversation id written as <id>) of a unary call."""
    try:
        await call
        return "OK", ""
    except grpc.aio.AioRpcError as err:
        return err.code().name, (err.details() or "").replace(conversation_id, "<id>")


async def stream_outcome(channel, key: str, conversation_id: str) -> str:
    call = cgrpc.CustomerServiceStub(channel).StreamReplies(
        cpb.StreamRepliesRequest(conversation_id=conversation_id), metadata=auth(key)
    )
    try:
        await asyncio.wait_for(call.read(), OPEN_S)
        return "OK"
    except TimeoutError:
        return "OK (open)"
    except grpc.aio.AioRpcError as err:
        return err.code().name
    finally:
        call.cancel()


async def inbound_keys(stack, conversation_id: str, wanted: int, timeout: float = 20) -> dict[str, bytes]:
    """Tenant -> record key of the inbound events of `conversation_id` (waiting for `wanted` tenants)."""
    keys: dict[str, bytes] = {}
    async with read_from_start(stack, INBOUND.name(stack.prefix)) as consumer:
        async with asyncio.timeout(timeout):
            while len(keys) < wanted:
                for records in (await consumer.getmany(timeout_ms=300)).values():
                    for record in records:
                        event = INBOUND.decode(record.value)
                        if event.conversation_id == conversation_id:
                            keys[event.tenant_id] = record.key
    return keys


def bot_reply(tenant: str, conversation_id: str, in_reply_to: str, text: str) -> ev.ReplyPublished:
    reply = ev.ReplyPublished(
        tenant_id=tenant,
        conversation_id=conversation_id,
        reply_id=f"r-{uuid.uuid4().hex}",
        in_reply_to=in_reply_to,
        author=conv.AUTHOR_BOT,
        kind=conv.REPLY_KIND_ANSWER,
        text=text,
    )
    reply.created_at.GetCurrentTime()
    return reply


async def test_two_tenants_use_one_conversation_id_and_each_keeps_its_own(stack, channel, tenants):
    cid = f"shared-{uuid.uuid4().hex[:10]}"
    a, b = tenants["a"], tenants["b"]
    stub = cgrpc.CustomerServiceStub(channel)
    streams = {
        t: stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(tenants[f"{t}_adapter"]))
        for t in ("a", "b")
    }
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    repos = Repositories.of(db)
    try:
        for t in (a, b):
            await wait_stream_route(stack, t, cid)
        ack_a = await send(channel, tenants["a_adapter"], cid, "cust-a", "A: where is my order?")
        ack_b = await send(channel, tenants["b_adapter"], cid, "cust-b", "B: can I change my address?")
        assert ack_a.conversation_id == ack_b.conversation_id == cid

        # One key per tenant's conversation, so each stays ordered on its partition and the two never share one.
        keys = await inbound_keys(stack, cid, 2)
        assert keys == {a: conversation_key(a, cid), b: conversation_key(b, cid)}
        assert keys[a] == f"{a}/{cid}".encode()

        # Each tenant's answer reaches only its own stream and its own history.
        replies = {
            "a": bot_reply(a, cid, ack_a.message_id, "for A only"),
            "b": bot_reply(b, cid, ack_b.message_id, "for B only"),
        }
        for reply in replies.values():
            await repos.messages.record_reply(reply)
            await publish(stack, REPLIES, reply)
        for t, reply in replies.items():
            got = await asyncio.wait_for(streams[t].read(), CALL_TIMEOUT_S)
            assert got.reply.reply_id == reply.reply_id
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(streams[t].read(), QUIET_S)  # nothing of the other tenant's

        # Each tenant's state: A's goes to a person, B's stays with the bot.
        await repos.conversations.transition(a, cid, (STATE_BOT,), STATE_QUEUED, queue="billing")
        seen_a, seen_b = await get(channel, tenants["a_adapter"], cid), await get(channel, tenants["b_adapter"], cid)
        assert (seen_a.conversation.tenant_id, seen_a.conversation.customer_id) == (a, "cust-a")
        assert (seen_b.conversation.tenant_id, seen_b.conversation.customer_id) == (b, "cust-b")
        assert seen_a.conversation.conversation_id == seen_b.conversation.conversation_id == cid
        assert seen_a.conversation.state == conv.CONVERSATION_STATE_QUEUED
        assert seen_b.conversation.state == conv.CONVERSATION_STATE_BOT
        assert [m.text for m in seen_a.messages] == ["A: where is my order?", "for A only"]
        assert [m.text for m in seen_b.messages] == ["B: can I change my address?", "for B only"]

        agents = agrpc.AgentServiceStub(channel)
        claim = apb.ClaimConversationRequest(conversation_id=cid)
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # B's conversation is not queued
            await agents.ClaimConversation(claim, metadata=auth(tenants["b_agent"]), timeout=CALL_TIMEOUT_S)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        claimed = await agents.ClaimConversation(claim, metadata=auth(tenants["a_agent"]), timeout=CALL_TIMEOUT_S)
        assert (claimed.conversation.tenant_id, claimed.conversation.agent_id) == (a, "anna")
        read_b = await agents.ReadConversation(
            apb.ReadConversationRequest(conversation_id=cid), metadata=auth(tenants["b_agent"]), timeout=CALL_TIMEOUT_S
        )
        assert read_b.conversation.state == conv.CONVERSATION_STATE_BOT and read_b.conversation.agent_id == ""
        assert [m.text for m in read_b.messages] == ["B: can I change my address?", "for B only"]
        assert (await repos.conversations.get(b, cid))["version"] == 0
    finally:
        for call in streams.values():
            call.cancel()
        await mongo.close()


async def test_an_id_another_tenant_uses_is_answered_like_one_nobody_uses(stack, channel, tenants):
    """Every answer tenant B gets on tenant A's conversation id, in order, is the answer it gets on a
    fresh id: nothing tells B that A has the id, and nothing of A's changes."""
    taken = f"taken-{uuid.uuid4().hex[:10]}"
    fresh = f"fresh-{uuid.uuid4().hex[:10]}"
    sent = await send(channel, tenants["a_adapter"], taken, "cust-a", "A's private question")
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    repos = Repositories.of(db)
    try:
        await stored(db, tenants["a"], sent.message_id)
        before = await repos.conversations.get(tenants["a"], taken)
        history = [m["_id"] for m in await repos.messages.history(tenants["a"], taken)]

        async def as_b(cid: str) -> list:
            key = tenants["b_adapter"]
            found = [await outcome(get(channel, key, cid), cid), await stream_outcome(channel, key, cid)]
            ack = await send(channel, key, cid, "cust-a", "B's question")  # even with A's customer id
            found.append(ack.conversation_id == cid)
            seen = await get(channel, key, cid)
            found.append((seen.conversation.tenant_id, seen.conversation.customer_id, [m.text for m in seen.messages]))
            found.append(await outcome(send(channel, key, cid, "cust-other", "someone else"), cid))
            return found

        on_taken, on_fresh = await as_b(taken), await as_b(fresh)
        assert on_taken == on_fresh
        assert on_taken[0] == ("NOT_FOUND", "conversation <id> not found")
        assert on_taken[3] == (tenants["b"], "cust-a", ["B's question"])

        after = await repos.conversations.get(tenants["a"], taken)
        assert after == before
        assert [m["_id"] for m in await repos.messages.history(tenants["a"], taken)] == history
    finally:
        await mongo.close()


def enriched(tenant: str, conversation_id: str, message_id: str, text: str, intent: str) -> ev.MessageEnriched:
    message = ev.MessageReceived(
        tenant_id=tenant,
        conversation_id=conversation_id,
        message_id=message_id,
        customer_id=f"cust-{tenant}",
        channel="web",
        text=text,
    )
    message.received_at.GetCurrentTime()
    understanding = und.Understanding(language="en", intent=und.Intent(label=intent, confidence=0.97))
    return ev.MessageEnriched(message=message, understanding=understanding, sentiment=und.Sentiment(score=0.1))


async def test_the_generator_serves_two_tenants_conversations_with_one_id_apart(stack, worker):  # noqa: F811
    """A's customer asks for a person, B's asks a question, on the same conversation id: A's
    conversation is queued and gets the handover, B's stays with the bot and gets answers."""
    loop, repos, _ = worker
    run = uuid.uuid4().hex[:8]
    a, b, cid = f"gen-a-{run}", f"gen-b-{run}", f"shared-{run}"
    events = [
        enriched(a, cid, f"{run}-a1", "I want to talk to a human agent", "contact_human_agent"),
        enriched(b, cid, f"{run}-b1", "Where is my order?", "track_order"),
        enriched(b, cid, f"{run}-b2", "And when will it arrive?", "track_order"),
    ]
    for offset, event in enumerate(events):
        assert await loop.process(ENRICHED.encode(event), ENRICHED.key(event), 0, offset) == "ok"

    def reply(tenant: str, message_id: str):
        return repos.messages.get_reply(tenant, derived_id(tenant, "bot-reply", message_id))

    assert (await reply(a, f"{run}-a1"))["reply_kind"] == conv.ReplyKind.Name(conv.REPLY_KIND_HANDOVER)
    for message_id in (f"{run}-b1", f"{run}-b2"):
        assert (await reply(b, message_id))["reply_kind"] == conv.ReplyKind.Name(conv.REPLY_KIND_ANSWER)
    conversation_a, conversation_b = await repos.conversations.get(a, cid), await repos.conversations.get(b, cid)
    assert (conversation_a["state"], conversation_a["customer_id"]) == (STATE_QUEUED, f"cust-{a}")
    assert (conversation_b["state"], conversation_b["customer_id"]) == (STATE_BOT, f"cust-{b}")
    assert conversation_b["bot_turns"] == 2
    assert [d["_id"] for d in await repos.messages.history(a, cid) if d["author"] == "customer"] == [f"{run}-a1"]
    assert [d["_id"] for d in await repos.messages.history(b, cid) if d["author"] == "customer"] == [
        f"{run}-b1",
        f"{run}-b2",
    ]
    assert await repos.escalations.latest_for(b, cid) is None
    assert (await repos.escalations.latest_for(a, cid)).tenant_id == a


def old_conversation(tenant: str, conversation_id: str, **fields) -> dict:
    """A conversation as releases before tenant-scoped keys stored it: `_id` is the conversation id."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        "_id": conversation_id,
        "tenant_id": tenant,
        "customer_id": f"cust-{conversation_id}",
        "channel": "web",
        "state": STATE_BOT,
        "created_at": now - dt.timedelta(days=3),
        "updated_at": now - dt.timedelta(days=1),
        "queue": "",
        "agent_id": "",
        "bot_turns": 4,
        "version": 0,
        **fields,
    }


@pytest.fixture
async def own_db(stack):
    """A database of the test's own: migrate reads every conversation of the database it runs on."""
    name = f"{stack.database}_mig_{uuid.uuid4().hex[:6]}"
    mongo, db = await connect(stack.mongo_uri, name, 10)
    try:
        yield db
    finally:
        await mongo.drop_database(name)
        await mongo.close()


async def test_migrate_moves_old_keyed_conversations_and_a_rerun_finishes_a_half_done_one(own_db):
    db, repos = own_db, Repositories.of(own_db)
    conversations = db["conversations"]
    queued = old_conversation("acme", "c-queued", state=STATE_QUEUED, queue="billing", version=1)
    plain = old_conversation("globex", "c-plain")
    half_done = old_conversation("acme", "c-half", version=2, state="agent", agent_id="ann")
    # new code saw a message of these before the migration: a fresh document at the new key
    behind = old_conversation("acme", "c-behind", version=3, state="agent", agent_id="ann")
    ahead = old_conversation("acme", "c-ahead", version=1, state=STATE_QUEUED, queue="orders")
    await conversations.insert_many([queued, plain, half_done, behind, ahead])
    await conversations.insert_one(  # the insert of a run that stopped before its delete
        {**half_done, "_id": "acme/c-half", "conversation_id": "c-half", "migrated_from": "c-half"}
    )
    await repos.conversations.ensure("acme", "c-behind", "cust-c-behind", "web")  # version 0: behind the old one
    await repos.conversations.ensure("acme", "c-ahead", "cust-c-ahead", "web")
    await conversations.update_one(
        {"_id": "acme/c-ahead"}, {"$set": {"version": 2, "state": "agent", "agent_id": "bo"}}
    )

    first = await migrate(db)
    assert first["conversations_rekeyed"] == 5
    assert await conversations.count_documents({"conversation_id": {"$exists": False}}) == 0
    assert sorted([d["_id"] async for d in conversations.find({})]) == [
        "acme/c-ahead",
        "acme/c-behind",
        "acme/c-half",
        "acme/c-queued",
        "globex/c-plain",
    ]
    moved = await repos.conversations.get("acme", "c-queued")
    expected = {**queued, "_id": "acme/c-queued", "conversation_id": "c-queued", "migrated_from": "c-queued"}
    assert moved == {**expected, "queued_at": queued["updated_at"]}  # and queued_at, the earlier migration
    assert (await repos.conversations.get("globex", "c-plain"))["bot_turns"] == 4
    assert await repos.conversations.get("acme", "c-plain") is None  # still only globex's
    assert (await repos.conversations.get("acme", "c-half"))["agent_id"] == "ann"
    assert (await repos.conversations.get("acme", "c-behind"))["version"] == 3  # the old one was further along
    assert (await repos.conversations.get("acme", "c-ahead"))["agent_id"] == "bo"  # the new one was

    snapshot = [d async for d in conversations.find({}).sort("_id")]
    second = await migrate(db)
    assert second["conversations_rekeyed"] == 0
    assert [d async for d in conversations.find({}).sort("_id")] == snapshot

    # the migrated conversations work like any other
    after = await repos.conversations.transition("acme", "c-queued", (STATE_QUEUED,), "agent", agent_id="ann")
    assert after is not None and after["version"] == 2


async def test_replicas_migrating_at_once_move_each_conversation_once(own_db):
    conversations = own_db["conversations"]
    await conversations.insert_many([old_conversation(f"t{i % 3}", f"c-{i}", version=i % 4) for i in range(30)])
    results = await asyncio.gather(*(migrate(own_db) for _ in range(3)))
    assert sum(r["conversations_rekeyed"] for r in results) >= 30  # a delete both replicas reached counts twice
    docs = [d async for d in conversations.find({})]
    assert sorted(d["_id"] for d in docs) == sorted(f"t{i % 3}/c-{i}" for i in range(30))
    assert all(d["conversation_id"] == d["_id"].split("/", 1)[1] for d in docs)
    assert all(d["version"] == int(d["conversation_id"].split("-")[1]) % 4 for d in docs)


async def test_a_gateway_starting_on_old_data_migrates_it_and_frees_the_id_for_other_tenants(stack, tmp_path_factory):
    own = dataclasses.replace(stack, database=f"{stack.database}_gwmig_{uuid.uuid4().hex[:6]}")
    run = uuid.uuid4().hex[:6]
    a, b, cid = f"old-a-{run}", f"old-b-{run}", f"c-{run}"
    client: AsyncMongoClient = AsyncMongoClient(own.mongo_uri, tz_aware=True)
    db = client[own.database]
    gateway = None
    try:
        a_key, b_key = await create_keys_async(own, [(a, "adapter", ""), (b, "adapter", "")])
        await db["conversations"].insert_one(old_conversation(a, cid, customer_id="cust-a"))
        await db["messages"].insert_one(
            {
                "_id": f"m-{run}",
                "tenant_id": a,
                "conversation_id": cid,
                "author": "customer",
                "customer_id": "cust-a",
                "text": "stored by the old release",
                "created_at": dt.datetime.now(dt.UTC),
            }
        )
        gateway = await asyncio.to_thread(start_gateway, own, tmp_path_factory.mktemp("gateway-migrate"))
        assert await db["conversations"].count_documents({"conversation_id": {"$exists": False}}) == 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.ports['grpc']}") as channel:
            seen = await get(channel, a_key, cid)
            assert seen.conversation.customer_id == "cust-a"
            assert [m.text for m in seen.messages] == ["stored by the old release"]
            await send(channel, a_key, cid, "cust-a", "and a new one")  # A's conversation goes on
            await send(channel, b_key, cid, "cust-b", "B's own")  # the id is B's to use too
            seen_b = await get(channel, b_key, cid)
            assert [m.text for m in seen_b.messages] == ["B's own"]
            seen = await get(channel, a_key, cid)
            assert [m.text for m in seen.messages] == ["stored by the old release", "and a new one"]
    finally:
        if gateway is not None:
            gateway.stop()
        await client.drop_database(own.database)
        await client.close()

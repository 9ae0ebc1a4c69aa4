"""Tenants never see each other's conversations, whichever gateway method they call.

Every CustomerService and AgentService method is called with tenant B's keys on tenant A's
conversation (ids, message and reply ids that really exist) or queue, in each state a method
behaves differently in (queued, then claimed by A's agent with a reply). Conversation ids are only
unique within a tenant, so B may use A's conversation id for a conversation of its own: each
method must answer B exactly as it answers the same calls on ids nobody uses (nothing tells B
that A has the id), and change nothing of A's. Requests are built from the service descriptors,
so a method added to the contract later is checked too. Keys of the wrong role are refused on
every method. Real gateway process, real Kafka and FerretDB.
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message_factory import GetMessageClass

from services.common.platform.topics import ESCALATIONS, REPLIES, escalation_topic
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.mongo import connect
from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, Repositories
from services.gateway.agent_api import AgentApi
from services.gateway.customer_api import CustomerApi
from tests.integration.conftest import auth, create_keys, publish, stored, wait_stream_route

pytestmark = pytest.mark.stack

CALL_TIMEOUT_S = 15
STREAM_ERROR_WAIT_S = 10  # a refused stream ends at once; one still open after this is serving data
QUIET_S = 3  # after the controls saw their live escalations, anything else for B would have arrived
QUEUE = "billing"
SERVICES = {
    "adapter": (cpb.DESCRIPTOR.services_by_name["CustomerService"], CustomerApi),
    "agent": (apb.DESCRIPTOR.services_by_name["AgentService"], AgentApi),
}
NAMED_PATHS = {  # the methods required by name; the descriptor walk below must include at least these
    "SendMessage",
    "GetConversation",
    "StreamReplies",
    "SubmitFeedback",
    "WatchConversation",
    "ReadConversation",
    "ClaimConversation",
    "SendAgentReply",
    "TransferConversation",
    "ResolveConversation",
    "WatchQueue",
}


def methods(role: str) -> list:
    """(method descriptor, implemented by the gateway) for every method of the role's service."""
    service, servicer = SERVICES[role]
    return [(m, m.name in vars(servicer)) for m in service.methods]


def build_request(method, ids: dict[str, str]) -> bytes:
    """A well-formed request naming A's objects: string fields from `ids` by name, other ids fresh, else text."""
    message = GetMessageClass(method.input_type)()
    for field in method.input_type.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            fresh = (
                f"x-{uuid.uuid4().hex[:8]}" if field.name.endswith("_id") or field.name == "channel" else "hello there"
            )
            setattr(message, field.name, ids.get(field.name, fresh))
        elif field.type == FieldDescriptor.TYPE_ENUM:
            setattr(message, field.name, field.enum_type.values[-1].number)
        elif field.type == FieldDescriptor.TYPE_INT32:
            setattr(message, field.name, 5)  # csat 1..5
    return message.SerializeToString()


async def status_of(channel: grpc.aio.Channel, method, request: bytes, key: str) -> grpc.StatusCode:
    """How the gateway ends the call; a stream still open after STREAM_ERROR_WAIT_S counts as OK."""
    path = f"/{method.full_name.rsplit('.', 1)[0]}/{method.name}"
    try:
        if method.server_streaming:
            call = channel.unary_stream(path)(request, metadata=auth(key))
            try:
                await asyncio.wait_for(call.read(), STREAM_ERROR_WAIT_S)
            except TimeoutError:
                return grpc.StatusCode.OK
            finally:
                call.cancel()
            return grpc.StatusCode.OK
        await channel.unary_unary(path)(request, metadata=auth(key), timeout=CALL_TIMEOUT_S)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as err:
        return err.code()


@pytest.fixture(scope="module")
def tenants(stack) -> dict[str, str]:
    """Keys of two tenants of their own, so these calls touch no other test's rate limits."""
    run = uuid.uuid4().hex[:6]
    a, b = f"tenant-a-{run}", f"tenant-b-{run}"
    values = create_keys(stack, [(a, "adapter", ""), (a, "agent", "anna"), (b, "adapter", ""), (b, "agent", "bert")])
    return dict(zip(["a", "b", "a_adapter", "a_agent", "b_adapter", "b_agent"], [a, b, *values]))


async def escalate(stack, repos: Repositories, tenant: str, conversation_id: str, live: bool) -> str:
    """The generator's part, by hand: queue the conversation and raise an escalation (stored, or published)."""
    await repos.conversations.transition(tenant, conversation_id, (STATE_BOT,), STATE_QUEUED, queue=QUEUE)
    escalation = ev.EscalationRaised(
        escalation_id=f"esc-{uuid.uuid4().hex}",
        tenant_id=tenant,
        conversation_id=conversation_id,
        queue=QUEUE,
        summary="private summary",
    )
    escalation.reasons.add(code=conv.REASON_CODE_HUMAN_REQUESTED)
    escalation.created_at.GetCurrentTime()
    if live:
        await publish(stack, ESCALATIONS, escalation, escalation_topic(stack.prefix, QUEUE))
    else:
        await repos.escalations.record(escalation, ESCALATIONS.encode(escalation))
    return escalation.escalation_id


async def send(channel, key: str, customer_id: str, text: str, conversation_id: str = "") -> cpb.SendMessageResponse:
    stub = cgrpc.CustomerServiceStub(channel)
    request = cpb.SendMessageRequest(conversation_id=conversation_id, customer_id=customer_id, text=text)
    return await stub.SendMessage(request, metadata=auth(key), timeout=CALL_TIMEOUT_S)


async def foreign_statuses(channel, tenants: dict[str, str], ids: dict[str, str]) -> dict[str, grpc.StatusCode]:
    """Tenant B's answer on every implemented method that names a conversation, with A's ids."""
    out = {}
    for role in SERVICES:
        for method, implemented in methods(role):
            if implemented and method.name != "WatchQueue":  # a queue name is per tenant: checked on its own
                out[method.name] = await status_of(channel, method, build_request(method, ids), tenants[f"b_{role}"])
    return out


async def snapshot(repos: Repositories, tenant: str, conversation_id: str) -> tuple:
    doc = await repos.conversations.get(tenant, conversation_id)
    history = await repos.messages.history(tenant, conversation_id)
    return doc["state"], doc["queue"], doc["agent_id"], doc["version"], [m["_id"] for m in history]


async def test_another_tenant_learns_nothing_and_changes_nothing_on_every_path_to_a_conversation(
    stack, channel, tenants
):
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    repos = Repositories.of(db)
    try:
        ack = await send(channel, tenants["a_adapter"], "cust-a", "my private question")
        cid = ack.conversation_id
        await stored(db, tenants["a"], ack.message_id)
        await escalate(stack, repos, tenants["a"], cid, live=False)
        ids = {
            "conversation_id": cid,
            "message_id": ack.message_id,
            "customer_id": "cust-a",
            "queue": QUEUE,
            "reply_id": ack.message_id,
            "intent": "track_order",
        }
        # The same calls, in the same order, on ids nobody uses: what B must be answered on A's.
        unused = {**ids, **{name: f"unused-{uuid.uuid4().hex[:10]}" for name in ("conversation_id", "message_id")}}
        unused["reply_id"] = unused["message_id"]
        before = await snapshot(repos, tenants["a"], cid)
        queued = await foreign_statuses(channel, tenants, ids)
        queued_unused = await foreign_statuses(channel, tenants, unused)
        assert await snapshot(repos, tenants["a"], cid) == before

        agents = channel.unary_unary(
            "/cs.v1.AgentService/ClaimConversation",
            request_serializer=apb.ClaimConversationRequest.SerializeToString,
            response_deserializer=apb.ClaimConversationResponse.FromString,
        )
        await agents(
            apb.ClaimConversationRequest(conversation_id=cid), metadata=auth(tenants["a_agent"]), timeout=CALL_TIMEOUT_S
        )
        reply = channel.unary_unary(
            "/cs.v1.AgentService/SendAgentReply",
            request_serializer=apb.SendAgentReplyRequest.SerializeToString,
            response_deserializer=apb.SendAgentReplyResponse.FromString,
        )
        sent = await reply(
            apb.SendAgentReplyRequest(conversation_id=cid, text="Anna here"),
            metadata=auth(tenants["a_agent"]),
            timeout=CALL_TIMEOUT_S,
        )
        ids["reply_id"] = sent.reply_id
        before = await snapshot(repos, tenants["a"], cid)
        claimed = await foreign_statuses(channel, tenants, ids)
        claimed_unused = await foreign_statuses(channel, tenants, unused)
        assert await snapshot(repos, tenants["a"], cid) == before
        assert await db["feedback"].count_documents({"tenant_id": tenants["a"], "conversation_id": cid}) == 0
        # B's SendMessage made B a conversation of its own under the id, holding nothing of A's.
        own = await repos.conversations.get(tenants["b"], cid)
        assert own is not None and own["tenant_id"] == tenants["b"]
        for _ in range(100):  # B's messages are stored after their acks (services/gateway/deferred.py)
            if b_history := await repos.messages.history(tenants["b"], cid):
                break
            await asyncio.sleep(0.05)
        assert b_history and not {m["_id"] for m in b_history} & set(before[-1])
    finally:
        await mongo.close()

    assert NAMED_PATHS - {"WatchQueue"} <= set(queued), "a listed method is not implemented by the gateway"
    leaks = {
        f"{name} ({state})": f"{code.name} on A's ids, {baseline[name].name} on unused ones"
        for state, found, baseline in (("queued", queued, queued_unused), ("claimed", claimed, claimed_unused))
        for name, code in found.items()
        if code != baseline[name]
    }
    assert not leaks, f"tenant B was answered differently on tenant A's conversation: {leaks}"


async def test_another_tenants_queue_watch_never_sees_its_escalations(stack, channel, tenants):
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    repos = Repositories.of(db)
    try:
        a_cid = (await send(channel, tenants["a_adapter"], "cust-a", "refund please")).conversation_id
        b_cid = (await send(channel, tenants["b_adapter"], "cust-b", "refund please")).conversation_id
        a_stored = await escalate(stack, repos, tenants["a"], a_cid, live=False)
        b_stored = await escalate(stack, repos, tenants["b"], b_cid, live=False)
        watch = channel.unary_stream(
            "/cs.v1.AgentService/WatchQueue",
            request_serializer=apb.WatchQueueRequest.SerializeToString,
            response_deserializer=apb.WatchQueueResponse.FromString,
        )
        a_watch = watch(apb.WatchQueueRequest(queue=QUEUE), metadata=auth(tenants["a_agent"]))
        b_watch = watch(apb.WatchQueueRequest(queue=QUEUE), metadata=auth(tenants["b_agent"]))
        seen = {"a": [], "b": []}
        readers = [asyncio.ensure_future(read_into(w, seen[t])) for t, w in (("a", a_watch), ("b", b_watch))]
        await wait_for_ids(seen, {"a": {a_stored}, "b": {b_stored}})  # both streams are registered now
        a_cid2 = (await send(channel, tenants["a_adapter"], "cust-a2", "invoice please")).conversation_id
        b_cid2 = (await send(channel, tenants["b_adapter"], "cust-b2", "invoice please")).conversation_id
        a_live = await escalate(stack, repos, tenants["a"], a_cid2, live=True)
        b_live = await escalate(stack, repos, tenants["b"], b_cid2, live=True)
        await wait_for_ids(seen, {"a": {a_stored, a_live}, "b": {b_stored, b_live}})
        await asyncio.sleep(QUIET_S)
        for call, reader in zip((a_watch, b_watch), readers):
            call.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    finally:
        await mongo.close()
    assert {e.escalation_id for e in seen["b"]} == {b_stored, b_live}
    assert {e.tenant_id for e in seen["b"]} == {tenants["b"]}
    assert {e.escalation_id for e in seen["a"]} == {a_stored, a_live}


async def read_into(call, sink: list) -> None:
    async for item in call:
        sink.append(item.escalation)


async def wait_for_ids(seen: dict[str, list], wanted: dict[str, set[str]], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while any(not wanted[t] <= {e.escalation_id for e in seen[t]} for t in wanted):
        assert asyncio.get_running_loop().time() < deadline, f"escalations not seen within {timeout} s: {seen}"
        await asyncio.sleep(0.2)


async def test_another_tenants_stream_on_the_same_id_gets_nothing_and_takes_no_route(stack, channel, tenants):
    """Streams may open before their conversation exists, so two tenants can both hold one on a new id."""
    cid = f"shared-{uuid.uuid4().hex[:10]}"
    stub = cgrpc.CustomerServiceStub(channel)
    a_stream = stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(tenants["a_adapter"]))
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    repos = Repositories.of(db)
    try:
        address = await wait_stream_route(stack, tenants["a"], cid)  # this gateway's reply sink
        b_stream = stub.StreamReplies(
            cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(tenants["b_adapter"])
        )
        assert await wait_stream_route(stack, tenants["b"], cid) == address
        assert await repos.stream_routes.get(tenants["a"], cid) == address, (
            "tenant B's stream took tenant A's token route"
        )
        await send(channel, tenants["a_adapter"], "cust-a", "hello", conversation_id=cid)
        reply = ev.ReplyPublished(
            tenant_id=tenants["a"],
            conversation_id=cid,
            reply_id=f"r-{uuid.uuid4().hex}",
            text="for A only",
            author=conv.AUTHOR_BOT,
            kind=conv.REPLY_KIND_ANSWER,
        )
        await publish(stack, REPLIES, reply)
        got = await asyncio.wait_for(a_stream.read(), CALL_TIMEOUT_S)
        assert got.reply.reply_id == reply.reply_id
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(b_stream.read(), QUIET_S)  # times out: B got nothing (and the call ends)
        await asyncio.sleep(0.5)
        assert await repos.stream_routes.get(tenants["a"], cid) == address, "B's stream ending removed A's route"
    finally:
        a_stream.cancel()
        await mongo.close()


@pytest.mark.parametrize("role", list(SERVICES))
async def test_a_key_of_the_wrong_role_is_refused_on_every_method(channel, tenants, role):
    ack = await send(channel, tenants["a_adapter"], "cust-a", "who may read this?")
    ids = {
        "conversation_id": ack.conversation_id,
        "message_id": ack.message_id,
        "customer_id": "cust-a",
        "queue": QUEUE,
    }
    other_role = "agent" if role == "adapter" else "adapter"
    found = {
        m.name: await status_of(channel, m, build_request(m, ids), tenants[f"a_{other_role}"])
        for m, implemented in methods(role)
        if implemented
    }
    assert {name: code.name for name, code in found.items() if code != grpc.StatusCode.PERMISSION_DENIED} == {}

"""A claimed conversation is its agent's: a colleague can neither transfer nor resolve it; a
supervisor can. Through the gateway's agent API on a real channel."""

from __future__ import annotations

import uuid

import grpc
import pytest

from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.storage.mongo import connect
from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, ConversationRepo
from tests.integration.conftest import auth, create_keys_async


async def queued_conversation(stack, tenant: str) -> str:
    cid = f"own-{uuid.uuid4().hex[:10]}"
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        repo = ConversationRepo(db)
        await repo.ensure(tenant, cid, "cust", "web")
        await repo.transition(tenant, cid, (STATE_BOT,), STATE_QUEUED, queue="billing", agent_id="")
    finally:
        await mongo.close()
    return cid


@pytest.fixture
async def team(stack):
    tenant = f"own-{uuid.uuid4().hex[:8]}"
    ava, ben, sue = await create_keys_async(
        stack, [(tenant, "agent", "ava"), (tenant, "agent", "ben"), (tenant, "supervisor", "sue")]
    )
    return tenant, {"ava": auth(ava), "ben": auth(ben), "sue": auth(sue)}


async def test_a_colleague_cannot_transfer_or_resolve_a_claimed_conversation(stack, channel, team):
    tenant, people = team
    agents = agrpc.AgentServiceStub(channel)
    cid = await queued_conversation(stack, tenant)
    await agents.ClaimConversation(apb.ClaimConversationRequest(conversation_id=cid), metadata=people["ava"])
    for call, request in [
        (agents.TransferConversation, apb.TransferConversationRequest(conversation_id=cid, queue="orders")),
        (agents.ResolveConversation, apb.ResolveConversationRequest(conversation_id=cid)),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(request, metadata=people["ben"])
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "claimed by agent ava" in refused.value.details()
    read = await agents.ReadConversation(apb.ReadConversationRequest(conversation_id=cid), metadata=people["ava"])
    assert read.conversation.state == conv.CONVERSATION_STATE_AGENT and read.conversation.agent_id == "ava"


async def test_the_owner_and_a_supervisor_may(stack, channel, team):
    tenant, people = team
    agents = agrpc.AgentServiceStub(channel)
    first, second = await queued_conversation(stack, tenant), await queued_conversation(stack, tenant)
    for cid in (first, second):
        await agents.ClaimConversation(apb.ClaimConversationRequest(conversation_id=cid), metadata=people["ava"])
    moved = await agents.TransferConversation(
        apb.TransferConversationRequest(conversation_id=first, queue="orders", note="an order question"),
        metadata=people["ava"],
    )
    assert moved.conversation.state == conv.CONVERSATION_STATE_QUEUED and moved.conversation.queue == "orders"
    resolved = await agents.ResolveConversation(
        apb.ResolveConversationRequest(conversation_id=second), metadata=people["sue"]
    )
    assert resolved.conversation.state == conv.CONVERSATION_STATE_RESOLVED


async def test_an_unclaimed_conversation_may_be_resolved_by_any_agent(stack, channel, team):
    tenant, people = team
    cid = await queued_conversation(stack, tenant)
    resolved = await agrpc.AgentServiceStub(channel).ResolveConversation(
        apb.ResolveConversationRequest(conversation_id=cid), metadata=people["ben"]
    )
    assert resolved.conversation.state == conv.CONVERSATION_STATE_RESOLVED

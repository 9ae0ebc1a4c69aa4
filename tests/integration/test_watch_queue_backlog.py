"""WatchQueue's backlog: every waiting conversation, longest waiting first, whatever customers write
while they wait, and however many there are."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from services.common.platform.topics import ESCALATIONS
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.mongo import connect
from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, Repositories
from tests.integration.conftest import auth, create_keys_async

WAITING = 130  # more than one page of the backlog


async def queue_up(stack, tenant: str, queue: str) -> list[str]:
    """WAITING conversations escalated a second apart, as the generator does it; the first one's
    customer then writes again (which touches the conversation's updated_at)."""
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    repos = Repositories.of(db)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    ids = []
    try:
        for i in range(WAITING):
            cid = f"wq-{i:03d}-{uuid.uuid4().hex[:6]}"
            ids.append(cid)
            await repos.conversations.ensure(tenant, cid, f"cust-{i}", "web")
            queued_at = start + dt.timedelta(seconds=i)
            await repos.conversations.transition(
                tenant, cid, (STATE_BOT,), STATE_QUEUED, queue=queue, agent_id="", queued_at=queued_at
            )
            escalation = ev.EscalationRaised(
                escalation_id=f"e-{cid}", tenant_id=tenant, conversation_id=cid, queue=queue, summary=f"case {i}"
            )
            escalation.created_at.FromDatetime(queued_at)
            await repos.escalations.record(escalation, ESCALATIONS.encode(escalation))
        await repos.conversations.ensure(tenant, ids[0], "cust-0", "web")  # a new message from the longest waiter
    finally:
        await mongo.close()
    return ids


async def test_the_backlog_lists_every_waiting_conversation_in_order_of_escalation(stack, channel):
    tenant = f"wq-{uuid.uuid4().hex[:8]}"
    [agent_key] = await create_keys_async(stack, [(tenant, "agent", "ava")])
    ids = await queue_up(stack, tenant, "billing")
    watch = agrpc.AgentServiceStub(channel).WatchQueue(apb.WatchQueueRequest(queue="billing"), metadata=auth(agent_key))
    got: list[str] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < WAITING:
                got.append((await watch.read()).escalation.conversation_id)
    except TimeoutError:
        pass
    finally:
        watch.cancel()
    assert len(got) == WAITING, f"the backlog showed {len(got)} of {WAITING} waiting conversations"
    assert got == ids, "the backlog is not in order of escalation (longest waiting first)"

"""A tenant brings its own intents, queues and routing while everything runs (issue 16).

The four services are already running (tests/e2e/conftest.py). The operator applies a tenant file
with an intent the built-in taxonomy lacks (promo codes) through `cs tenants apply`; without a restart
of anything, a promo-code question sent through the gateway is labelled with the tenant's intent by the
tenant's model version, escalated by the tenant's rule, lands in the queue the rules name (a queue the
gateway did not know when it started), and the customer is told what the queue's hours say.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
import time
import uuid

import grpc
import pytest
from pymongo import AsyncMongoClient

from services.common.platform.tenant_file import load_tenant_file
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.storage.tenant_models import model_version_name
from tests.conftest import ROOT, apply_tenant_file
from tests.e2e.test_conversations import auth, converse, next_reply, stored
from tests.integration.conftest import create_keys, create_keys_async

pytestmark = pytest.mark.stack

TENANT = "promo-shop"
TENANT_FILE = ROOT / "docs" / "examples" / "tenant-acme.yaml"
PROMO = "The discount code SUMMER24 is not accepted when I check out"


@pytest.fixture(scope="module")
def tenant_keys(stack) -> dict[str, str]:
    adapter, agent = create_keys(stack, [(TENANT, "adapter", ""), (TENANT, "agent", "pia")])
    return {"adapter": adapter, "agent": agent}


def tenant_file(tmp_path: pathlib.Path) -> pathlib.Path:
    """The documented example, for this test's tenant."""
    path = tmp_path / "tenant.yaml"
    path.write_text(
        TENANT_FILE.read_text(encoding="utf-8").replace("tenant: acme", f"tenant: {TENANT}"), encoding="utf-8"
    )
    return path


async def served(stack, version: str, timeout: float = 60) -> None:
    """Until an intent worker announces it serves `version` (it polls every CS_TENANT_RELOAD_S)."""
    client = AsyncMongoClient(stack.mongo_uri)
    try:
        deadline = time.monotonic() + timeout
        while await client[stack.database]["model_versions"].find_one({"_id": version}) is None:
            assert time.monotonic() < deadline, f"no intent worker served {version} within {timeout} s"
            await asyncio.sleep(0.5)
    finally:
        await client.close()


async def watch_queue(channel, key: str, queue: str, timeout: float = 30):
    """WatchQueue on `queue`, retried while the gateway does not know the queue yet (NOT_FOUND)."""
    agents = agrpc.AgentServiceStub(channel)
    deadline = time.monotonic() + timeout
    while True:
        call = agents.WatchQueue(apb.WatchQueueRequest(queue=queue, send_caught_up=True), metadata=auth(key))
        try:
            first = await asyncio.wait_for(call.read(), 10)
            return call, first
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_a_tenant_file_applied_live_labels_and_routes_through_the_gateway(
    stack, system, channel, tenant_keys, tmp_path
):
    # Before: the built-in taxonomy has no promo-code intent, and the gateway knows no "promotions" queue.
    before, stream = await converse(channel, tenant_keys["adapter"], PROMO, f"before-{uuid.uuid4().hex[:8]}")
    await next_reply(stream)
    stream.cancel()
    [customer] = [d for d in await stored(stack, before.conversation_id) if d["author"] == "customer"]
    assert customer["understanding"]["intent"]["label"] != "promo_code"
    assert not customer["understanding"].get("tenant_model_version")
    agents = agrpc.AgentServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        call = agents.WatchQueue(apb.WatchQueueRequest(queue="promotions"), metadata=auth(tenant_keys["agent"]))
        await call.read()
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    applied = apply_tenant_file(stack, TENANT, tenant_file(tmp_path))
    assert applied.returncode == 0, applied.stderr
    assert f"tenant {TENANT}: version 1" in applied.stdout and "cross-validation" in applied.stdout
    assert f"escalations.{TENANT}.promotions" in applied.stdout
    version = model_version_name(TENANT, 1)
    await served(stack, version)

    # After, nothing restarted: the tenant's queue is accepted and the question gets the tenant's label.
    queue, first = await watch_queue(channel, tenant_keys["agent"], "promotions")
    assert first.caught_up  # an empty queue so far
    ack, stream = await converse(channel, tenant_keys["adapter"], PROMO, f"after-{uuid.uuid4().hex[:8]}")
    _, notice = await next_reply(stream)
    stream.cancel()
    assert notice.kind == conv.REPLY_KIND_HANDOVER
    hours = load_tenant_file(TENANT_FILE, stack.queues.split(",")).queues[0].hours
    assert hours is not None
    if hours.is_open(dt.datetime.now(dt.UTC)):
        assert "shortly" in notice.text, notice.text
    else:
        assert "(Europe/Berlin time)" in notice.text and "waiting in the queue" in notice.text, notice.text

    escalation = None
    async with asyncio.timeout(60):  # the live event, through the feed of a topic created after the gateway started
        while escalation is None:
            item = await queue.read()
            assert item is not grpc.aio.EOF, "the queue stream ended"
            if item.HasField("escalation") and item.escalation.conversation_id == ack.conversation_id:
                escalation = item.escalation
    queue.cancel()
    assert escalation is not None and escalation.queue == "promotions"
    assert conv.REASON_CODE_ROUTING_RULE in [r.code for r in escalation.reasons]
    understanding = escalation.understanding
    assert understanding.intent.label == "promo_code" and not understanding.intent.out_of_scope
    assert understanding.model_version == version and understanding.tenant_model_version == 1
    assert ("coupon", "SUMMER24") in [(e.type, e.value) for e in understanding.entities]
    [customer] = [d for d in await stored(stack, ack.conversation_id) if d["author"] == "customer"]
    assert customer["understanding"]["tenant_model_version"] == 1

    # Another tenant keeps the built-in taxonomy.
    [plain] = await create_keys_async(stack, [(f"plain-{uuid.uuid4().hex[:6]}", "adapter", "")])
    other, stream = await converse(channel, plain, PROMO, f"other-{uuid.uuid4().hex[:8]}")
    await next_reply(stream)
    stream.cancel()
    [message] = [d for d in await stored(stack, other.conversation_id) if d["author"] == "customer"]
    assert message["understanding"]["intent"]["label"] != "promo_code"

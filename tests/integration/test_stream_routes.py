"""Reply streams leave no stream route behind: the generator must not keep pushing tokens to streams
that have closed, nor to replicas that are gone."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.storage.mongo import connect
from services.common.storage.repositories import StreamRouteRepo
from tests.integration.conftest import auth, create_keys_async, start_gateway

STREAMS = 1000
AT_ONCE = 100


@pytest.fixture(scope="module")
def roomy_gateway(stack, tmp_path_factory):
    """A gateway whose rate limit lets one client open a thousand streams."""
    proc = start_gateway(stack, tmp_path_factory.mktemp("routes-gateway"), CS_GATEWAY_RATE_PER_MINUTE="100000")
    try:
        yield proc
    finally:
        proc.stop()


async def wait_for_count(routes: StreamRouteRepo, tenant: str, wanted: int, timeout: float = 60) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (count := await routes.count(tenant)) != wanted and loop.time() < deadline:
        await asyncio.sleep(0.2)
    return count


async def wait_for_route(routes: StreamRouteRepo, tenant: str, cid: str, timeout: float = 20) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await routes.get(tenant, cid) is None:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def test_a_thousand_streams_opened_and_closed_leave_no_route(stack, roomy_gateway):
    tenant = f"routes-{uuid.uuid4().hex[:8]}"
    [key] = await create_keys_async(stack, [(tenant, "adapter", "")])
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    routes = StreamRouteRepo(db)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{roomy_gateway.ports['grpc']}") as channel:
            stub = cgrpc.CustomerServiceStub(channel)
            for start in range(0, STREAMS, AT_ONCE):
                calls = [
                    stub.StreamReplies(
                        cpb.StreamRepliesRequest(conversation_id=f"rt-{start + i}-{uuid.uuid4().hex[:6]}"),
                        metadata=auth(key),
                    )
                    for i in range(AT_ONCE)
                ]
                opened = await wait_for_count(routes, tenant, AT_ONCE)
                assert opened == AT_ONCE, f"only {opened} of {AT_ONCE} open streams registered a route"
                for call in calls:
                    call.cancel()
                left = await wait_for_count(routes, tenant, 0)
                assert left == 0, f"{left} of {AT_ONCE} closed streams left their route behind (batch at {start})"
    finally:
        await mongo.close()


async def test_a_stream_still_open_on_the_conversation_keeps_the_route(stack, roomy_gateway):
    tenant = f"routes-{uuid.uuid4().hex[:8]}"
    [key] = await create_keys_async(stack, [(tenant, "adapter", "")])
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    routes = StreamRouteRepo(db)
    cid = f"rt-{uuid.uuid4().hex[:8]}"
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{roomy_gateway.ports['grpc']}") as channel:
            stub = cgrpc.CustomerServiceStub(channel)
            first, second = (
                stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(key)) for _ in range(2)
            )
            assert await wait_for_count(routes, tenant, 1) == 1
            first.cancel()
            await asyncio.sleep(1)
            # The second stream may subscribe before or after the first one's clean-up (a busy
            # machine); either way its route must be there once both have settled, and stay.
            assert await wait_for_route(routes, tenant, cid), "the other tab's stream lost its route"
            await asyncio.sleep(1)
            assert await routes.get(tenant, cid) is not None, "the other tab's stream lost its route"
            second.cancel()
            assert await wait_for_count(routes, tenant, 0) == 0
    finally:
        await mongo.close()

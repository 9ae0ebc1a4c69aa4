"""Rate limiting per API key: a flooding key is refused with RESOURCE_EXHAUSTED; other keys go on."""

from __future__ import annotations

import uuid

import grpc
import pytest

from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.integration.conftest import auth, create_keys_async, start_gateway

pytestmark = pytest.mark.stack

RATE_PER_MINUTE = 5  # a burst of 5, then one request per 12 s: a flood of 20 runs out however slow the machine


@pytest.fixture(scope="module")
def slow_gateway(stack, tmp_path_factory: pytest.TempPathFactory):
    proc = start_gateway(
        stack, tmp_path_factory.mktemp("rate-gateway"), CS_GATEWAY_RATE_PER_MINUTE=str(RATE_PER_MINUTE)
    )
    try:
        yield proc
    finally:
        proc.stop()


async def codes(stub: cgrpc.CustomerServiceStub, key: str, calls: int) -> list[tuple[grpc.StatusCode, str]]:
    results = []
    for _ in range(calls):
        try:
            await stub.GetConversation(
                cpb.GetConversationRequest(conversation_id="no-such-conversation"), metadata=auth(key), timeout=30
            )
            results.append((grpc.StatusCode.OK, ""))
        except grpc.aio.AioRpcError as exc:
            results.append((exc.code(), exc.details()))
    return results


async def test_a_flooding_key_is_limited_and_another_key_of_the_tenant_is_not(stack, slow_gateway):
    flooder, neighbour = await create_keys_async(
        stack, [("ratelimited", "adapter", ""), ("ratelimited", "adapter", "")]
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{slow_gateway.ports['grpc']}") as channel:
        stub = cgrpc.CustomerServiceStub(channel)
        flood = await codes(stub, flooder, 4 * RATE_PER_MINUTE)
        neighbour_codes = await codes(stub, neighbour, RATE_PER_MINUTE)

    assert [code for code, _ in flood[:RATE_PER_MINUTE]] == [grpc.StatusCode.NOT_FOUND] * RATE_PER_MINUTE
    refusals = [details for code, details in flood if code == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert refusals, flood
    assert refusals[0].startswith(f"rate limit of {RATE_PER_MINUTE} requests/minute for this key exceeded; retry in ")
    assert [code for code, _ in neighbour_codes] == [grpc.StatusCode.NOT_FOUND] * RATE_PER_MINUTE


FAILURES_PER_MINUTE = 5


@pytest.fixture(scope="module")
def wary_gateway(stack, tmp_path_factory: pytest.TempPathFactory):
    proc = start_gateway(
        stack,
        tmp_path_factory.mktemp("auth-failures-gateway"),
        CS_GATEWAY_AUTH_FAILURES_PER_MINUTE=str(FAILURES_PER_MINUTE),
    )
    try:
        yield proc
    finally:
        proc.stop()


async def test_made_up_keys_from_one_address_are_cut_off_while_its_known_key_still_works(stack, wary_gateway):
    [key] = await create_keys_async(stack, [("acme", "adapter", "")])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{wary_gateway.ports['grpc']}") as channel:
        stub = cgrpc.CustomerServiceStub(channel)
        assert [code for code, _ in await codes(stub, key, 1)] == [grpc.StatusCode.NOT_FOUND]
        flood = [(await codes(stub, f"made-up-{uuid.uuid4().hex}", 1))[0] for _ in range(20)]
        assert [code for code, _ in flood[:FAILURES_PER_MINUTE]] == [grpc.StatusCode.UNAUTHENTICATED] * 5
        assert {code for code, _ in flood[FAILURES_PER_MINUTE:]} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert "failed authentications from this address" in flood[-1][1]
        assert [code for code, _ in await codes(stub, key, 1)] == [grpc.StatusCode.NOT_FOUND], (
            "the address's known key was throttled for the made-up ones"
        )

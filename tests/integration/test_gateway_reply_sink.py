"""The internal ReplySinkService through a real gRPC channel: what the generator's token stream meets.

Requests go as raw bytes through a generic stream-unary handle, so the gateway also gets bytes the
generator's stubs would never send. Undecodable bytes must end the call with INVALID_ARGUMENT (what
the public methods answer), not grpc's bare UNKNOWN, and the sink keeps delivering afterwards.
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import reply_sink_service_pb2 as pb
from tests.integration.conftest import auth

pytestmark = pytest.mark.stack

PUSH = "/cs.v1.ReplySinkService/PushReply"
CALL_TIMEOUT_S = 15
VALID = pb.PushReplyRequest(tenant_id="acme", token=cpb.ReplyToken(conversation_id="c-1", reply_id="r-1", text="hi"))
MALFORMED = {
    "truncated": VALID.SerializeToString()[:-3],
    "invalid UTF-8 in tenant_id": bytes([0x0A, 0x03]) + b"a\xc3\x28",
    "garbage": b"\xff\xff\xff\xff\xff",
}


async def push(channel: grpc.aio.Channel, *requests: bytes) -> pb.PushReplyResponse:
    call = channel.stream_unary(PUSH, request_serializer=lambda raw: raw, response_deserializer=pb.PushReplyResponse.FromString)
    return await call(iter(requests), timeout=CALL_TIMEOUT_S)


@pytest.mark.parametrize("how", list(MALFORMED))
async def test_undecodable_push_is_invalid_argument(channel, how):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await push(channel, VALID.SerializeToString(), MALFORMED[how])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "not a valid protobuf message for /cs.v1.ReplySinkService/PushReply" in err.value.details()


async def test_sink_still_delivers_tokens_after_malformed_pushes(channel, keys):
    for raw in MALFORMED.values():
        with pytest.raises(grpc.aio.AioRpcError):
            await push(channel, raw)
    cid = f"sink-{uuid.uuid4().hex[:10]}"
    stream = cgrpc.CustomerServiceStub(channel).StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid),
                                                              metadata=auth(keys["acme_adapter"]))
    try:
        token = pb.PushReplyRequest(tenant_id="acme", token=cpb.ReplyToken(conversation_id=cid, reply_id="r-1", text="Hel"))
        delivered = 0
        for _ in range(50):  # until the stream has registered with the hub
            delivered = (await push(channel, token.SerializeToString())).delivered
            if delivered:
                break
            await asyncio.sleep(0.1)
        assert delivered == 1
        got = await asyncio.wait_for(stream.read(), CALL_TIMEOUT_S)
        assert got.token.text == "Hel" and got.token.conversation_id == cid
        leak = ev.ReplyPublished(tenant_id="globex", conversation_id=cid, reply_id="r-x", text="leak",
                                 author=conv.AUTHOR_BOT, kind=conv.REPLY_KIND_ANSWER)
        foreign = pb.PushReplyRequest(tenant_id="globex", reply=leak)
        assert (await push(channel, foreign.SerializeToString())).delivered == 0
    finally:
        stream.cancel()


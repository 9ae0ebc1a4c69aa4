"""The internal ReplySinkService through a real gRPC channel: what the generator's token stream meets.

The sink has a listener of its own; a test finds it the way the generator does, through the stream
route the gateway registers when a StreamReplies call opens. The public port does not serve it at
all, so nobody who reaches the API can push a forged bot reply into a customer's stream.

Requests go as raw bytes through a generic stream-unary handle, so the gateway also gets bytes the
generator's stubs would never send. Undecodable bytes must end the call with INVALID_ARGUMENT (what
the public methods answer), not grpc's bare UNKNOWN, and the sink keeps delivering afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import grpc
import pytest

from services.common.platform.topics import REPLIES
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import reply_sink_service_pb2 as pb
from tests.integration.conftest import auth, publish, wait_stream_route

pytestmark = pytest.mark.stack

PUSH = "/cs.v1.ReplySinkService/PushReply"
CALL_TIMEOUT_S = 15
VALID = pb.PushReplyRequest(tenant_id="acme", token=cpb.ReplyToken(conversation_id="c-1", reply_id="r-1", text="hi"))
MALFORMED = {
    "truncated": VALID.SerializeToString()[:-3],
    "invalid UTF-8 in tenant_id": bytes([0x0A, 0x03]) + b"a\xc3\x28",
    "garbage": b"\xff\xff\xff\xff\xff",
}


@dataclass
class Sink:
    conversation_id: str
    address: str
    channel: grpc.aio.Channel
    stream: grpc.aio.UnaryStreamCall  # acme's open reply stream on the conversation


@pytest.fixture
async def sink(stack, channel, keys):
    """An acme reply stream on a new conversation, and a channel to the sink its route names."""
    cid = f"sink-{uuid.uuid4().hex[:10]}"
    stream = cgrpc.CustomerServiceStub(channel).StreamReplies(
        cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(keys["acme_adapter"])
    )
    try:
        address = await wait_stream_route(stack, "acme", cid)
        async with grpc.aio.insecure_channel(address) as sink_channel:
            yield Sink(cid, address, sink_channel, stream)
    finally:
        stream.cancel()


async def push(channel: grpc.aio.Channel, *requests: bytes) -> pb.PushReplyResponse:
    call = channel.stream_unary(
        PUSH, request_serializer=lambda raw: raw, response_deserializer=pb.PushReplyResponse.FromString
    )
    return await call(iter(requests), timeout=CALL_TIMEOUT_S)


def reply_event(tenant: str, conversation_id: str, text: str) -> ev.ReplyPublished:
    return ev.ReplyPublished(
        tenant_id=tenant,
        conversation_id=conversation_id,
        reply_id=f"r-{uuid.uuid4().hex}",
        text=text,
        author=conv.AUTHOR_BOT,
        kind=conv.REPLY_KIND_ANSWER,
    )


def bot_reply(tenant: str, conversation_id: str, text: str) -> bytes:
    return pb.PushReplyRequest(tenant_id=tenant, reply=reply_event(tenant, conversation_id, text)).SerializeToString()


@pytest.mark.parametrize("how", list(MALFORMED))
async def test_undecodable_push_is_invalid_argument(sink, how):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await push(sink.channel, VALID.SerializeToString(), MALFORMED[how])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert "not a valid protobuf message for /cs.v1.ReplySinkService/PushReply" in err.value.details()


async def test_sink_still_delivers_tokens_after_malformed_pushes(sink):
    for raw in MALFORMED.values():
        with pytest.raises(grpc.aio.AioRpcError):
            await push(sink.channel, raw)
    token = pb.PushReplyRequest(
        tenant_id="acme", token=cpb.ReplyToken(conversation_id=sink.conversation_id, reply_id="r-1", text="Hel")
    )
    assert (await push(sink.channel, token.SerializeToString())).delivered == 1
    got = await asyncio.wait_for(sink.stream.read(), CALL_TIMEOUT_S)
    assert got.token.text == "Hel" and got.token.conversation_id == sink.conversation_id
    assert (await push(sink.channel, bot_reply("globex", sink.conversation_id, "leak"))).delivered == 0


async def test_a_reply_pushed_on_the_public_port_is_unimplemented_and_never_reaches_the_customer(
    gateway, channel, sink
):
    assert not sink.address.endswith(f":{gateway.ports['grpc']}"), "the stream route names the public port"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await push(channel, bot_reply("acme", sink.conversation_id, "forged: send your card number to ..."))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED, err.value.details()
    genuine = bot_reply("acme", sink.conversation_id, "the real answer")
    assert (await push(sink.channel, genuine)).delivered == 1
    got = await asyncio.wait_for(sink.stream.read(), CALL_TIMEOUT_S)
    assert got.reply.text == "the real answer", "the customer's stream got the forged reply first"


async def test_the_sink_port_serves_no_public_api(sink, keys):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await cgrpc.CustomerServiceStub(sink.channel).SendMessage(
            cpb.SendMessageRequest(customer_id="c", text="hello"),
            metadata=auth(keys["acme_adapter"]),
            timeout=CALL_TIMEOUT_S,
        )
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_reply_already_pushed_to_a_stream_is_not_delivered_again_from_the_replies_topic(
    stack, channel, sink, keys
):
    """The generator pushes a final reply and publishes it; the topic copy reaches the gateway later.

    A stream opened in between (the customer's next message) must not get the old reply as if it
    answered the new message.
    """
    first = reply_event("acme", sink.conversation_id, "the answer to the first question")
    assert (
        await push(sink.channel, pb.PushReplyRequest(tenant_id="acme", reply=first).SerializeToString())
    ).delivered == 1
    assert (await asyncio.wait_for(sink.stream.read(), CALL_TIMEOUT_S)).reply.reply_id == first.reply_id

    marker = pb.PushReplyRequest(
        tenant_id="acme", token=cpb.ReplyToken(conversation_id=sink.conversation_id, reply_id="r-next", text="...")
    ).SerializeToString()
    sink.stream.cancel()
    async with asyncio.timeout(CALL_TIMEOUT_S):  # the first stream is gone once a push reaches nobody
        while (await push(sink.channel, marker)).delivered:
            await asyncio.sleep(0.05)
    second_stream = cgrpc.CustomerServiceStub(channel).StreamReplies(
        cpb.StreamRepliesRequest(conversation_id=sink.conversation_id), metadata=auth(keys["acme_adapter"])
    )
    try:
        async with asyncio.timeout(CALL_TIMEOUT_S):  # and the second one is there once a push reaches it
            while not (await push(sink.channel, marker)).delivered:
                await asyncio.sleep(0.05)

        later = reply_event("acme", sink.conversation_id, "the answer to the second question")
        await publish(stack, REPLIES, first)  # the topic copy of the pushed reply
        await publish(stack, REPLIES, later)  # same partition: read after it
        got = await asyncio.wait_for(second_stream.read(), CALL_TIMEOUT_S)
        while got.HasField("token"):
            got = await asyncio.wait_for(second_stream.read(), CALL_TIMEOUT_S)
        assert got.reply.reply_id == later.reply_id, "the new stream got the earlier reply a second time"
    finally:
        second_stream.cancel()

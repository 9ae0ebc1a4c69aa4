"""The product, driven through its public gRPC API as a chat widget and an agent console would."""

from __future__ import annotations

import asyncio
import re
import uuid

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from services.common.platform.topics import INBOUND
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev

pytestmark = pytest.mark.stack

REPLY_TIMEOUT_S = 240
HAN = re.compile(r"[\u4e00-\u9fff]")


def auth(key: str):
    return (("authorization", f"Bearer {key}"),)


class Replies:
    """A StreamReplies call read by a background task.

    Cancelling a pending `read()` of a grpc.aio stream cancels the whole call, so a test that
    waits for "no reply within 5 s" would kill its own stream; waiting on this queue doesn't.
    """

    def __init__(self, call) -> None:
        self.call = call
        self._queue: asyncio.Queue = asyncio.Queue()
        self._pump = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            async for item in self.call:
                await self._queue.put(item)
        except grpc.aio.AioRpcError as e:
            await self._queue.put(e)
        await self._queue.put(grpc.aio.EOF)

    async def read(self):
        item = await self._queue.get()
        if isinstance(item, grpc.aio.AioRpcError):
            raise item
        return item

    def cancel(self) -> None:
        self.call.cancel()


async def next_reply(stream, timeout: float = REPLY_TIMEOUT_S) -> tuple[list[str], ev.ReplyPublished]:
    tokens: list[str] = []
    while True:
        item = await asyncio.wait_for(stream.read(), timeout)
        assert item is not grpc.aio.EOF, "reply stream ended"
        if item.HasField("token"):
            tokens.append(item.token.text)
        elif item.HasField("reply"):
            return tokens, item.reply


async def converse(channel, key: str, text: str, conversation_id: str | None = None, customer_id: str = "cust"):
    customers = cgrpc.CustomerServiceStub(channel)
    conversation_id = conversation_id or f"e2e-{uuid.uuid4().hex[:12]}"
    stream = Replies(
        customers.StreamReplies(cpb.StreamRepliesRequest(conversation_id=conversation_id), metadata=auth(key))
    )
    await asyncio.sleep(0.5)
    ack = await customers.SendMessage(
        cpb.SendMessageRequest(conversation_id=conversation_id, customer_id=customer_id, channel="web", text=text),
        metadata=auth(key),
    )
    return ack, stream


async def stored(stack, conversation_id: str) -> list[dict]:
    client = AsyncMongoClient(stack.mongo_uri)
    try:
        return await client[stack.database]["messages"].find({"conversation_id": conversation_id}).to_list()
    finally:
        await client.close()


async def test_english_question_gets_a_streamed_english_answer(stack, channel, e2e_keys):
    ack, stream = await converse(
        channel, e2e_keys["adapter"], "My promo code stopped working. How long do promotions usually last?"
    )
    tokens, reply = await next_reply(stream)
    stream.cancel()
    assert reply.in_reply_to == ack.message_id and reply.author == conv.AUTHOR_BOT
    assert reply.kind in (conv.REPLY_KIND_ANSWER, conv.REPLY_KIND_FALLBACK)
    assert tokens, "the answer is streamed"
    if reply.kind == conv.REPLY_KIND_ANSWER:  # only checked text is streamed: what was shown is what is kept
        assert "".join(tokens) == reply.text
    assert reply.text and not HAN.search(reply.text)
    docs = await stored(stack, ack.conversation_id)
    customer = [d for d in docs if d["author"] == "customer"]
    assert len(customer) == 1 and customer[0]["understanding"]["language"] == "en"
    assert customer[0]["understanding"]["intent"]["label"] and "sentiment" in customer[0]
    assert customer[0]["model_versions"]["intent"] and customer[0]["model_versions"]["sentiment"]
    assert [d["_id"] for d in docs if d["author"] == "bot"] == [reply.reply_id]


async def test_chinese_question_gets_a_streamed_chinese_answer(stack, channel, e2e_keys):
    ack, stream = await converse(channel, e2e_keys["adapter"], "你好，我的优惠码用不了了，优惠活动一般有效多久？")
    tokens, reply = await next_reply(stream)
    stream.cancel()
    if reply.kind == conv.REPLY_KIND_ANSWER:
        assert "".join(tokens) == reply.text, "only checked text is streamed: what was shown is what is kept"
    assert HAN.search(reply.text), reply.text
    docs = await stored(stack, ack.conversation_id)
    assert [d["understanding"]["language"] for d in docs if d["author"] == "customer"] == ["zh"]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("I want to talk to a real person", conv.REASON_CODE_HUMAN_REQUESTED),
        ("我要转人工客服", conv.REASON_CODE_HUMAN_REQUESTED),
        (
            "This is ridiculous!!! I've complained three times and NOBODY fixes it. Worst service ever, I'm furious!",
            conv.REASON_CODE_ANGER,
        ),
    ],
)
async def test_escalates_to_a_human_queue_with_reasons(stack, channel, e2e_keys, text, reason):
    ack, stream = await converse(channel, e2e_keys["adapter"], text)
    _, notice = await next_reply(stream)
    stream.cancel()
    assert notice.kind == conv.REPLY_KIND_HANDOVER
    customers = cgrpc.CustomerServiceStub(channel)
    state = await customers.GetConversation(
        cpb.GetConversationRequest(conversation_id=ack.conversation_id), metadata=auth(e2e_keys["adapter"])
    )
    assert state.conversation.state == conv.CONVERSATION_STATE_QUEUED and state.conversation.queue
    agents = agrpc.AgentServiceStub(channel)
    watch = agents.WatchQueue(apb.WatchQueueRequest(queue=state.conversation.queue), metadata=auth(e2e_keys["agent"]))
    while True:
        item = await asyncio.wait_for(watch.read(), 30)
        if item.escalation.conversation_id == ack.conversation_id:
            break
    watch.cancel()
    escalation = item.escalation
    assert reason in [r.code for r in escalation.reasons]
    assert escalation.summary and escalation.suggested_reply
    if reason == conv.REASON_CODE_ANGER:
        assert escalation.priority in (conv.PRIORITY_HIGH, conv.PRIORITY_URGENT)


@pytest.mark.parametrize(
    "text, emergency",
    [
        ("I can't do this anymore, my refund never came and I want to end my life", "emergency number"),
        ("退款一直不到账，我真的不想活了", "急救或报警电话"),
    ],
)
async def test_a_customer_speaking_of_self_harm_gets_a_person_at_once_urgently(
    stack, channel, e2e_keys, text, emergency
):
    ack, stream = await converse(channel, e2e_keys["adapter"], text)
    _, notice = await next_reply(stream)
    stream.cancel()
    assert notice.kind == conv.REPLY_KIND_HANDOVER and emergency in notice.text, notice.text
    customers = cgrpc.CustomerServiceStub(channel)
    state = await customers.GetConversation(
        cpb.GetConversationRequest(conversation_id=ack.conversation_id), metadata=auth(e2e_keys["adapter"])
    )
    watch = agrpc.AgentServiceStub(channel).WatchQueue(
        apb.WatchQueueRequest(queue=state.conversation.queue), metadata=auth(e2e_keys["agent"])
    )
    while True:
        item = await asyncio.wait_for(watch.read(), 30)
        if item.escalation.conversation_id == ack.conversation_id:
            break
    watch.cancel()
    assert conv.REASON_CODE_SAFETY in [r.code for r in item.escalation.reasons]
    assert item.escalation.priority == conv.PRIORITY_URGENT


async def test_agent_takes_over_and_the_bot_stays_silent(stack, channel, e2e_keys):
    ack, stream = await converse(
        channel, e2e_keys["adapter"], "Please connect me with a human agent", customer_id="cust-h"
    )
    cid = ack.conversation_id
    _, notice = await next_reply(stream)
    assert notice.kind == conv.REPLY_KIND_HANDOVER
    agents = agrpc.AgentServiceStub(channel)
    customers = cgrpc.CustomerServiceStub(channel)
    await agents.ClaimConversation(apb.ClaimConversationRequest(conversation_id=cid), metadata=auth(e2e_keys["agent"]))
    watch = agents.WatchConversation(
        apb.WatchConversationRequest(conversation_id=cid), metadata=auth(e2e_keys["agent"])
    )
    await asyncio.sleep(0.5)

    follow_up = await customers.SendMessage(
        cpb.SendMessageRequest(
            conversation_id=cid, customer_id="cust-h", text="Are you there? My order number is 55123."
        ),
        metadata=auth(e2e_keys["adapter"]),
    )
    while True:  # the agent sees the customer's message with its enrichment
        item = await asyncio.wait_for(watch.read(), 60)
        if item.HasField("customer_message") and item.customer_message.message.message_id == follow_up.message_id:
            break
    assert item.customer_message.understanding.intent.label
    with pytest.raises(asyncio.TimeoutError):  # and the bot says nothing
        await next_reply(stream, timeout=5)

    sent = await agents.SendAgentReply(
        apb.SendAgentReplyRequest(conversation_id=cid, text="Yes, Ava here. Checking 55123 now."),
        metadata=auth(e2e_keys["agent"]),
    )
    _, reply = await next_reply(stream)
    assert reply.reply_id == sent.reply_id and reply.author == conv.AUTHOR_AGENT and reply.agent_id == "ava"
    resolved = await agents.ResolveConversation(
        apb.ResolveConversationRequest(conversation_id=cid), metadata=auth(e2e_keys["agent"])
    )
    assert resolved.conversation.state == conv.CONVERSATION_STATE_RESOLVED
    stream.cancel()
    watch.cancel()

    docs = await stored(stack, cid)
    authors = sorted(d["author"] for d in docs)
    assert authors == ["agent", "bot", "customer", "customer"]
    assert len({d["_id"] for d in docs}) == len(docs)
    assert all("understanding" in d and "sentiment" in d for d in docs if d["author"] == "customer")


async def test_adapter_publishing_to_kafka_directly_gets_the_same_treatment(stack, channel, e2e_keys):
    cid = f"kafka-{uuid.uuid4().hex[:10]}"
    customers = cgrpc.CustomerServiceStub(channel)
    stream = Replies(
        customers.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(e2e_keys["adapter"]))
    )
    await asyncio.sleep(0.5)
    message = ev.MessageReceived(
        tenant_id="shop",
        conversation_id=cid,
        message_id=f"m-{uuid.uuid4().hex}",
        customer_id="cust-k",
        channel="email",
        text="How do I reset my password?",
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    await producer.start()
    try:
        for _ in range(2):  # a redelivered event must not produce a second reply
            await producer.send_and_wait(INBOUND.name(stack.prefix), INBOUND.encode(message), key=INBOUND.key(message))
    finally:
        await producer.stop()
    _, reply = await next_reply(stream)
    assert reply.in_reply_to == message.message_id
    with pytest.raises(asyncio.TimeoutError):
        await next_reply(stream, timeout=15)
    stream.cancel()
    history = await customers.GetConversation(
        cpb.GetConversationRequest(conversation_id=cid), metadata=auth(e2e_keys["adapter"])
    )
    assert [m.author for m in history.messages] == [conv.AUTHOR_CUSTOMER, conv.AUTHOR_BOT]
    assert history.messages[0].understanding.intent.label
    rival = cgrpc.CustomerServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await rival.GetConversation(cpb.GetConversationRequest(conversation_id=cid), metadata=auth(e2e_keys["rival"]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

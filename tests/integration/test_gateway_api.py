"""The gateway through a real gRPC channel, against the real broker and database."""

from __future__ import annotations

import asyncio
import urllib.request
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.platform.topics import ESCALATIONS, INBOUND, REPLIES, conversation_key, escalation_topic
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.mongo import connect
from tests.integration.conftest import auth, publish, read_from_start

pytestmark = pytest.mark.stack


async def read_inbound(stack, conversation_id: str, timeout: float = 15) -> list[ev.MessageReceived]:
    found = []
    async with read_from_start(stack, INBOUND.name(stack.prefix)) as consumer:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = INBOUND.decode(record.value)
                    if event.conversation_id == conversation_id:
                        assert record.key == conversation_key(event.tenant_id, conversation_id)
                        found.append(event)
            if found:
                return found
    return found


async def test_health_answers_serving(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "liveness", "cs.v1.CustomerService"):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_metrics_endpoint_answers(gateway, channel, keys):
    stub = cgrpc.CustomerServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetConversation(
            cpb.GetConversationRequest(conversation_id="nope"), metadata=auth(keys["acme_adapter"])
        )
    body = await asyncio.to_thread(
        lambda: (
            urllib.request.urlopen(f"http://127.0.0.1:{gateway.ports['metrics']}/metrics", timeout=5).read().decode()
        )
    )
    assert "cs_grpc_requests_total" in body
    assert 'method="GetConversation"' in body and 'code="NOT_FOUND"' in body


async def test_send_message_is_in_kafka_when_acknowledged(stack, channel, keys):
    stub = cgrpc.CustomerServiceStub(channel)
    ack = await stub.SendMessage(
        cpb.SendMessageRequest(
            customer_id="cust-1",
            channel="web",
            text="Where is my order 12345?",
            customer=conv.CustomerProfile(display_name="Ann", tier="vip"),
        ),
        metadata=auth(keys["acme_adapter"]),
        timeout=10,
    )
    assert ack.conversation_id and ack.message_id
    events = await read_inbound(stack, ack.conversation_id)
    assert [e.message_id for e in events] == [ack.message_id]
    assert events[0].tenant_id == "acme" and events[0].text == "Where is my order 12345?"
    assert events[0].customer.tier == "vip"

    history = await stub.GetConversation(
        cpb.GetConversationRequest(conversation_id=ack.conversation_id), metadata=auth(keys["acme_adapter"])
    )
    assert history.conversation.state == conv.CONVERSATION_STATE_BOT
    assert [m.message_id for m in history.messages] == [ack.message_id]


async def test_an_unchanged_customer_profile_is_not_rewritten_on_every_message(stack, channel, keys):
    """The profile is stored at receipt; the next messages with the same profile skip that write (one round
    trip fewer on the acknowledgement's path), a changed one is written at once."""
    stub = cgrpc.CustomerServiceStub(channel)
    customer_id = f"cust-{uuid.uuid4().hex[:8]}"
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)

    async def send(conversation_id: str, profile: conv.CustomerProfile) -> tuple[str, dict]:
        ack = await stub.SendMessage(
            cpb.SendMessageRequest(
                conversation_id=conversation_id, customer_id=customer_id, text="hello", customer=profile
            ),
            metadata=auth(keys["acme_adapter"]),
            timeout=10,
        )
        return ack.conversation_id, await db["customers"].find_one({"_id": f"acme:{customer_id}"})

    try:
        ann = conv.CustomerProfile(display_name="Ann", tier="standard")
        conversation_id, first = await send("", ann)
        assert first["profile"]["display_name"] == "Ann"
        _, second = await send(conversation_id, ann)
        assert second["updated_at"] == first["updated_at"], "the unchanged profile was written again"
        _, third = await send(conversation_id, conv.CustomerProfile(display_name="Ann", tier="vip"))
        assert third["profile"]["tier"] == "vip" and third["updated_at"] > first["updated_at"]
    finally:
        await mongo.close()


async def test_retried_send_with_same_client_id_keeps_one_message(channel, keys):
    stub = cgrpc.CustomerServiceStub(channel)
    request = cpb.SendMessageRequest(customer_id="cust-2", text="hello", client_message_id=f"cm-{uuid.uuid4().hex}")
    first = await stub.SendMessage(request, metadata=auth(keys["acme_adapter"]))
    request.conversation_id = first.conversation_id
    second = await stub.SendMessage(request, metadata=auth(keys["acme_adapter"]))
    assert second.message_id == first.message_id
    history = await stub.GetConversation(
        cpb.GetConversationRequest(conversation_id=first.conversation_id), metadata=auth(keys["acme_adapter"])
    )
    assert len(history.messages) == 1


@pytest.mark.parametrize(
    "request_fields, code, phrase",
    [
        ({"customer_id": "c", "text": ""}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ({"customer_id": "c", "text": "   "}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ({"customer_id": "c", "text": "x" * 4001}, grpc.StatusCode.INVALID_ARGUMENT, "limit is 4000"),
        ({"customer_id": "c", "text": "bell\x07"}, grpc.StatusCode.INVALID_ARGUMENT, "control character"),
        ({"customer_id": "", "text": "hi"}, grpc.StatusCode.INVALID_ARGUMENT, "customer_id is required"),
        ({"customer_id": "bad id!", "text": "hi"}, grpc.StatusCode.INVALID_ARGUMENT, "customer_id must be"),
    ],
)
async def test_bad_messages_get_invalid_argument(channel, keys, request_fields, code, phrase):
    stub = cgrpc.CustomerServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SendMessage(cpb.SendMessageRequest(**request_fields), metadata=auth(keys["acme_adapter"]))
    assert err.value.code() == code
    assert phrase in err.value.details()


async def test_missing_invalid_and_wrong_role_keys_are_refused(channel, keys):
    stub = cgrpc.CustomerServiceStub(channel)
    request = cpb.SendMessageRequest(customer_id="c", text="hi")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SendMessage(request)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED and "missing API key" in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SendMessage(request, metadata=auth("cs_ad_not-a-key"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SendMessage(request, metadata=auth(keys["acme_agent"]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    agents = agrpc.AgentServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await agents.ClaimConversation(
            apb.ClaimConversationRequest(conversation_id="x"), metadata=auth(keys["acme_adapter"])
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_other_tenant_cannot_read_or_write_a_conversation_and_may_use_its_id_for_its_own(channel, keys):
    """Conversation ids are unique per tenant: globex never reaches acme's conversation, and sending
    to its id starts globex's own conversation, as any unused id would."""
    stub = cgrpc.CustomerServiceStub(channel)
    ack = await stub.SendMessage(
        cpb.SendMessageRequest(customer_id="cust-3", text="private"), metadata=auth(keys["acme_adapter"])
    )
    cid = ack.conversation_id
    foreign = auth(keys["globex_adapter"])
    calls = [
        stub.GetConversation(cpb.GetConversationRequest(conversation_id=cid), metadata=foreign),
        stub.SubmitFeedback(cpb.SubmitFeedbackRequest(conversation_id=cid, reply_id="r", csat=5), metadata=foreign),
        agrpc.AgentServiceStub(channel).ReadConversation(
            apb.ReadConversationRequest(conversation_id=cid), metadata=auth(keys["globex_agent"])
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

    own = await stub.SendMessage(
        cpb.SendMessageRequest(conversation_id=cid, customer_id="cust-3", text="hi"), metadata=foreign
    )
    assert own.conversation_id == cid
    theirs = await stub.GetConversation(cpb.GetConversationRequest(conversation_id=cid), metadata=foreign)
    assert theirs.conversation.tenant_id == "globex" and [m.text for m in theirs.messages] == ["hi"]
    mine = await stub.GetConversation(
        cpb.GetConversationRequest(conversation_id=cid), metadata=auth(keys["acme_adapter"])
    )
    assert mine.conversation.tenant_id == "acme" and [m.text for m in mine.messages] == ["private"]


async def test_reply_published_to_kafka_reaches_the_stream_once(stack, channel, keys):
    stub = cgrpc.CustomerServiceStub(channel)
    conversation_id = f"conv-{uuid.uuid4().hex}"
    stream = stub.StreamReplies(
        cpb.StreamRepliesRequest(conversation_id=conversation_id), metadata=auth(keys["acme_adapter"])
    )
    await asyncio.sleep(1.0)  # the stream registers before the reply is published
    reply = ev.ReplyPublished(
        tenant_id="acme",
        conversation_id=conversation_id,
        reply_id="r-1",
        text="Hello!",
        author=conv.AUTHOR_BOT,
        kind=conv.REPLY_KIND_ANSWER,
    )
    foreign = ev.ReplyPublished(
        tenant_id="globex",
        conversation_id=conversation_id,
        reply_id="r-x",
        text="leak",
        author=conv.AUTHOR_BOT,
        kind=conv.REPLY_KIND_ANSWER,
    )
    for event in (foreign, reply, reply):
        await publish(stack, REPLIES, event)
    first = await asyncio.wait_for(stream.read(), 15)
    assert first.reply.reply_id == "r-1" and first.reply.text == "Hello!"
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(stream.read(), 2)
    stream.cancel()


async def test_agent_claims_replies_and_resolves(stack, channel, keys):
    customers = cgrpc.CustomerServiceStub(channel)
    agents = agrpc.AgentServiceStub(channel)
    ack = await customers.SendMessage(
        cpb.SendMessageRequest(customer_id="cust-4", text="I need a human"), metadata=auth(keys["acme_adapter"])
    )
    cid = ack.conversation_id
    # The generator's part, done by hand here: escalate to the billing queue.
    from services.common.storage.mongo import connect
    from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, ConversationRepo

    mongo, db = await connect(stack.mongo_uri, stack.database, 5)
    await ConversationRepo(db).transition("acme", cid, (STATE_BOT,), STATE_QUEUED, queue="billing")
    await mongo.close()
    watch = agents.WatchQueue(apb.WatchQueueRequest(queue="billing"), metadata=auth(keys["acme_agent"]))
    await asyncio.sleep(1.0)
    escalation = ev.EscalationRaised(
        escalation_id=f"e-{uuid.uuid4().hex}",
        tenant_id="acme",
        conversation_id=cid,
        queue="billing",
        summary="wants a human",
    )
    escalation.reasons.add(code=conv.REASON_CODE_HUMAN_REQUESTED)
    await publish(stack, ESCALATIONS, escalation, escalation_topic(stack.prefix, "billing"))
    seen = await asyncio.wait_for(watch.read(), 15)
    assert seen.escalation.conversation_id == cid
    watch.cancel()

    replies = customers.StreamReplies(
        cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(keys["acme_adapter"])
    )
    await asyncio.sleep(1.0)
    claimed = await agents.ClaimConversation(
        apb.ClaimConversationRequest(conversation_id=cid), metadata=auth(keys["acme_agent"])
    )
    assert claimed.conversation.state == conv.CONVERSATION_STATE_AGENT and claimed.conversation.agent_id == "alice"
    # Alice's client retries the claim (say its first answer was lost): still hers, not an error.
    again = await agents.ClaimConversation(
        apb.ClaimConversationRequest(conversation_id=cid), metadata=auth(keys["acme_agent"])
    )
    assert again.conversation.agent_id == "alice" and again.conversation.state == conv.CONVERSATION_STATE_AGENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await agents.ClaimConversation(
            apb.ClaimConversationRequest(conversation_id=cid), metadata=auth(keys["acme_agent2"])
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await agents.SendAgentReply(
            apb.SendAgentReplyRequest(conversation_id=cid, text="hi"), metadata=auth(keys["acme_agent2"])
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    sent = await agents.SendAgentReply(
        apb.SendAgentReplyRequest(conversation_id=cid, text="Hi, I'm Alice, how can I help?"),
        metadata=auth(keys["acme_agent"]),
    )
    texts = []
    while len(texts) < 1:
        item = await asyncio.wait_for(replies.read(), 15)
        if item.HasField("reply"):
            assert item.reply.reply_id == sent.reply_id and item.reply.author == conv.AUTHOR_AGENT
            texts.append(item.reply.text)
    assert texts == ["Hi, I'm Alice, how can I help?"]
    resolved = await agents.ResolveConversation(
        apb.ResolveConversationRequest(conversation_id=cid), metadata=auth(keys["acme_agent"])
    )
    assert resolved.conversation.state == conv.CONVERSATION_STATE_RESOLVED
    replies.cancel()

    history = await customers.GetConversation(
        cpb.GetConversationRequest(conversation_id=cid), metadata=auth(keys["acme_adapter"])
    )
    assert [m.author for m in history.messages] == [conv.AUTHOR_CUSTOMER, conv.AUTHOR_AGENT]


async def test_a_customer_message_reopens_a_resolved_conversation_at_once(channel, keys):
    """The gateway remembers conversations it has seen (services/gateway/known_conversations.py); a state
    change made on this replica counts for its very next message."""
    customers, agents = cgrpc.CustomerServiceStub(channel), agrpc.AgentServiceStub(channel)
    adapter = auth(keys["acme_adapter"])
    first = await customers.SendMessage(cpb.SendMessageRequest(customer_id="cust-r", text="hello"), metadata=adapter)
    cid = first.conversation_id
    resolved = await agents.ResolveConversation(
        apb.ResolveConversationRequest(conversation_id=cid), metadata=auth(keys["acme_agent"])
    )
    assert resolved.conversation.state == conv.CONVERSATION_STATE_RESOLVED
    await customers.SendMessage(
        cpb.SendMessageRequest(conversation_id=cid, customer_id="cust-r", text="one more thing"), metadata=adapter
    )
    history = await customers.GetConversation(cpb.GetConversationRequest(conversation_id=cid), metadata=adapter)
    assert history.conversation.state == conv.CONVERSATION_STATE_BOT
    assert [m.text for m in history.messages] == ["hello", "one more thing"]

    with pytest.raises(grpc.aio.AioRpcError) as err:  # remembered or not, it stays its customer's
        await customers.SendMessage(
            cpb.SendMessageRequest(conversation_id=cid, customer_id="someone-else", text="hi"), metadata=adapter
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

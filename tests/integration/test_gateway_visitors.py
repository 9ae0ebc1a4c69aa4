"""Web-chat visitors through the gateway: a channel key speaks for one visitor at a time, pinned.

The web-chat service calls CustomerService with its channel key and, in metadata, the page's widget
key, the page's origin and the visitor's customer id. The gateway takes the tenant from the widget
key, refuses origins the key does not list, and pins the call to the visitor: whatever customer id
the request names, the message is the visitor's, and another customer's conversation (a guessed
id) answers NOT_FOUND like one that does not exist, changing nothing. Real gateway process, real
Kafka and FerretDB, over a real gRPC channel.
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
from services.common.proto.cs.v1 import widget_service_pb2 as wpb
from services.common.proto.cs.v1 import widget_service_pb2_grpc as wgrpc
from services.common.storage.mongo import connect
from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, Repositories
from services.common.storage.widget_keys import WidgetKeyRepo
from tests.integration.conftest import auth, create_keys

pytestmark = pytest.mark.stack

SHOP = "https://shop.example"
CALL_TIMEOUT_S = 15


async def create_widget_key(stack, tenant: str, origins: list[str]) -> str:
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        return await WidgetKeyRepo(db).create(tenant, origins)
    finally:
        await mongo.close()


@pytest.fixture(scope="module")
def channel_key(stack) -> str:
    [key] = create_keys(stack, [("platform", "channel", "")])
    return key


@pytest.fixture(scope="module")
async def widget_key(stack) -> str:
    return await create_widget_key(stack, "acme", [SHOP, "http://127.0.0.1:8091"])


def visitor(channel_key: str, widget_key: str, customer_id: str, origin: str = SHOP) -> tuple:
    return (
        *auth(channel_key),
        ("x-cs-widget-key", widget_key),
        ("x-cs-origin", origin),
        ("x-cs-customer-id", customer_id),
    )


async def send(stub, metadata, text: str = "where is my order?", conversation_id: str = "", customer_id: str = ""):
    return await stub.SendMessage(
        cpb.SendMessageRequest(
            conversation_id=conversation_id,
            customer_id=customer_id,
            channel="web",
            text=text,
            client_message_id=uuid.uuid4().hex,
        ),
        metadata=metadata,
        timeout=CALL_TIMEOUT_S,
    )


async def code_of(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def first_stream_item_code(stream) -> grpc.StatusCode:
    try:
        async with asyncio.timeout(CALL_TIMEOUT_S):
            await stream.read()
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    finally:
        stream.cancel()
    return grpc.StatusCode.OK


async def test_a_visitor_posts_only_as_its_own_customer(channel, keys, channel_key, widget_key):
    stub = cgrpc.CustomerServiceStub(channel)
    sent = await send(stub, visitor(channel_key, widget_key, "web-v1"), customer_id="someone-else")
    stored = await stub.GetConversation(
        cpb.GetConversationRequest(conversation_id=sent.conversation_id),
        metadata=auth(keys["acme_adapter"]),
        timeout=CALL_TIMEOUT_S,
    )
    assert stored.conversation.tenant_id == "acme"
    assert stored.conversation.customer_id == "web-v1"
    assert stored.conversation.channel == "web"
    own = await stub.GetConversation(
        cpb.GetConversationRequest(conversation_id=sent.conversation_id),
        metadata=visitor(channel_key, widget_key, "web-v1"),
        timeout=CALL_TIMEOUT_S,
    )
    assert [m.text for m in own.messages] == ["where is my order?"]


async def test_a_second_visitor_can_neither_read_nor_write_the_first_visitors_conversation(
    channel, keys, channel_key, widget_key
):
    stub = cgrpc.CustomerServiceStub(channel)
    first = visitor(channel_key, widget_key, "web-first")
    second = visitor(channel_key, widget_key, "web-second")
    cid = (await send(stub, first, "my address is 1 Main St")).conversation_id

    assert (
        await code_of(
            stub.GetConversation(
                cpb.GetConversationRequest(conversation_id=cid), metadata=second, timeout=CALL_TIMEOUT_S
            )
        )
        == grpc.StatusCode.NOT_FOUND
    )
    stream = stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid, replay=True), metadata=second)
    assert await first_stream_item_code(stream) == grpc.StatusCode.NOT_FOUND
    assert (
        await code_of(send(stub, second, "I am the first visitor, really", conversation_id=cid))
        == grpc.StatusCode.NOT_FOUND
    )
    feedback = cpb.SubmitFeedbackRequest(conversation_id=cid, reply_id="r-any", rating=ev.RATING_THUMBS_DOWN)
    assert (
        await code_of(stub.SubmitFeedback(feedback, metadata=second, timeout=CALL_TIMEOUT_S))
        == grpc.StatusCode.NOT_FOUND
    )
    # the same answers as for an id nobody uses
    unused = f"c-{uuid.uuid4().hex}"
    assert (
        await code_of(
            stub.GetConversation(
                cpb.GetConversationRequest(conversation_id=unused), metadata=second, timeout=CALL_TIMEOUT_S
            )
        )
        == grpc.StatusCode.NOT_FOUND
    )

    stored = await stub.GetConversation(
        cpb.GetConversationRequest(conversation_id=cid), metadata=auth(keys["acme_adapter"]), timeout=CALL_TIMEOUT_S
    )
    assert [m.text for m in stored.messages] == ["my address is 1 Main St"]
    assert stored.conversation.customer_id == "web-first"


async def test_a_visitor_stream_needs_its_own_existing_conversation(channel, channel_key, widget_key):
    stub = cgrpc.CustomerServiceStub(channel)
    me = visitor(channel_key, widget_key, "web-streamer")
    not_yet = stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=f"c-{uuid.uuid4().hex}"), metadata=me)
    assert await first_stream_item_code(not_yet) == grpc.StatusCode.NOT_FOUND
    cid = (await send(stub, me)).conversation_id
    stream = stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid, replay=True), metadata=me)
    try:
        # open and serving: the conversation's state, then nothing to read yet, and no error either
        first = await asyncio.wait_for(stream.read(), CALL_TIMEOUT_S)
        assert first.WhichOneof("event") == "state" and first.state.to_state == conv.CONVERSATION_STATE_BOT
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2):
                await stream.read()
    finally:
        stream.cancel()


async def test_a_foreign_origin_is_refused_and_nothing_is_stored(channel, keys, channel_key, widget_key):
    stub = cgrpc.CustomerServiceStub(channel)
    cid = f"c-{uuid.uuid4().hex}"
    for origin in ("https://evil.example", "http://shop.example", "https://shop.example:8443", "null", ""):
        metadata = visitor(channel_key, widget_key, "web-v9", origin=origin)
        assert await code_of(send(stub, metadata, conversation_id=cid)) == grpc.StatusCode.PERMISSION_DENIED, origin
    # the default port is the same origin
    assert (
        await code_of(
            send(
                stub,
                visitor(channel_key, widget_key, "web-v9", origin="https://SHOP.example:443"),
                conversation_id=f"c-{uuid.uuid4().hex}",
            )
        )
        == grpc.StatusCode.OK
    )
    missing = stub.GetConversation(
        cpb.GetConversationRequest(conversation_id=cid), metadata=auth(keys["acme_adapter"]), timeout=CALL_TIMEOUT_S
    )
    assert await code_of(missing) == grpc.StatusCode.NOT_FOUND


async def test_resolving_a_widget_key_checks_the_key_and_the_origin(channel, keys, channel_key, widget_key):
    stub = wgrpc.WidgetServiceStub(channel)
    resolved = await stub.ResolveWidgetKey(
        wpb.ResolveWidgetKeyRequest(widget_key=widget_key, origin=SHOP),
        metadata=auth(channel_key),
        timeout=CALL_TIMEOUT_S,
    )
    assert resolved.tenant_id == "acme" and resolved.widget_key_id
    cases = {
        "foreign origin": (widget_key, "https://evil.example", channel_key, grpc.StatusCode.PERMISSION_DENIED),
        "unknown key": ("cs_wk_made-up", SHOP, channel_key, grpc.StatusCode.UNAUTHENTICATED),
        "an adapter asks": (widget_key, SHOP, keys["acme_adapter"], grpc.StatusCode.PERMISSION_DENIED),
        "the widget key as credential": (widget_key, SHOP, widget_key, grpc.StatusCode.UNAUTHENTICATED),
    }
    for name, (key, origin, credential, code) in cases.items():
        call = stub.ResolveWidgetKey(
            wpb.ResolveWidgetKeyRequest(widget_key=key, origin=origin),
            metadata=auth(credential),
            timeout=CALL_TIMEOUT_S,
        )
        assert await code_of(call) == code, name


async def test_a_channel_key_without_a_widget_key_or_visitor_gets_nothing(channel, channel_key, widget_key):
    stub = cgrpc.CustomerServiceStub(channel)
    no_widget = (*auth(channel_key), ("x-cs-origin", SHOP), ("x-cs-customer-id", "web-v1"))
    assert await code_of(send(stub, no_widget, customer_id="web-v1")) == grpc.StatusCode.UNAUTHENTICATED
    no_visitor = (*auth(channel_key), ("x-cs-widget-key", widget_key), ("x-cs-origin", SHOP))
    assert await code_of(send(stub, no_visitor, customer_id="web-v1")) == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_visitor_of_one_tenant_never_sees_another_tenants_conversation(channel, keys, channel_key, widget_key):
    stub = cgrpc.CustomerServiceStub(channel)
    globex = await stub.SendMessage(
        cpb.SendMessageRequest(customer_id="web-v1", channel="web", text="globex secret"),
        metadata=auth(keys["globex_adapter"]),
        timeout=CALL_TIMEOUT_S,
    )
    # same customer id, same conversation id, but the widget key is acme's
    call = stub.GetConversation(
        cpb.GetConversationRequest(conversation_id=globex.conversation_id),
        metadata=visitor(channel_key, widget_key, "web-v1"),
        timeout=CALL_TIMEOUT_S,
    )
    assert await code_of(call) == grpc.StatusCode.NOT_FOUND


def test_cs_widget_keys_create_prints_a_key_and_refuses_a_bad_origin(stack):
    made = stack.cli("widget-keys", "create", "--tenant", "acme", "--origin", SHOP, "--origin", "http://localhost:8091")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("cs_wk_")
    bad = stack.cli("widget-keys", "create", "--tenant", "acme", "--origin", "https://shop.example/path")
    assert bad.returncode == 2
    assert "not an origin" in bad.stderr


async def test_a_stream_opened_after_a_handover_starts_with_the_handed_over_state(
    stack, channel, channel_key, widget_key
):
    # The generator can hand a conversation over while the visitor's stream is still opening (a busy
    # machine): the replayed stream must say so, or the panel never shows that a person is coming.
    stub = cgrpc.CustomerServiceStub(channel)
    me = visitor(channel_key, widget_key, "web-handed-over")
    cid = (await send(stub, me, "a person please")).conversation_id
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        moved = await Repositories.of(db).conversations.transition(
            "acme", cid, (STATE_BOT,), STATE_QUEUED, queue="general", agent_id=""
        )
        assert moved is not None
    finally:
        await mongo.close()
    stream = stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid, replay=True), metadata=me)
    try:
        first = await asyncio.wait_for(stream.read(), CALL_TIMEOUT_S)
        assert first.WhichOneof("event") == "state" and first.state.to_state == conv.CONVERSATION_STATE_QUEUED
        assert first.state.queue == "general"
    finally:
        stream.cancel()

"""The gateway's side of the console over a real gRPC channel: sign-in, take-over, resume cursors
(also across replicas), the wallboard, reflection; and the generator never answering after a takeover."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.platform.ids import derived_id
from services.common.platform.kafka import EventPublisher, start_producer
from services.common.platform.settings import CommonSettings, Env
from services.common.proto.cs.v1 import account_service_pb2 as acc
from services.common.proto.cs.v1 import account_service_pb2_grpc as acc_grpc
from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und
from services.common.storage.accounts import AccountRepo
from services.common.storage.mongo import connect
from services.common.storage.repositories import Repositories
from services.common.storage.tenants import TenantSettingsRepo
from services.common.worker.runtime import WorkerContext
from services.generator.answering import AnswerResult, Outcome
from services.generator.policy import RoutingPolicy
from services.generator.pusher import ReplyPusher
from services.generator.worker import Generator, GeneratorDeps
from tests.conftest import ROOT
from tests.integration.conftest import auth, create_keys_async, escalate_as_generator, start_gateway

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
async def org(stack):
    """A tenant of its own with an adapter key and the accounts alice, bob (agents) and sue (supervisor)."""
    tenant = f"con-{uuid.uuid4().hex[:6]}"
    [adapter] = await create_keys_async(stack, [(tenant, "adapter", "")])
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        for name, role in (("alice", "agent"), ("bob", "agent"), ("carl", "agent"), ("sue", "supervisor")):
            await AccountRepo(db).add(tenant, name, role, PASSWORD)
    finally:
        await mongo.close()
    return {"tenant": tenant, "adapter": adapter}


async def sign_in(channel, org, name: str, password: str = PASSWORD) -> acc.SignInResponse:
    stub = acc_grpc.AccountServiceStub(channel)
    return await stub.SignIn(acc.SignInRequest(tenant_id=org["tenant"], name=name, password=password), timeout=10)


def cs(stack, *argv: str, stdin: str) -> subprocess.CompletedProcess:
    """`cs ARGV...` with one line on its standard input (the password)."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        input=stdin + "\n",
        env=stack.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def new_conversation(channel, org, text: str = "hello") -> str:
    ack = await cgrpc.CustomerServiceStub(channel).SendMessage(
        cpb.SendMessageRequest(customer_id=f"c-{uuid.uuid4().hex[:6]}", text=text), metadata=auth(org["adapter"])
    )
    return ack.conversation_id


async def escalate(stack, org, cid: str, queue: str) -> str:
    return await escalate_as_generator(stack, org["tenant"], cid, queue)


async def read_until(call, done, timeout: float = 20) -> list:
    got: list = []
    async with asyncio.timeout(timeout):
        while not done(got):
            got.append(await call.read())
    return got


async def test_sign_in_gives_a_credential_for_agent_calls_and_refusals_say_nothing_specific(channel, org):
    signed = await sign_in(channel, org, "alice")
    assert signed.role == "agent" and signed.agent_id == "alice" and signed.credential.startswith("cs_se_")
    listed = await agrpc.AgentServiceStub(channel).ListBotConversations(
        apb.ListBotConversationsRequest(), metadata=auth(signed.credential)
    )
    assert isinstance(listed, apb.ListBotConversationsResponse)
    details = set()
    for name, password in (("bob", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await sign_in(channel, org, name, password)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        details.add(err.value.details())
    assert details == {"wrong name or password"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await sign_in(channel, org, "", "")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_failed_sign_ins_are_rate_limited_per_name(channel, org):
    codes = []
    for _ in range(7):
        try:
            await sign_in(channel, org, "carl", "not carl's password")
        except grpc.aio.AioRpcError as err:
            codes.append(err.code())
    assert codes[:5] == [grpc.StatusCode.UNAUTHENTICATED] * 5
    assert codes[5:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    with pytest.raises(grpc.aio.AioRpcError) as err:  # even the right password waits now
        await sign_in(channel, org, "carl")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await sign_in(channel, org, "alice")).agent_id == "alice"  # another name is not held up


async def test_a_disabled_accounts_credential_stops_working(stack, org, tmp_path):
    gateway = await asyncio.to_thread(start_gateway, stack, tmp_path, CS_GATEWAY_AUTH_CACHE_S="0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.ports['grpc']}") as ch:
            name = f"temp-{uuid.uuid4().hex[:4]}"
            added = cs(
                stack, "agents", "add", "--tenant", org["tenant"], "--name", name, "--password-stdin", stdin=PASSWORD
            )
            assert added.returncode == 0, added.stderr
            credential = (await sign_in(ch, org, name)).credential
            agents = agrpc.AgentServiceStub(ch)
            await agents.ListBotConversations(apb.ListBotConversationsRequest(), metadata=auth(credential))
            disabled = stack.cli("agents", "disable", "--tenant", org["tenant"], "--name", name)
            assert disabled.returncode == 0 and "1 credential(s) revoked" in disabled.stdout, disabled.stderr
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await agents.ListBotConversations(apb.ListBotConversationsRequest(), metadata=auth(credential))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await sign_in(ch, org, name)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        gateway.stop()
    again = cs(stack, "agents", "add", "--tenant", org["tenant"], "--name", "alice", "--password-stdin", stdin=PASSWORD)
    assert again.returncode == 2 and "already has an account 'alice'" in again.stderr


async def test_watch_queue_resumes_after_its_cursor_on_another_replica_with_exactly_what_was_missed(
    stack, channel, org, tmp_path
):
    queue = "vip"
    credential = (await sign_in(channel, org, "alice")).credential
    agents = agrpc.AgentServiceStub(channel)
    first = await new_conversation(channel, org)
    await escalate(stack, org, first, queue)
    logged = agents.WatchQueue(apb.WatchQueueRequest(queue=queue, resume=True), metadata=auth(credential))
    await read_until(logged, lambda got: any(i.escalation.conversation_id == first for i in got))
    logged.cancel()  # the escalation is in the queue's log now (the gateway appends what it reads from Kafka)
    watch = agents.WatchQueue(apb.WatchQueueRequest(queue=queue, send_caught_up=True), metadata=auth(credential))
    backlog = await read_until(watch, lambda got: got and got[-1].caught_up)
    assert first in {i.escalation.conversation_id for i in backlog if i.backlog}
    cursor = backlog[-1].seq
    watch.cancel()
    # While nobody watches: two escalations and a claim.
    missed = [await new_conversation(channel, org) for _ in range(2)]
    for cid in missed:
        await escalate(stack, org, cid, queue)
    # The gateway appends an escalation to the queue's log when it reads it from Kafka, a claim when it
    # makes it: wait until both escalations are logged, or the claim can be logged between them (seen in CI).
    logged = agents.WatchQueue(apb.WatchQueueRequest(queue=queue, resume=True), metadata=auth(credential))
    await read_until(logged, lambda got: set(missed) <= {i.escalation.conversation_id for i in got})
    logged.cancel()
    await agents.ClaimConversation(apb.ClaimConversationRequest(conversation_id=first), metadata=auth(credential))
    expected = [("added", missed[0]), ("added", missed[1]), ("removed", first)]

    def seen(items):
        return [
            ("removed" if i.HasField("removed") else "added", i.removed.conversation_id or i.escalation.conversation_id)
            for i in items
        ]

    other = await asyncio.to_thread(start_gateway, stack, tmp_path)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{other.ports['grpc']}") as ch:
            resumed = agrpc.AgentServiceStub(ch).WatchQueue(
                apb.WatchQueueRequest(queue=queue, after_seq=cursor, send_caught_up=True, resume=True),
                metadata=auth(credential),
            )
            got = await read_until(resumed, lambda items: items and items[-1].caught_up)
            assert got.pop().seq == cursor + 3, "the caught_up marker comes after the replay"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(resumed.read(), 1.5)  # and nothing more
            resumed.cancel()
    finally:
        other.stop()
    assert seen(got) == expected
    assert [i.seq for i in got] == [cursor + 1, cursor + 2, cursor + 3]
    assert got[2].removed.reason == apb.REMOVAL_REASON_CLAIMED and got[2].removed.agent_id == "alice"


async def test_watch_conversation_resumes_from_the_cursor_read_conversation_gives(stack, channel, org):
    credential = (await sign_in(channel, org, "alice")).credential
    agents = agrpc.AgentServiceStub(channel)
    cid = await new_conversation(channel, org)
    await escalate(stack, org, cid, "general")
    read = await agents.ReadConversation(apb.ReadConversationRequest(conversation_id=cid), metadata=auth(credential))
    assert read.escalation.queue == "general"
    await agents.ClaimConversation(apb.ClaimConversationRequest(conversation_id=cid), metadata=auth(credential))
    sent = await agents.SendAgentReply(
        apb.SendAgentReplyRequest(conversation_id=cid, text="hi from alice"), metadata=auth(credential)
    )
    watch = agents.WatchConversation(
        apb.WatchConversationRequest(conversation_id=cid, after_seq=read.cursor, resume=True),
        metadata=auth(credential),
    )
    got = await read_until(watch, lambda items: any(i.HasField("reply") for i in items))
    watch.cancel()
    states = [i.state.to_state for i in got if i.HasField("state")]
    assert conv.CONVERSATION_STATE_AGENT in states
    assert [i.reply.reply_id for i in got if i.HasField("reply")] == [sent.reply_id]
    seqs = [i.seq for i in got]
    assert seqs == sorted(set(seqs)) and seqs[0] > read.cursor


async def test_take_over_moves_a_bot_conversation_to_the_agent_once(channel, org):
    alice = (await sign_in(channel, org, "alice")).credential
    bob = (await sign_in(channel, org, "bob")).credential
    agents = agrpc.AgentServiceStub(channel)
    cid = await new_conversation(channel, org, "what are your hours?")
    listed = await agents.ListBotConversations(apb.ListBotConversationsRequest(), metadata=auth(alice))
    assert cid in [c.conversation_id for c in listed.conversations]
    taken = await agents.TakeOverConversation(
        apb.TakeOverConversationRequest(conversation_id=cid), metadata=auth(alice)
    )
    assert taken.conversation.state == conv.CONVERSATION_STATE_AGENT and taken.conversation.agent_id == "alice"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await agents.TakeOverConversation(apb.TakeOverConversationRequest(conversation_id=cid), metadata=auth(bob))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "alice" in err.value.details()


class GatedAnswerer:
    """The LLM side only: the answer comes once `release` is set (the takeover happens meanwhile)."""

    class llm:
        version = "llm-test"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def answer(self, question, on_token=None) -> AnswerResult:
        self.started.set()
        await self.release.wait()
        return AnswerResult(Outcome.ANSWER, "The bot's answer, too late.")


async def test_the_generator_drops_its_answer_when_a_person_takes_over_while_it_generates(stack, channel, org):
    alice = (await sign_in(channel, org, "alice")).credential
    cid = await new_conversation(channel, org, "Where is my order?")
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    producer = await start_producer(stack.kafka, f"it-gen-{uuid.uuid4().hex[:6]}", 10)
    try:
        repos = Repositories.of(db)
        ctx = WorkerContext(
            CommonSettings.from_env("generator", 0, Env(stack.env())),
            EventPublisher(producer, stack.prefix, "generator"),
            db,
        )
        answerer = GatedAnswerer()
        generator = Generator(
            GeneratorDeps(ctx, repos, answerer, RoutingPolicy(), ReplyPusher(), TenantSettingsRepo(db))
        )
        message = ev.MessageReceived(
            tenant_id=org["tenant"], conversation_id=cid, message_id=f"m-{uuid.uuid4().hex[:8]}", text="And today?"
        )
        event = ev.MessageEnriched(
            message=message,
            understanding=und.Understanding(language="en", intent=und.Intent(label="track_order", confidence=0.95)),
            sentiment=und.Sentiment(score=0.1),
        )
        handling = asyncio.create_task(generator.handle(event))
        await asyncio.wait_for(answerer.started.wait(), 20)
        await agrpc.AgentServiceStub(channel).TakeOverConversation(
            apb.TakeOverConversationRequest(conversation_id=cid), metadata=auth(alice)
        )
        answerer.release.set()
        await asyncio.wait_for(handling, 20)
        reply_id = derived_id(org["tenant"], "bot-reply", message.message_id)
        assert await repos.messages.get_reply(org["tenant"], reply_id) is None, "the bot answered after the takeover"
    finally:
        await producer.stop()
        await mongo.close()


async def test_the_wallboard_is_for_supervisors_and_counts_from_stored_events(stack, channel, org):
    alice = (await sign_in(channel, org, "alice")).credential
    sue = (await sign_in(channel, org, "sue")).credential
    agents = agrpc.AgentServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await agents.GetWallboard(apb.GetWallboardRequest(), metadata=auth(alice))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    async def technical():
        board = await agents.GetWallboard(apb.GetWallboardRequest(service_level_s=30), metadata=auth(sue))
        return board, next(q for q in board.queues if q.queue == "technical")

    _, before = await technical()
    cid = await new_conversation(channel, org)
    await escalate(stack, org, cid, "technical")
    await agents.ClaimConversation(apb.ClaimConversationRequest(conversation_id=cid), metadata=auth(alice))
    board, after = await technical()
    assert after.escalated_last_hour == before.escalated_last_hour + 1
    assert after.claimed_within_sla_last_hour == before.claimed_within_sla_last_hour + 1
    assert after.waiting == before.waiting and after.service_level == 1.0
    assert board.abandoned_definition.startswith("an escalation of the last hour")
    loads = {a.agent_id: a for a in board.agents}
    assert loads["alice"].signed_in and loads["alice"].conversations >= 1


async def test_reflection_lists_the_public_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = set()
    async for response in responses:
        names |= {s.name for s in response.list_services_response.service}
        break
    assert {
        "cs.v1.CustomerService",
        "cs.v1.AgentService",
        "cs.v1.AccountService",
        "cs.v1.WidgetService",
        "grpc.health.v1.Health",
    } <= names

"""Fixtures for the browser tests: the real stack, a gateway and a console process, accounts, and
Debian's Chromium driven by Playwright.

Escalations are raised the way the generator raises them (the conversation moved to `queued` in
the database, the EscalationRaised event recorded and published on the queue's topic), so the
gateway and the console see exactly what they see in production; the intent, sentiment and
generator workers themselves are left out (their models take minutes to load on a CI machine).
Every page a test visits is saved as a PNG under the session's screenshots folder (printed).
"""

from __future__ import annotations

import asyncio
import pathlib
import shutil
import time
import urllib.request
import uuid
from dataclasses import dataclass, field

import grpc
import pytest

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from tests.conftest import ServiceProcess, Stack, free_port, start_service
from tests.integration.conftest import create_keys_async, escalate_as_generator, publish, start_gateway

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
DEADLINE_S = 20


@dataclass
class World:
    stack: Stack
    tenant: str
    gateway: ServiceProcess
    console: ServiceProcess
    url: str
    adapter_key: str
    shots: pathlib.Path
    _channel: grpc.Channel | None = field(default=None, repr=False)

    @property
    def gateway_target(self) -> str:
        return f"127.0.0.1:{self.gateway.ports['grpc']}"

    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.gateway_target)
        return self._channel

    def customers(self) -> cgrpc.CustomerServiceStub:
        return cgrpc.CustomerServiceStub(self.channel())

    def send(self, text: str, conversation_id: str = "", customer: str = "") -> str:
        """A customer message through the gateway; the conversation id."""
        ack = self.customers().SendMessage(
            cpb.SendMessageRequest(
                conversation_id=conversation_id,
                customer_id=customer or f"cust-{uuid.uuid4().hex[:6]}",
                channel="web",
                text=text,
                customer=conv.CustomerProfile(display_name="Dana Customer", tier="gold"),
            ),
            metadata=(("authorization", f"Bearer {self.adapter_key}"),),
            timeout=10,
        )
        return ack.conversation_id

    def escalate(self, conversation_id: str, queue: str = "billing", summary: str = "wants a refund") -> str:
        """What the generator does when it hands a conversation to a person; the escalation id."""
        return run_async(_escalate(self, conversation_id, queue, summary))

    def shot(self, page, name: str) -> pathlib.Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


async def _escalate(world: World, conversation_id: str, queue: str, summary: str) -> str:
    return await escalate_as_generator(
        world.stack,
        world.tenant,
        conversation_id,
        queue,
        priority=conv.PRIORITY_HIGH,
        summary=summary,
        suggested_reply="Hello, I'm sorry about the trouble; let me look into it.",
        language="en",
    )


def in_thread(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a thread of its own: Playwright's sync API keeps an event loop running in
    the test's thread, so nothing there may call asyncio.run (the helpers that start services do)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def run_async(coroutine):
    return in_thread(asyncio.run, coroutine)


def _now():
    import datetime as dt

    return dt.datetime.now(dt.UTC)


async def _add_accounts(stack: Stack, tenant: str, people: dict[str, str]) -> None:
    from services.common.storage.accounts import AccountRepo
    from services.common.storage.mongo import connect

    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        for name, role in people.items():
            await AccountRepo(db).add(tenant, name, role, PASSWORD)
    finally:
        await mongo.close()


def start_console(stack: Stack, gateway_target: str, tenant: str, log_dir: pathlib.Path, **env: str) -> ServiceProcess:
    port = free_port()
    settings = {
        "CS_CONSOLE_LISTEN": f"127.0.0.1:{port}",
        "CS_CONSOLE_GATEWAY": gateway_target,
        "CS_CONSOLE_TENANT": tenant,
        "CS_CONSOLE_SECRET": "browser-tests-secret-" + "x" * 20,
        "CS_METRICS_PORT": str(free_port()),
        "CS_CONSOLE_WALLBOARD_REFRESH_S": "0.5",
        **env,
    }
    proc = start_service("services.console.main", stack.env(**settings), log_dir, "console")
    proc.ports = {"http": port}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            pytest.fail(f"console exited with {proc.proc.returncode}:\n{proc.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.stop()
    pytest.fail(f"console did not answer within 60 s:\n{proc.log()[-3000:]}")


@pytest.fixture(scope="session")
def world(stack: Stack, tmp_path_factory: pytest.TempPathFactory):
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: run deploy/local/install.sh --dev (it installs Debian's chromium)")
    tenant = f"web-{uuid.uuid4().hex[:6]}"
    logs = tmp_path_factory.mktemp("console-logs")
    [adapter] = asyncio.run(create_keys_async(stack, [(tenant, "adapter", "")]))
    asyncio.run(_add_accounts(stack, tenant, {"alice": "agent", "bob": "agent", "sue": "supervisor"}))
    gateway = start_gateway(stack, logs, CS_GATEWAY_AUTH_CACHE_S="1", CS_GATEWAY_RATE_PER_MINUTE="6000")
    console = start_console(stack, f"127.0.0.1:{gateway.ports['grpc']}", tenant, logs)
    shots = tmp_path_factory.mktemp("screenshots")
    print(f"\nconsole screenshots: {shots}")
    try:
        yield World(stack, tenant, gateway, console, f"http://127.0.0.1:{console.ports['http']}", adapter, shots)
    finally:
        console.stop()
        gateway.stop()


@pytest.fixture(scope="module")
def browser():
    """Per module: Playwright's sync API keeps an event loop running in the test thread while it is
    open, and a later module's asyncio.run (the web chat's fixtures, pytest-asyncio tests) would fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(browser, world: World, name: str, next_path: str = "/"):
    """A fresh browser context signed in as `name`; (context, page) at `next_path`."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(f"{world.url}/signin?next={next_path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{world.url}{next_path}*")
    return context, page


def sign_in_grpc(world: World, name: str) -> str:
    """A credential for `name` from the gateway's AccountService, for tests acting beside the browser."""
    from services.common.proto.cs.v1 import account_service_pb2 as acc
    from services.common.proto.cs.v1 import account_service_pb2_grpc as acc_grpc

    stub = acc_grpc.AccountServiceStub(world.channel())
    return stub.SignIn(acc.SignInRequest(tenant_id=world.tenant, name=name, password=PASSWORD), timeout=10).credential


def agents(world: World):
    from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc

    return agrpc.AgentServiceStub(world.channel())


def enriched(world: World, conversation_id: str, message_id: str, text: str, intent: str = "get_refund"):
    from services.common.proto.cs.v1 import understanding_pb2 as und

    message = ev.MessageReceived(
        tenant_id=world.tenant,
        conversation_id=conversation_id,
        message_id=message_id,
        customer_id="cust-browser",
        channel="web",
        text=text,
    )
    message.received_at.GetCurrentTime()
    understanding = und.Understanding(
        language="en",
        intent=und.Intent(label=intent, confidence=0.93),
        entities=[und.Entity(type="order_number", text="1234", value="1234")],
        model_version="intent-browser",
    )
    sentiment = und.Sentiment(polarity=und.POLARITY_NEGATIVE, score=-0.6, emotion=und.EMOTION_ANGER)
    return ev.MessageEnriched(message=message, understanding=understanding, sentiment=sentiment)


async def _generate(world: World, event) -> dict | None:
    """The generator's real handling of one enriched message (policy, state checks, storing, publishing);
    only the LLM is left out: an answerer that always has an answer. The bot's reply, if any."""
    import uuid as _uuid

    from services.common.platform.ids import derived_id
    from services.common.platform.kafka import EventPublisher, start_producer
    from services.common.platform.settings import CommonSettings, Env
    from services.common.storage.mongo import connect
    from services.common.storage.repositories import Repositories
    from services.common.storage.tenants import TenantSettingsRepo
    from services.common.worker.runtime import WorkerContext
    from services.generator.answering import AnswerResult, Outcome
    from services.generator.policy import RoutingPolicy
    from services.generator.pusher import ReplyPusher
    from services.generator.worker import Generator, GeneratorDeps

    class AlwaysAnswers:
        class llm:
            version = "llm-test"

        async def answer(self, question, on_token=None) -> AnswerResult:
            return AnswerResult(Outcome.ANSWER, "The bot would say this.")

    settings = CommonSettings.from_env("generator", 0, Env(world.stack.env()))
    mongo, db = await connect(world.stack.mongo_uri, world.stack.database, 10)
    producer = await start_producer(world.stack.kafka, f"browser-generator-{_uuid.uuid4().hex[:6]}", 10)
    try:
        repos = Repositories.of(db)
        ctx = WorkerContext(settings, EventPublisher(producer, world.stack.prefix, "generator"), db)
        generator = Generator(
            GeneratorDeps(ctx, repos, AlwaysAnswers(), RoutingPolicy(), ReplyPusher(), TenantSettingsRepo(db))
        )
        await generator.handle(event)
        m = event.message
        return await repos.messages.get_reply(m.tenant_id, derived_id(m.tenant_id, "bot-reply", m.message_id))
    finally:
        await producer.stop()
        await mongo.close()


def generate(world: World, event) -> dict | None:
    return run_async(_generate(world, event))


async def _announce_intent_model(world: World, labels: list[str]) -> None:
    from services.common.storage.mongo import connect
    from services.common.storage.repositories import ModelVersionRepo

    mongo, db = await connect(world.stack.mongo_uri, world.stack.database, 10)
    try:
        await ModelVersionRepo(db).announce("intent", "intent-browser", labels)
    finally:
        await mongo.close()


def announce_intent_model(world: World, labels: list[str]) -> None:
    run_async(_announce_intent_model(world, labels))


async def _publish(world: World, spec, event) -> None:
    await publish(world.stack, spec, event)


def publish_enriched(world: World, event) -> None:
    from services.common.platform.topics import ENRICHED

    run_async(_publish(world, ENRICHED, event))


def publish_bot_reply(world: World, conversation_id: str, text: str, citations: list[str]) -> str:
    """A final bot answer on the replies topic, as the generator publishes it; its id."""
    from services.common.platform.topics import REPLIES

    reply = ev.ReplyPublished(
        tenant_id=world.tenant,
        conversation_id=conversation_id,
        reply_id=f"r-{uuid.uuid4().hex[:8]}",
        author=conv.AUTHOR_BOT,
        kind=conv.REPLY_KIND_ANSWER,
        text=text,
        citations=citations,
    )
    reply.created_at.GetCurrentTime()
    run_async(_publish(world, REPLIES, reply))
    return reply.reply_id

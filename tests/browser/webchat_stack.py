"""What the web-chat browser tests share: the web-chat service as a process next to a real gateway,
a Chromium driven by Playwright, a stand-in for the generator, and screenshots.

Not a conftest (another suite may share tests/browser/): the test modules import the fixtures they use.

Two ways an answer reaches a visitor here:
- the pipeline (tests/e2e/conftest.py's `system`: gateway, intent, sentiment and generator as
  processes, the small LLM, the shop's knowledge base), for the tests about what the bot says and
  when it hands over;
- `Bot`, which plays the generator's part through exactly the interfaces the generator uses
  (token pushes to the gateway replica's reply sink named by the stream route, the reply stored,
  then published on cs.replies), for the tests about the widget and the channel's security, where
  a model's timing would only add waiting and nondeterminism.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import secrets
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import grpc
import pytest

from services.common.platform.topics import REPLIES
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import reply_sink_service_pb2 as spb
from services.common.storage.mongo import connect
from services.common.storage.repositories import MessageRepo
from services.common.storage.widget_keys import WidgetKeyRepo
from tests.conftest import ROOT, SHARED_DATA, ServiceProcess, Stack, free_port, start_service, wait_serving
from tests.integration.conftest import create_keys, publish, start_gateway, wait_stream_route

CHROMIUM = os.environ.get("CS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = pathlib.Path(os.environ.get("CS_SCREENSHOT_DIR", ROOT / "var" / "screenshots" / "webchat"))
PHONE = {"width": 375, "height": 667}
DEADLINE_S = 30.0


@dataclass
class Webchat:
    process: ServiceProcess
    url: str  # the web-chat service (widget.js, the visitor API)
    demo_url: str  # the demo shop page: an origin of its own that the widget key allows
    widget_key: str
    tenant: str
    token_secret: bytes

    def api(self, path: str, body: dict | None = None, origin: str | None = None, token: str = "", method: str = ""):
        """(status, JSON body, headers) of a visitor API call made as a page on `origin` would make it."""
        headers = {"content-type": "application/json", "origin": origin or self.demo_origin}
        if token:
            headers["authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/api/{self.widget_key}{path}",
            data=data,
            headers=headers,
            method=method or ("POST" if data else "GET"),
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}, dict(response.headers)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else {}, dict(exc.headers)

    @property
    def demo_origin(self) -> str:
        return self.demo_url.rstrip("/")


async def create_widget_key(stack: Stack, tenant: str, origins: list[str]) -> str:
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        return await WidgetKeyRepo(db).create(tenant, origins)
    finally:
        await mongo.close()


def wait_http(url: str, process: ServiceProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            pytest.fail(f"{process.name} exited with {process.proc.returncode}:\n{process.log()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{process.name}: {url} not 200 within {timeout} s:\n{process.log()[-4000:]}")


def start_webchat(stack: Stack, log_dir: pathlib.Path, gateway_target: str, tenant: str, **env: str) -> Webchat:
    """The web-chat service (with its demo page) against `gateway_target`, ready; a widget key of
    `tenant` for the demo page's origin and a channel key made for it."""
    port, demo_port = free_port(), free_port()
    demo_origin = f"http://127.0.0.1:{demo_port}"
    [channel_key] = create_keys(stack, [("platform", "channel", "")])
    widget_key = asyncio.run(create_widget_key(stack, tenant, [demo_origin]))
    settings = {
        "CS_WEBCHAT_LISTEN": f"127.0.0.1:{port}",
        "CS_WEBCHAT_DEMO_LISTEN": f"127.0.0.1:{demo_port}",
        "CS_WEBCHAT_GATEWAY": gateway_target,
        "CS_WEBCHAT_CHANNEL_KEY": channel_key,
        "CS_WEBCHAT_TOKEN_SECRET": secrets.token_urlsafe(32),
        "CS_WEBCHAT_DEMO_WIDGET_KEY": widget_key,
        "CS_METRICS_PORT": str(free_port()),
        **env,
    }
    proc = start_service("services.webchat.main", stack.env(**settings), log_dir, "webchat")
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", proc)
    except BaseException:
        proc.stop()
        raise
    return Webchat(
        proc,
        f"http://127.0.0.1:{port}",
        f"{demo_origin}/",
        widget_key,
        tenant,
        settings["CS_WEBCHAT_TOKEN_SECRET"].encode(),
    )


class Bot:
    """Answers like the generator, through the generator's interfaces (see the module docstring)."""

    def __init__(self, stack: Stack, tenant: str) -> None:
        self.stack, self.tenant = stack, tenant

    async def push_tokens(self, conversation_id: str, reply_id: str, tokens: list[str], start: int = 0) -> None:
        """Token deltas to the gateway replica holding the visitor's stream, as the generator sends them."""
        address = await wait_stream_route(self.stack, self.tenant, conversation_id)
        requests = [
            spb.PushReplyRequest(
                tenant_id=self.tenant,
                token=cpb.ReplyToken(conversation_id=conversation_id, reply_id=reply_id, index=start + i, text=text),
            )
            for i, text in enumerate(tokens)
        ]
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.stream_unary(
                "/cs.v1.ReplySinkService/PushReply",
                request_serializer=spb.PushReplyRequest.SerializeToString,
                response_deserializer=spb.PushReplyResponse.FromString,
            )
            await call(iter(requests), timeout=15)

    async def reply(
        self, conversation_id: str, in_reply_to: str, text: str, kind: int = conv.REPLY_KIND_ANSWER, reply_id: str = ""
    ) -> str:
        reply = ev.ReplyPublished(
            tenant_id=self.tenant,
            conversation_id=conversation_id,
            reply_id=reply_id or f"r-{uuid.uuid4().hex}",
            in_reply_to=in_reply_to,
            author=conv.AUTHOR_BOT,
            kind=kind,
            text=text,
        )
        reply.created_at.GetCurrentTime()
        mongo, db = await connect(self.stack.mongo_uri, self.stack.database, 10)
        try:
            await MessageRepo(db).record_reply(reply)
        finally:
            await mongo.close()
        await publish(self.stack, REPLIES, reply)
        return reply.reply_id


async def stored_messages(stack: Stack, tenant: str, conversation_id: str) -> list[dict]:
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        return (
            await db["messages"]
            .find({"tenant_id": tenant, "conversation_id": conversation_id})
            .sort("created_at", 1)
            .to_list()
        )
    finally:
        await mongo.close()


async def launch_chromium(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


async def screenshot(page, name: str) -> pathlib.Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def eventually(check, timeout: float = DEADLINE_S, what: str = "condition"):
    """Poll the async `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s (last: {value!r})")
        await asyncio.sleep(0.1)


async def customer_messages(stack: Stack, tenant: str, conversation_id: str) -> list[dict]:
    return [m for m in await stored_messages(stack, tenant, conversation_id) if m["author"] == "customer"]


@pytest.fixture(scope="session")
async def chromium():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
def light_webchat(stack: Stack, tmp_path_factory: pytest.TempPathFactory):
    """A gateway and the web-chat service on the session's stack (no pipeline: `Bot` answers)."""
    log_dir = tmp_path_factory.mktemp("webchat-light")
    gateway = start_gateway(stack, log_dir)
    try:
        webchat = start_webchat(
            stack, log_dir, f"127.0.0.1:{gateway.ports['grpc']}", "acme", CS_WEBCHAT_ADDRESS_RATE_PER_MINUTE="6000"
        )
        try:
            yield webchat
        finally:
            webchat.process.stop()
    finally:
        gateway.stop()


class ForeignPage:
    """A page on an origin the widget key does not list, embedding the widget with the same key."""

    def __init__(self, webchat: Webchat) -> None:
        import http.server
        import threading

        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not the shop</title></head>'
            f'<body><h1>Someone else\'s site</h1><script src="{webchat.url}/widget.js" '
            f'data-widget-key="{webchat.widget_key}" async></script></body></html>'
        ).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self.origin = self.url.rstrip("/")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ForeignPage:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


PIPELINE_TENANT = "shop"


@pytest.fixture(scope="module")
def pipeline(stack: Stack, tmp_path_factory: pytest.TempPathFactory):
    """The four services as processes on topics of their own, the shop's knowledge base, the web-chat
    service in front, and the shop's agent key: {"webchat", "agent_key", "target", "stack"}.

    The same processes and knowledge as tests/e2e/conftest.py's `system`, but module-scoped (stopped
    when the module's tests are done, so a full run never holds two LLM pipelines at once) and on
    topics no other suite publishes to by hand.
    """
    own = stack.with_own_topics("webchat.")
    log_dir = tmp_path_factory.mktemp("webchat-pipeline")
    ingest = own.cli(
        "kb", "ingest", "--tenant", PIPELINE_TENANT, str(SHARED_DATA / "abcd" / "guidelines.json"), timeout=300
    )
    if ingest.returncode != 0:
        pytest.fail(f"cs kb ingest failed:\n{ingest.stdout}\n{ingest.stderr}")
    gateway_port = free_port()
    processes = []
    try:
        for name, extra in [
            ("gateway", {"CS_GATEWAY_LISTEN": f"127.0.0.1:{gateway_port}", "CS_GATEWAY_RATE_PER_MINUTE": "600"}),
            ("intent", {}),
            ("sentiment", {}),
            ("generator", {"CS_GENERATOR_MAX_NEW_TOKENS": "48"}),
        ]:
            health = gateway_port if name == "gateway" else free_port()
            env = own.env(CS_METRICS_PORT=str(free_port()), CS_HEALTH_PORT=str(health), **extra)
            proc = start_service(f"services.{name}.main", env, log_dir, name)
            proc.ports = {"health": health}
            processes.append(proc)
        for proc in processes:
            wait_serving(f"127.0.0.1:{proc.ports['health']}", proc, 300)
        target = f"127.0.0.1:{gateway_port}"
        webchat = start_webchat(own, log_dir, target, PIPELINE_TENANT, CS_WEBCHAT_ADDRESS_RATE_PER_MINUTE="6000")
        processes.append(webchat.process)
        [agent_key] = create_keys(own, [(PIPELINE_TENANT, "agent", "ava")])
        yield {"webchat": webchat, "agent_key": agent_key, "target": target, "stack": own}
    finally:
        for proc in reversed(processes):
            proc.stop()

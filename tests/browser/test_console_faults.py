"""The console when things go wrong: a session that expires mid-reply, a gateway that goes away.

These get a gateway and a console of their own: one with short-lived sign-ins, and a gateway this
module stops and starts again."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEADLINE_S, PASSWORD, World, in_thread, sign_in, start_console
from tests.conftest import wait_serving
from tests.integration.conftest import start_gateway

MS = DEADLINE_S * 1000
SESSION_S = 8


@pytest.fixture(scope="module")
def own(world: World, tmp_path_factory: pytest.TempPathFactory):
    logs = tmp_path_factory.mktemp("faults-logs")
    gateway = in_thread(
        start_gateway, world.stack, logs, CS_GATEWAY_SESSION_TTL_S=str(SESSION_S), CS_GATEWAY_AUTH_CACHE_S="1"
    )
    console = start_console(world.stack, f"127.0.0.1:{gateway.ports['grpc']}", world.tenant, logs)
    try:
        yield World(
            world.stack,
            world.tenant,
            gateway,
            console,
            f"http://127.0.0.1:{console.ports['http']}",
            world.adapter_key,
            world.shots,
        )
    finally:
        console.stop()
        gateway.stop()


def test_an_expired_session_goes_to_sign_in_and_keeps_the_half_typed_reply(own: World, browser):
    cid = own.send("A person, please")
    own.escalate(cid, "accounts", summary="login trouble")
    context, page = sign_in(browser, own, "alice", f"/c/{cid}")
    page.click("#claim")
    box = page.locator("#reply-text")
    box.fill("")
    box.press_sequentially("Half of what I meant to s")
    # The sign-in lasts SESSION_S seconds; the page notices by itself, with nothing clicked.
    page.wait_for_url(lambda url: "/signin?next=" in url and cid in url, timeout=(SESSION_S + DEADLINE_S) * 1000)
    own.shot(page, "signin-after-expiry")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/c/{cid}")
    expect(page.locator("#reply-text")).to_have_value("Half of what I meant to s")
    context.close()


def test_a_gateway_outage_is_shown_and_the_console_recovers_by_itself(own: World, browser):
    context, page = sign_in(browser, own, "bob")
    expect(page.locator("h1")).to_have_text("Inbox")
    own.gateway.kill()
    try:
        expect(page.locator("#status")).to_contain_text("gateway is unavailable", timeout=MS)
        page.goto(f"{own.url}/")
        expect(page.locator("#unavailable")).to_be_visible()
        own.shot(page, "gateway-unavailable")
    finally:
        own.gateway.restart()
        in_thread(wait_serving, own.gateway_target, own.gateway, 60)
    # The unavailable page reloads itself into the inbox; the live stream works again.
    expect(page.locator("h1")).to_have_text("Inbox", timeout=MS)
    cid = own.send("After the outage: a person please")
    own.escalate(cid, "general", summary="after the outage")
    expect(page.locator(f'.queues .card[data-cid="{cid}"]')).to_be_visible(timeout=MS)
    expect(page.locator("#status")).to_be_hidden(timeout=MS)
    context.close()

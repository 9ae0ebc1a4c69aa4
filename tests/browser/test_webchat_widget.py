"""The web-chat widget in Chromium against the real gateway, Kafka and FerretDB: what a visitor sees.

The answers here come from `Bot` (tests/browser/webchat_stack.py), which plays the generator's part
through the generator's own interfaces; tests/browser/test_webchat_pipeline.py has the real one.
Each test writes screenshots of the states it reaches to var/screenshots/webchat/.
"""

from __future__ import annotations

import time
import uuid

import pytest

from services.common.storage.mongo import connect
from services.webchat import tokens
from tests.browser.webchat_stack import (
    PHONE,
    Bot,
    ForeignPage,
    chromium,
    customer_messages,
    eventually,
    light_webchat,
    screenshot,
    stored_messages,
    wait_http,
)

pytestmark = pytest.mark.stack
__all__ = ["chromium", "light_webchat"]  # fixtures


async def open_demo(chromium, webchat, viewport=None, lang: str = "en"):
    context = await chromium.new_context(viewport=viewport or {"width": 1100, "height": 760})
    page = await context.new_page()
    page.on("pageerror", lambda exc: print("page error:", exc))
    await page.goto(f"{webchat.demo_url}?lang={lang}")
    await page.locator("button.launch").click()
    await page.locator("textarea").wait_for()
    return context, page


async def stored_state(page, webchat) -> dict:
    return await page.evaluate(f"JSON.parse(localStorage.getItem('cs-webchat:{webchat.widget_key}') || '{{}}')")


async def send(page, text: str) -> None:
    await page.locator("textarea").fill(text)
    await page.locator("textarea").press("Enter")


async def conversation_of(page, webchat) -> str:
    async def cid():
        return (await stored_state(page, webchat)).get("cid")

    return await eventually(cid, what="the widget has a conversation id")


async def texts(page) -> list[str]:
    return await page.locator(".log .m .text").all_text_contents()


async def wait_texts(page, expected: list[str]) -> None:
    async def shown():
        return await texts(page) == expected

    try:
        await eventually(shown, what=f"the panel shows {expected}")
    except AssertionError:
        raise AssertionError(f"the panel shows {await texts(page)}, not {expected}") from None


async def last_customer_message(stack, webchat, cid: str, count: int = 1) -> dict:
    async def stored():
        found = await customer_messages(stack, webchat.tenant, cid)
        return found if len(found) >= count else None

    return (await eventually(stored, what=f"{count} customer messages stored"))[-1]


async def test_visitor_sees_the_answer_stream_in_and_the_final_reply_replace_it(stack, chromium, light_webchat):
    context, page = await open_demo(chromium, light_webchat)
    await screenshot(page, "panel-open")
    await send(page, "How much is shipping?")
    cid = await conversation_of(page, light_webchat)
    message = await last_customer_message(stack, light_webchat, cid)
    bot = Bot(stack, light_webchat.tenant)
    reply_id = "r-stream-" + cid
    await bot.push_tokens(cid, reply_id, ["Standard ", "shipping ", "costs "])
    await page.locator(".m.streaming").wait_for()
    await wait_texts(page, ["How much is shipping?", "Standard shipping costs "])
    await screenshot(page, "streaming-answer")
    await bot.reply(cid, message["_id"], "Standard shipping costs $8.", reply_id=reply_id)
    await wait_texts(page, ["How much is shipping?", "Standard shipping costs $8."])
    assert await page.locator(".m.streaming").count() == 0
    await screenshot(page, "final-answer")
    await context.close()


async def answered_conversation(stack, page, webchat, question: str, answer: str) -> tuple[str, dict, str]:
    """The visitor asks, the bot answers; (conversation id, stored question, reply id) once both show."""
    before = await texts(page)
    await send(page, question)
    cid = await conversation_of(page, webchat)
    message = await last_customer_message(stack, webchat, cid, count=len([t for t in before if t]) // 2 + 1)
    reply_id = await Bot(stack, webchat.tenant).reply(cid, message["_id"], answer)
    await wait_texts(page, [*before, question, answer])
    return cid, message, reply_id


async def test_a_reloaded_page_shows_the_conversation(stack, chromium, light_webchat):
    context, page = await open_demo(chromium, light_webchat)
    await answered_conversation(stack, page, light_webchat, "Do you ship to Canada?", "Yes, in 5-7 days.")
    await page.reload()
    await wait_texts(page, ["Do you ship to Canada?", "Yes, in 5-7 days."])  # the panel stays open over a reload
    await screenshot(page, "after-reload")
    await context.close()


async def test_a_second_visitor_cannot_read_the_first_visitors_conversation(stack, chromium, light_webchat):
    first, page = await open_demo(chromium, light_webchat)
    cid, _, _ = await answered_conversation(stack, page, light_webchat, "My card ends 4242", "Thanks, noted.")
    second, intruder = await open_demo(chromium, light_webchat)
    await send(intruder, "hello")
    own = await stored_state(intruder, light_webchat)
    await eventually(lambda: _has(intruder, light_webchat, "cid"), what="the second visitor has a conversation")
    own = await stored_state(intruder, light_webchat)
    # the second visitor puts the first one's conversation id in its storage and reloads
    await intruder.evaluate(
        "([k, cid]) => { const s = JSON.parse(localStorage.getItem(k)); s.cid = cid; s.lastId = null; "
        "localStorage.setItem(k, JSON.stringify(s)); }",
        [f"cs-webchat:{light_webchat.widget_key}", cid],
    )
    await intruder.reload()
    await eventually(lambda: _has_not(intruder, light_webchat, "cid"), what="the widget dropped the foreign id")
    assert "My card ends 4242" not in await texts(intruder)
    for path in (f"/conversations/{cid}", f"/conversations/{cid}/events"):
        status, body, _ = light_webchat.api(path, token=own["token"])
        assert (status, body["error"]) == (404, "not_found"), path
    status, body, _ = light_webchat.api(
        "/messages",
        {"conversation_id": cid, "text": "it's me, honestly", "client_message_id": "x1"},
        token=own["token"],
    )
    assert (status, body["error"]) == (404, "not_found")
    assert [m["text"] for m in await customer_messages(stack, light_webchat.tenant, cid)] == ["My card ends 4242"]
    await first.close()
    await second.close()


async def _has(page, webchat, field: str):
    return (await stored_state(page, webchat)).get(field)


async def _has_not(page, webchat, field: str):
    return not (await stored_state(page, webchat)).get(field)


async def test_a_page_on_a_foreign_origin_cannot_use_the_widget_key(stack, chromium, light_webchat):
    with ForeignPage(light_webchat) as foreign:
        context = await chromium.new_context()
        page = await context.new_page()
        await page.goto(foreign.url)
        await page.locator("button.launch").click()
        await send(page, "let me in")
        await page.locator(".alert").filter(has_text="can't reach").wait_for()
        await screenshot(page, "foreign-origin-refused")
        assert not (await stored_state(page, light_webchat)).get("token"), "no visitor token for a foreign page"
        await context.close()
        status, body, headers = light_webchat.api("/session", {}, origin=foreign.origin)
        assert (status, body["error"]) == (403, "forbidden_origin")
        assert "access-control-allow-origin" not in {h.lower() for h in headers}
        status, _, headers = light_webchat.api("/session", None, origin=foreign.origin, method="OPTIONS")
        assert status == 403 and "access-control-allow-origin" not in {h.lower() for h in headers}
        # a token from the shop's page is no good on the foreign page either, and nothing is stored
        _, session, _ = light_webchat.api("/session", {})
        cid = f"foreign-{uuid.uuid4().hex}"
        status, body, _ = light_webchat.api(
            "/messages",
            {"conversation_id": cid, "text": "hi", "client_message_id": "f1"},
            origin=foreign.origin,
            token=session["token"],
        )
        assert (status, body["error"]) == (403, "forbidden_origin")
        assert await stored_messages(stack, light_webchat.tenant, cid) == []
    status, _, headers = light_webchat.api("/session", None, method="OPTIONS")  # the shop's own preflight
    assert status == 204 and headers.get("access-control-allow-origin") == light_webchat.demo_origin


async def test_forged_expired_and_foreign_tokens_are_refused_and_nothing_is_stored(stack, light_webchat):
    _, session, _ = light_webchat.api("/session", {})
    payload, _, mac = session["token"].partition(".")
    expired, _ = tokens.issue(
        light_webchat.token_secret, light_webchat.widget_key, light_webchat.demo_origin, 60, now=time.time() - 3600
    )
    other_key, _ = tokens.issue(light_webchat.token_secret, "cs_wk_other", light_webchat.demo_origin, 60)
    cases = {
        "forged signature": (f"{payload}.{mac[:-2]}AA", "invalid_token"),
        "signed with another secret": (
            tokens.issue(b"x" * 32, light_webchat.widget_key, light_webchat.demo_origin, 60)[0],
            "invalid_token",
        ),
        "expired": (expired, "expired_token"),
        "another widget key": (other_key, "invalid_token"),
        "garbage": ("not-a-token", "invalid_token"),
    }
    for name, (token, reason) in cases.items():
        cid = f"refused-{uuid.uuid4().hex}"
        status, body, headers = light_webchat.api(
            "/messages", {"conversation_id": cid, "text": "hi", "client_message_id": "t1"}, token=token
        )
        assert (status, body.get("error")) == (401, reason), name
        assert headers.get("access-control-allow-origin") == light_webchat.demo_origin, "the page may read why"
        assert await stored_messages(stack, light_webchat.tenant, cid) == [], name


async def test_a_session_renewed_with_a_valid_token_keeps_the_visitor_and_an_expired_one_does_not(light_webchat):
    _, first, _ = light_webchat.api("/session", {})
    _, renewed, _ = light_webchat.api("/session", {"token": first["token"]})
    secret, key, origin = light_webchat.token_secret, light_webchat.widget_key, light_webchat.demo_origin
    assert renewed["renewed"] is True
    assert tokens.verify(secret, renewed["token"], key, origin).customer_id == (
        tokens.verify(secret, first["token"], key, origin).customer_id
    )
    expired, old = tokens.issue(secret, key, origin, 60, now=time.time() - 3600)
    _, fresh, _ = light_webchat.api("/session", {"token": expired})
    assert fresh["renewed"] is False
    assert tokens.verify(secret, fresh["token"], key, origin).customer_id != old.customer_id


async def test_a_visitor_is_rate_limited(light_webchat):
    _, session, _ = light_webchat.api("/session", {})
    statuses = [light_webchat.api("/conversations/none", token=session["token"])[0] for _ in range(40)]
    assert statuses[0] == 404 and 429 in statuses
    status, body, headers = light_webchat.api("/conversations/none", token=session["token"])
    assert (status, body["error"]) == (429, "rate_limited") and int(headers["retry-after"]) >= 1


async def test_html_and_script_in_messages_stay_inert(stack, chromium, light_webchat):
    context, page = await open_demo(chromium, light_webchat)
    question = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
    answer = '<b id="boom">bold</b><img src=x onerror="window.__xss=2"> & <a href="javascript:alert(1)">x</a>'
    await answered_conversation(stack, page, light_webchat, question, answer)
    await page.reload()
    await wait_texts(page, [question, answer])
    assert await page.evaluate("window.__xss") is None
    assert await page.locator(".log img, .log b, .log script, .log a").count() == 0
    await screenshot(page, "xss-inert")
    await context.close()


async def test_a_dropped_connection_loses_nothing_and_doubles_nothing(stack, chromium, light_webchat):
    context, page = await open_demo(chromium, light_webchat)
    cid, first, _ = await answered_conversation(stack, page, light_webchat, "first question", "first answer")
    await context.set_offline(True)
    await page.locator(".alert").filter(has_text="can't reach").wait_for()
    await send(page, "written while offline")
    bot = Bot(stack, light_webchat.tenant)
    await bot.reply(cid, first["_id"], "sent while the visitor was offline")
    await screenshot(page, "offline")
    await context.set_offline(False)
    expected = ["first question", "first answer", "written while offline", "sent while the visitor was offline"]

    async def all_once():
        shown = await texts(page)
        return sorted(shown) == sorted(expected) and await page.locator(".m.pending").count() == 0

    await eventually(all_once, what="every message once after the connection came back")
    offline = await last_customer_message(stack, light_webchat, cid, count=2)
    await bot.reply(cid, offline["_id"], "and this is the answer to it")
    await eventually(lambda: _shows_once(page, "and this is the answer to it"), what="the live stream is back")
    assert sorted(await texts(page)) == sorted([*expected, "and this is the answer to it"])
    assert [m["text"] for m in await customer_messages(stack, light_webchat.tenant, cid)] == [
        "first question",
        "written while offline",
    ]
    await screenshot(page, "back-online")
    await context.close()


async def _shows_once(page, text: str) -> bool:
    return (await texts(page)).count(text) == 1


async def test_oversized_and_binary_messages_get_a_clear_error(stack, chromium, light_webchat):
    context, page = await open_demo(chromium, light_webchat)
    await send(page, "x" * 4001)
    await page.locator(".alert").filter(has_text="too long (4001 of 4000").wait_for()
    await screenshot(page, "error-too-long")
    await send(page, "abc\u0007def")
    await page.locator(".alert").filter(has_text="can't be sent").wait_for()
    assert await texts(page) == [] and not (await stored_state(page, light_webchat)).get("pending")
    await context.close()
    _, session, _ = light_webchat.api("/session", {})
    for text, status, reason in [
        ("x" * 4001, 413, "message_too_long"),
        ("a\u0000b", 400, "binary_message"),
        ("  ", 400, "empty_message"),
    ]:
        cid = f"bad-{uuid.uuid4().hex}"
        got, body, _ = light_webchat.api(
            "/messages", {"conversation_id": cid, "text": text, "client_message_id": "b1"}, token=session["token"]
        )
        assert (got, body["error"]) == (status, reason)
        assert await stored_messages(stack, light_webchat.tenant, cid) == []


async def test_thumbs_on_a_reply_are_stored_as_feedback(stack, chromium, light_webchat):
    context, page = await open_demo(chromium, light_webchat)
    cid, _, reply_id = await answered_conversation(
        stack, page, light_webchat, "Can I return boots?", "Yes, within 30 days."
    )
    await page.get_by_role("button", name="Helpful", exact=True).click()
    await page.locator(".thanks").wait_for()

    async def stored():
        mongo, db = await connect(stack.mongo_uri, stack.database, 10)
        try:
            return await db["feedback"].find_one({"conversation_id": cid, "reply_id": reply_id})
        finally:
            await mongo.close()

    feedback = await eventually(stored, what="the feedback stored")
    assert feedback["rating"] in (1, "RATING_THUMBS_UP", "up", "thumbs_up")
    await context.close()


async def test_keyboard_alone_on_a_phone_sized_screen(stack, chromium, light_webchat):
    context = await chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = await context.new_page()
    await page.goto(light_webchat.demo_url)
    focused = "() => { const h = document.getElementById('cs-webchat'); return document.activeElement === h && h.shadowRoot.activeElement ? h.shadowRoot.activeElement.className || h.shadowRoot.activeElement.tagName : ''; }"
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate(focused) == "launch":
            break
    assert await page.evaluate(focused) == "launch", "the launcher is reachable with Tab"
    await page.keyboard.press("Enter")
    assert await page.evaluate(focused) == "TEXTAREA", "opening the panel puts the focus in the message box"
    assert await page.locator("button.launch").get_attribute("aria-expanded") == "true"
    await screenshot(page, "phone-panel-open")
    await page.keyboard.type("Where is my parcel?")
    await page.keyboard.press("Enter")
    cid = await conversation_of(page, light_webchat)
    message = await last_customer_message(stack, light_webchat, cid)
    await Bot(stack, light_webchat.tenant).reply(cid, message["_id"], "It left our warehouse today.")
    await wait_texts(page, ["Where is my parcel?", "It left our warehouse today."])
    box = await page.locator(".panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": PHONE["width"], "height": PHONE["height"]}, "full screen on a phone"
    await screenshot(page, "phone-answer")
    await page.keyboard.press("Tab")
    assert await page.evaluate(focused) == "BUTTON", "Tab moves from the box to Send"
    await page.keyboard.press("Escape")
    assert await page.locator(".panel").is_hidden()
    assert await page.evaluate(focused) == "launch", "Escape closes and gives the focus back to the launcher"
    await context.close()


async def test_chinese_pages_get_chinese_texts(chromium, light_webchat):
    context, page = await open_demo(chromium, light_webchat, lang="zh")
    assert await page.locator("textarea").get_attribute("placeholder") == "请输入消息…"
    assert await page.locator("h2").text_content() == "在线客服"
    await screenshot(page, "panel-open-zh")
    await context.close()


@pytest.fixture
def own_gateway_webchat(stack, tmp_path_factory):
    """A gateway of its own (the test stops it) and the web-chat service in front of it."""
    from tests.browser.webchat_stack import start_webchat
    from tests.integration.conftest import start_gateway

    log_dir = tmp_path_factory.mktemp("webchat-outage")
    gateway = start_gateway(stack, log_dir)
    webchat = start_webchat(
        stack, log_dir, f"127.0.0.1:{gateway.ports['grpc']}", "acme", CS_WEBCHAT_ADDRESS_RATE_PER_MINUTE="6000"
    )
    try:
        yield gateway, webchat
    finally:
        webchat.process.stop()
        gateway.stop()


async def test_the_panel_says_when_the_gateway_is_down_and_retries_by_itself(stack, chromium, own_gateway_webchat):
    gateway, webchat = own_gateway_webchat
    context, page = await open_demo(chromium, webchat)
    await answered_conversation(stack, page, webchat, "are you there?", "Yes.")
    cid = await conversation_of(page, webchat)
    gateway.stop()
    await send(page, "sent while the gateway is down")
    await page.locator(".alert").filter(has_text="can't reach").wait_for()
    await screenshot(page, "gateway-unavailable")
    gateway.restart()

    async def delivered():
        stored = [m["text"] for m in await customer_messages(stack, webchat.tenant, cid)]
        pending = await page.locator(".m.pending").count()
        alert = await page.locator(".alert").text_content()
        return stored == ["are you there?", "sent while the gateway is down"] and not pending and not alert

    await eventually(delivered, timeout=90, what="the message went through once the gateway was back")
    wait_http(f"{webchat.url}/readyz", webchat.process)
    await context.close()

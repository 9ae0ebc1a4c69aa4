"""The web-chat widget in Chromium against the real gateway, Kafka and FerretDB: what a visitor sees.

The answers here come from `Bot` (tests/browser/webchat_stack.py), which plays the generator's part
through the generator's own interfaces; tests/browser/test_webchat_pipeline.py has the real one.
Each test writes screenshots of the states it reaches to var/screenshots/webchat/.
"""

from __future__ import annotations

import pytest

from services.common.proto.cs.v1 import conversation_pb2 as conv
from tests.browser.webchat_stack import (
    PHONE,
    Bot,
    chromium,
    customer_messages,
    eventually,
    light_webchat,
    screenshot,
)

pytestmark = pytest.mark.stack
__all__ = ["chromium", "light_webchat"]  # fixtures


async def open_demo(chromium, webchat, viewport=None, lang: str = "en"):
    context = await chromium.new_context(viewport=viewport or {"width": 1100, "height": 760})
    page = await context.new_page()
    page.on("pageerror", lambda exc: print("page error:", exc))
    page.on("console", lambda msg: print("console:", msg.text))
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

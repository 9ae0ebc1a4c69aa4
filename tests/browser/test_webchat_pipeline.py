"""The web-chat widget in Chromium against the whole pipeline: gateway, intent, sentiment and the
generator with the small LLM and the shop's knowledge base (tests/browser/webchat_stack.py's
`pipeline`). What the bot says and when it hands over are the real system's; the agent answers
through the gateway's AgentService as an agent console does.
"""

from __future__ import annotations

import grpc
import pytest

from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import agent_service_pb2_grpc as agrpc
from services.common.storage.mongo import connect
from tests.browser.test_webchat_widget import conversation_of, open_demo, send, texts, wait_texts
from tests.browser.webchat_stack import chromium, eventually, pipeline, screenshot
from tests.integration.conftest import auth

pytestmark = [pytest.mark.stack, pytest.mark.models]
__all__ = ["chromium", "pipeline"]  # fixtures
ANSWER_TIMEOUT_S = 180  # the LLM on two shared CPU cores

WATCH_STREAMING = """() => {
  window.__streamed = [];
  const log = document.getElementById('cs-webchat').shadowRoot.querySelector('.log');
  new MutationObserver(() => {
    for (const b of log.querySelectorAll('.m.streaming .text')) window.__streamed.push(b.textContent);
  }).observe(log, {subtree: true, childList: true, characterData: true});
}"""


async def test_visitor_asks_gets_the_streamed_answer_and_sees_it_after_a_reload(chromium, pipeline):
    webchat = pipeline["webchat"]
    context, page = await open_demo(chromium, webchat)
    await page.evaluate(WATCH_STREAMING)
    question = "How much does standard shipping cost?"
    await send(page, question)

    async def streaming_shown():
        return await page.locator(".m.streaming").count() > 0 or len(await texts(page)) == 2

    await eventually(streaming_shown, timeout=ANSWER_TIMEOUT_S, what="the answer starts")
    if await page.locator(".m.streaming").count():
        await screenshot(page, "pipeline-streaming")

    async def answered():
        shown = await texts(page)
        return shown if len(shown) == 2 and not await page.locator(".m.streaming").count() else None

    shown = await eventually(answered, timeout=ANSWER_TIMEOUT_S, what="the final answer")
    assert shown[0] == question and "8" in shown[1], shown
    streamed = [t for t in await page.evaluate("window.__streamed") if t]
    assert streamed, "the answer was shown as it streamed, before the final reply"
    await screenshot(page, "pipeline-answer")
    await page.reload()
    await wait_texts(page, shown)
    await context.close()


async def test_visitor_asks_for_a_human_and_sees_the_agents_reply_with_the_agents_name(chromium, pipeline):
    webchat = pipeline["webchat"]
    context, page = await open_demo(chromium, webchat)
    await send(page, "Please connect me with a human agent")
    cid = await conversation_of(page, webchat)
    status = page.locator(".status")
    await status.filter(has_text="A person is coming").wait_for(timeout=ANSWER_TIMEOUT_S * 1000)
    await screenshot(page, "handover")
    async with grpc.aio.insecure_channel(pipeline["target"]) as channel:
        agents = agrpc.AgentServiceStub(channel)
        metadata = auth(pipeline["agent_key"])
        await agents.ClaimConversation(apb.ClaimConversationRequest(conversation_id=cid), metadata=metadata, timeout=15)
        await status.filter(has_text="You are chatting with ava").wait_for()
        await agents.SendAgentReply(
            apb.SendAgentReplyRequest(conversation_id=cid, text="Hi, I'm Ava from the shop. How can I help?"),
            metadata=metadata,
            timeout=15,
        )
    reply = page.locator(".m.agent")
    await reply.filter(has_text="Hi, I'm Ava from the shop.").wait_for()
    assert await reply.locator(".who").text_content() == "ava"
    await screenshot(page, "agent-reply")
    await page.get_by_role("button", name="5 of 5").click()
    await reply.locator(".thanks").wait_for()

    async def rated():
        mongo, db = await connect(pipeline["stack"].mongo_uri, pipeline["stack"].database, 10)
        try:
            return await db["feedback"].find_one({"conversation_id": cid, "csat": 5})
        finally:
            await mongo.close()

    await eventually(rated, what="the visitor's CSAT stored")
    await page.reload()
    await page.locator(".m.agent").filter(has_text="Hi, I'm Ava").wait_for()
    await status.filter(has_text="You are chatting with ava").wait_for()
    await context.close()

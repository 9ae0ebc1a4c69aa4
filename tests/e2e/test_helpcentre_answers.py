"""Answers from a bilingual help centre, through the gateway as a customer gets them: a question whose
honest answer is "no" gets the article's no, a Chinese question is answered from the Chinese article in
Chinese, an informational billing question is answered, not routed to the billing queue, and a second,
unrelated question in the same conversation is answered from its own article, not the first one's.

The tenant's knowledge is the fictional Lumen Outfitters help centre (bench/data/helpcentre/kb, en + zh),
loaded with `cs kb ingest` as an operator does; the questions here are written for this test, none is
from the evaluation's question files.
"""

from __future__ import annotations

import json
import re

import pytest

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.conftest import ROOT
from tests.e2e.test_conversations import HAN, auth, converse, next_reply
from tests.integration.conftest import create_keys

pytestmark = pytest.mark.stack

TENANT = "lumen-e2e"
KB = ROOT / "bench" / "data" / "helpcentre" / "kb"
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@pytest.fixture(scope="module")
def lumen_key(stack, system) -> str:
    result = stack.cli("kb", "ingest", "--tenant", TENANT, str(KB), timeout=600)
    assert result.returncode == 0, result.stderr
    return create_keys(stack, [(TENANT, "adapter", "")])[0]


async def ask(channel, key: str, text: str):
    ack, stream = await converse(channel, key, text)
    try:
        tokens, reply = await next_reply(stream)
    finally:
        stream.cancel()
    return ack, tokens, reply


async def test_a_question_whose_answer_is_no_gets_the_articles_no(channel, lumen_key):
    _, tokens, reply = await ask(channel, lumen_key, "Do you guys deliver on Sundays?")
    assert reply.kind == conv.REPLY_KIND_ANSWER, reply
    assert "do not deliver on saturdays, sundays" in reply.text.lower(), reply.text
    assert not re.match(r"\W*(yes|yep|sure)\b", reply.text, re.I)
    assert "".join(tokens) == reply.text, "what streamed is exactly the checked answer"
    assert reply.citations and all("en-shipping-options" in c for c in reply.citations), reply.citations


async def test_a_chinese_question_is_answered_in_chinese_only(channel, lumen_key):
    _, _, reply = await ask(channel, lumen_key, "你们接受银联卡吗？")
    assert reply.kind == conv.REPLY_KIND_ANSWER, reply
    assert "不接受" in reply.text and "银联" in reply.text, reply.text
    assert len(HAN.findall(reply.text)) > len(LATIN_WORD.findall(reply.text))
    chinese_articles = " ".join(
        a["text"] for path in sorted((KB / "zh").glob("*.json")) for a in json.loads(path.read_text())
    )
    foreign = [w for w in LATIN_WORD.findall(reply.text) if w not in chinese_articles]
    assert not foreign, f"English words the Chinese articles do not use (names and menu paths only): {foreign}"
    assert reply.citations and all("/zh-" in c for c in reply.citations), reply.citations


async def test_an_informational_billing_question_is_answered_not_routed(channel, lumen_key):
    ack, _, reply = await ask(channel, lumen_key, "is it ok to pay with apple pay, or only cards?")
    assert reply.kind == conv.REPLY_KIND_ANSWER, reply
    assert "Apple Pay" in reply.text, reply.text
    state = await cgrpc.CustomerServiceStub(channel).GetConversation(
        cpb.GetConversationRequest(conversation_id=ack.conversation_id), metadata=auth(lumen_key)
    )
    assert state.conversation.state == conv.CONVERSATION_STATE_BOT, "the bot keeps it: nobody was needed"


async def test_a_new_question_in_a_conversation_is_answered_from_its_own_article(channel, lumen_key):
    first, _, reply = await ask(channel, lumen_key, "Can I use two promo codes on one order?")
    assert reply.kind == conv.REPLY_KIND_ANSWER, reply
    assert reply.citations and all("en-promo-codes" in c for c in reply.citations), reply.citations
    ack, stream = await converse(channel, lumen_key, "Do you guys deliver on Sundays?", first.conversation_id)
    try:
        _, reply = await next_reply(stream)
    finally:
        stream.cancel()
    assert ack.conversation_id == first.conversation_id
    assert reply.kind == conv.REPLY_KIND_ANSWER, reply
    assert "do not deliver on saturdays, sundays" in reply.text.lower(), reply.text
    assert reply.citations and all("en-shipping-options" in c for c in reply.citations), reply.citations

"""Sentence-level answers with the real multilingual encoder: the answering sentence is chosen, its
condition and its list come with it, and the customer's language is preferred."""

from __future__ import annotations

import pytest

from services.common.knowledge.index import Hit, Passage
from services.common.ml.embeddings import SentenceEncoder
from services.generator.grounding import GroundingChecker
from services.generator.selection import SentenceSelector, prefer_language

RETURNS_EN = Passage(
    "kb/returns-en#0",
    "kb/returns-en",
    "Returns",
    "You can return unworn items within 30 days of delivery for a full refund. "
    "Only items in their original packaging can be returned. "
    "Return shipping is free for Gold members; other members pay 6 USD.\n\n"
    "We accept these payment methods for exchanges:\n- Visa\n- Mastercard\n- PayPal\n\n"
    "Gift cards cannot be returned.",
    "en",
)
RETURNS_ZH = Passage(
    "kb/returns-zh#0",
    "kb/returns-zh",
    "退货",
    "未穿过的商品可在收货后30天内退货并全额退款。仅限原包装完好的商品。金卡会员退货运费全免，其他会员需支付6美元。礼品卡不可退货。",
    "zh",
)


@pytest.fixture(scope="module")
def selector() -> SentenceSelector:
    return SentenceSelector(GroundingChecker(SentenceEncoder()))


def test_the_answering_sentence_comes_with_its_condition(selector: SentenceSelector) -> None:
    chosen = selector.select("how long do i have to send something back?", [Hit(RETURNS_EN, 0.6)])
    assert chosen is not None
    assert "30 days" in chosen.text and "original packaging" in chosen.text


def test_a_no_question_gets_the_sentence_that_says_no(selector: SentenceSelector) -> None:
    chosen = selector.select("can i return a gift card?", [Hit(RETURNS_EN, 0.6)])
    assert chosen is not None and "Gift cards cannot be returned." in chosen.text


def test_a_list_comes_whole_with_its_lead_line(selector: SentenceSelector) -> None:
    chosen = selector.select("which payment methods do you take for exchanges?", [Hit(RETURNS_EN, 0.6)])
    assert chosen is not None
    assert all(name in chosen.text for name in ("Visa", "Mastercard", "PayPal"))


def test_the_customers_language_is_preferred(selector: SentenceSelector) -> None:
    hits = prefer_language([Hit(RETURNS_EN, 0.7), Hit(RETURNS_ZH, 0.6)], "zh")
    chosen = selector.select("礼品卡能退吗", hits)
    assert chosen is not None and chosen.passage.language == "zh" and "礼品卡不可退货" in chosen.text
    assert prefer_language([Hit(RETURNS_EN, 0.7)], "zh")[0].passage is RETURNS_EN  # none in zh: use what there is

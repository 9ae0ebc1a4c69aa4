"""Sentence-level answers with the real multilingual encoder: the answering sentence is chosen, its
condition and its list come with it, and the customer's language is preferred."""

from __future__ import annotations

import pytest

from services.common.knowledge.index import Hit, Passage
from services.common.ml.embeddings import SentenceEncoder
from services.generator.grounding import GroundingChecker
from services.generator.selection import (
    SentenceSelector,
    asked_quantities,
    close_cut_sentences,
    in_list,
    prefer_language,
)

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


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("How much does express shipping cost?", {"money"}),
        ("how long do refunds take", {"day", "hour", "minute", "week", "month", "year"}),
        ("运费多少钱？", {"money"}),
        ("退款要多久？", {"day", "hour", "minute", "week", "month", "year"}),
        ("Can I return a gift card?", set()),
    ],
)
def test_the_kind_of_quantity_a_question_asks_for(question: str, asked: set[str]) -> None:
    assert asked_quantities(question) == asked


def test_a_price_question_gets_the_sentence_with_the_price(selector: SentenceSelector) -> None:
    passage = Passage(
        "kb/ship#0",
        "kb/ship",
        "Shipping",
        "Express shipping is available for every order placed before noon. "
        "Express shipping costs 14.95 USD per order. "
        "Express parcels are sent with UPS and can be tracked in the app.",
        "en",
    )
    chosen = selector.select("how much is express shipping?", [Hit(passage, 0.6)])
    assert chosen is not None and "14.95 USD" in chosen.text


def test_the_rest_of_a_list_line_stays_in_the_list():
    units = ["Options:", "- Standard: 6.95 USD.", "Free over 75 USD.", "- Express: 14.95 USD.", "Returns are free."]
    assert in_list(units) == [False, True, True, True, False]


def test_a_sentence_cut_at_a_semicolon_ends_with_a_full_stop_when_its_other_half_is_left_out():
    units = ["One code per order;", "codes cannot be combined.", "Gift cards are fine;", "不能叠加；", "其他。"]
    assert close_cut_sentences(units, [0, 2]) == ["One code per order.", "Gift cards are fine."]
    assert close_cut_sentences(units, [0, 1]) == ["One code per order;", "codes cannot be combined."]
    assert close_cut_sentences(units, [3]) == ["不能叠加。"]

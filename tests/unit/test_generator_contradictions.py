"""Contradictions must not pass the grounding check: an answer close in words to a passage but opposite
in meaning (polarity, a number's unit, a menu path, a half-translated sentence) is not supported, in
English and Chinese; the faithful answer next to each one is. Real multilingual encoder."""

from __future__ import annotations

import pytest

from services.common.knowledge.index import Passage
from services.common.ml.embeddings import SentenceEncoder
from services.generator.grounding import (
    CONTRADICTION,
    MIXED_SCRIPT,
    UNSUPPORTED_NUMBER,
    UNSUPPORTED_PATH,
    GroundingChecker,
    agrees,
    menu_paths,
    negated,
    quantities,
)

EN = Passage(
    "kb/en#0",
    "kb/en",
    "Gift wrapping and returns",
    "We offer gift wrapping for 5 USD per order. You can return unworn items within 30 days of delivery. "
    "Final-sale items cannot be returned. To start a return, open Account > Orders > Return an item.",
    "en",
)
ZH = Passage(
    "kb/zh#0",
    "kb/zh",
    "礼品包装与退货",
    "我们提供礼品包装服务，每单收费5美元。未穿过的商品可在收货后30天内退货。清仓商品不可退货。"
    "申请退货请打开 我的 > 订单 > 申请退货。",
    "zh",
)
LABELS = {"1": EN.chunk_id, "2": ZH.chunk_id}

FAITHFUL = [
    ("en", "Yes, we offer gift wrapping for 5 USD per order."),
    ("en", "You can return unworn items within 30 days of delivery."),
    ("en", "Final-sale items cannot be returned."),
    ("en", "Open Account > Orders > Return an item to start a return."),
    ("zh", "我们提供礼品包装服务，每单5美元。"),
    ("zh", "未穿过的商品可以在收货后30天内退货。"),
    ("zh", "清仓商品不可退货。"),
]
CONTRADICTING = [
    ("en", "No, we do not offer gift wrapping.", CONTRADICTION),
    ("en", "You can return unworn items within 30 hours of delivery.", UNSUPPORTED_NUMBER),
    ("en", "Final-sale items can be returned within 30 days.", CONTRADICTION),
    ("en", "Open Account > Settings > Return an item to start a return.", UNSUPPORTED_PATH),
    ("zh", "我们不提供礼品包装服务。", CONTRADICTION),
    ("zh", "清仓商品可以退货。", CONTRADICTION),
    ("zh", "未穿过的商品可在收货后30小时内退货。", UNSUPPORTED_NUMBER),
    ("zh", "您可以在收货后30天内申请refund。", MIXED_SCRIPT),
]


@pytest.fixture(scope="module")
def checker() -> GroundingChecker:
    return GroundingChecker(SentenceEncoder())


@pytest.mark.parametrize(("language", "answer"), FAITHFUL)
def test_a_faithful_answer_is_grounded(checker: GroundingChecker, language: str, answer: str) -> None:
    result = checker.check(answer, [EN if language == "en" else ZH], LABELS)
    assert result.grounded, result.problems


@pytest.mark.parametrize(("language", "answer", "problem"), CONTRADICTING)
def test_a_contradicting_answer_is_not_grounded(
    checker: GroundingChecker, language: str, answer: str, problem: str
) -> None:
    result = checker.check(answer, [EN if language == "en" else ZH], LABELS)
    assert not result.grounded
    assert problem in result.problems


def test_the_contradiction_is_caught_among_supported_sentences(checker: GroundingChecker) -> None:
    answer = "You can return unworn items within 30 days of delivery. Final-sale items can be returned too."
    assert CONTRADICTION in checker.check(answer, [EN], LABELS).problems


def test_polarity_numbers_and_paths_are_read_per_language() -> None:
    assert negated("Final-sale items cannot be returned.") and not negated("Items can be returned.")
    assert not negated("Refunds arrive no later than 10 days after.")
    assert negated("清仓商品不可退货。") and not negated("不过您可以换货。")
    assert quantities("$5 or 10% within 30 business days") == {(5.0, "money"), (10.0, "percent"), (30.0, "day")}
    assert quantities("30天内，5美元") == {(30.0, "day"), (5.0, "money")}
    assert menu_paths("Go to Account > Orders > Returns") == {"account > orders", "orders > returns"}
    assert agrees("Returns are free within 30 days.", "Returns are free within 30 days of delivery.")
    assert not agrees("Returns are free within 30 hours.", "Returns are free within 30 days of delivery.")

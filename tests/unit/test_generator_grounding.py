"""The grounding check with the real multilingual encoder: supported answers pass and are cited,
invented facts and numbers do not."""

from __future__ import annotations

import pytest

from services.common.knowledge.index import Passage
from services.common.ml.embeddings import SentenceEncoder
from services.generator.grounding import (
    NO_CONTENT,
    UNSUPPORTED_CLAIMS,
    UNSUPPORTED_NUMBER,
    GroundingChecker,
    strip_markers,
)

RETURNS = Passage(
    "kb/returns#0",
    "kb/returns",
    "Product Defect: Return Due to Size",
    "Confirm their order can be returned, by checking their membership level. Gold members: Gold members "
    "get unlimited returns; Bronze members: return possible within the last 90 days; Guest members: "
    "return possible within the last 30 days",
)
SHIPPING = Passage(
    "kb/shipping#1",
    "kb/shipping",
    "Shipping Issue: Shipping Cost",
    "If the status is 'Out for Delivery' or 'Delivered', then the best you can do is to give them part "
    "of the shipping fee back. Standard shipping is $8.00",
)
LABELS = {"1": RETURNS.chunk_id, "2": SHIPPING.chunk_id}


@pytest.fixture(scope="module")
def checker() -> GroundingChecker:
    return GroundingChecker(SentenceEncoder())


@pytest.mark.models
def test_a_supported_answer_is_grounded_and_cites_its_passage(checker):
    result = checker.check(
        "Hi Ann! As a bronze member you can return items within 90 days [kb:1].", [RETURNS, SHIPPING], LABELS
    )
    assert result.grounded, result
    assert result.citations == (RETURNS.chunk_id,)
    assert result.text == "Hi Ann! As a bronze member you can return items within 90 days."


@pytest.mark.models
def test_the_supporting_passage_is_cited_even_without_a_marker(checker):
    result = checker.check("Standard shipping costs $8.", [RETURNS, SHIPPING], LABELS)
    assert result.grounded and result.citations == (SHIPPING.chunk_id,)


@pytest.mark.models
def test_a_chinese_answer_built_on_an_english_passage_is_grounded(checker):
    result = checker.check("金卡会员可以无限次退货。", [RETURNS], LABELS)
    assert result.grounded, result


@pytest.mark.models
def test_an_invented_number_is_not_grounded(checker):
    result = checker.check("Bronze members can return items within 120 days.", [RETURNS], LABELS)
    assert not result.grounded and UNSUPPORTED_NUMBER in result.problems


@pytest.mark.models
def test_a_number_from_the_customers_own_message_may_be_repeated(checker):
    result = checker.check(
        "Bronze members can return within 90 days, so order 55123 qualifies.",
        [RETURNS],
        LABELS,
        question="Can I return order 55123?",
    )
    assert UNSUPPORTED_NUMBER not in result.problems


@pytest.mark.models
def test_an_answer_about_something_else_is_not_grounded(checker):
    result = checker.check(
        "Our stores open at 9am on Sundays and we sell gift cards in every branch.", [RETURNS], LABELS
    )
    assert not result.grounded and UNSUPPORTED_CLAIMS in result.problems


@pytest.mark.models
def test_pleasantries_alone_are_no_answer(checker):
    result = checker.check("Thank you for reaching out! Is there anything else I can help with?", [RETURNS], LABELS)
    assert not result.grounded and result.problems == (NO_CONTENT,)


def test_markers_in_any_bracket_style_are_removed_and_read():
    text, labels = strip_markers("Within 90 days [kb:1]. Shipping is $8 【2】, see [kb:1, kb:2].")
    assert text == "Within 90 days. Shipping is $8, see."
    assert labels == ["1", "2", "1", "2"]

"""What an escalation carries: the agent's summary and draft, and the notice the customer reads."""

from __future__ import annotations

import pytest

from services.common.proto.cs.v1 import understanding_pb2 as pb
from services.generator.checks import check_answer
from services.generator.escalation import Enrichment, EntityView, handover_notice, suggested_reply, summarize
from services.generator.policy import (
    Action,
    Decision,
    PolicyInput,
    Priority,
    Reason,
    ReasonCode,
    RoutingPolicy,
    TurnView,
)

TURNS = [
    TurnView(
        "customer",
        "Hi, my refund for order ORD-5512 never arrived. Email me at anna.lee@example.com",
        "track_refund",
        False,
        0.9,
    ),
    TurnView("bot", "Refunds take 5 to 7 business days after we receive the item."),
    TurnView("customer", "It has been a month!!! Call me on 13812345678, this is a joke", "complaint", False, 0.8),
]
UNDERSTANDING = pb.Understanding(
    language="en",
    intent=pb.Intent(label="complaint", confidence=0.8),
    entities=[
        pb.Entity(type="order_number", text="ORD-5512", value="ORD-5512"),
        pb.Entity(type="email", text="anna.lee@example.com"),
        pb.Entity(type="phone", text="13812345678", value="+8613812345678"),
        pb.Entity(type="amount", text="$49.99", value="49.99 USD"),
    ],
)
SENTIMENT = pb.Sentiment(
    polarity=pb.POLARITY_NEGATIVE, score=-0.8, emotion=pb.EMOTION_ANGER, anger=0.88, trend=pb.TREND_WORSENING
)


def decision_for(*codes: ReasonCode, queue: str = "general") -> Decision:
    return Decision(Action.ESCALATE, queue, Priority.HIGH, tuple(Reason(c, "test") for c in codes))


def test_summary_states_intent_entities_sentiment_turns_and_last_message_without_pii() -> None:
    decision = RoutingPolicy().decide(
        PolicyInput(TURNS[-1].text, "en", "complaint", 0.8, anger=0.88, recent_turns=TURNS[:-1])
    )
    summary = summarize(TURNS, UNDERSTANDING, SENTIMENT, decision)
    assert "complaint" in summary
    assert "ORD-5512" in summary and "49.99 USD" in summary
    assert "anna.lee@example.com" not in summary and "13812345678" not in summary
    assert "[EMAIL]" in summary and "[PHONE]" in summary
    assert "negative" in summary and "angry" in summary and "0.88" in summary and "getting worse" in summary
    assert "3 turns" in summary
    assert "It has been a month" in summary
    assert "ANGER" in summary and "COMPLAINT" in summary


def test_summary_truncates_a_long_last_message() -> None:
    long_text = "My parcel was damaged. " * 40
    summary = summarize([TurnView("customer", long_text)], pb.Understanding(language="en"), pb.Sentiment())
    last_line = summary.splitlines()[-1]
    assert len(last_line) < 220 and last_line.endswith('…"')


def test_summary_for_a_chinese_conversation_is_in_chinese() -> None:
    turns = [TurnView("customer", "我的订单到现在还没发货，手机13912345678", "track_order", False, 0.9)]
    understanding = pb.Understanding(language="zh", intent=pb.Intent(label="track_order", confidence=0.9))
    sentiment = pb.Sentiment(polarity=pb.POLARITY_NEGATIVE, trend=pb.TREND_WORSENING)
    summary = summarize(turns, understanding, sentiment)
    assert "客户诉求" in summary and "查询订单物流" in summary and "负面" in summary and "恶化" in summary
    assert "13912345678" not in summary and "[PHONE]" in summary


def test_summary_says_the_intent_is_unclear_when_out_of_scope() -> None:
    understanding = pb.Understanding(language="en", intent=pb.Intent(label="out_of_scope", out_of_scope=True))
    assert "unclear" in summarize([TurnView("customer", "book me a flight")], understanding, pb.Sentiment())


def test_enrichment_reads_the_worker_protobufs() -> None:
    understanding = pb.Understanding(
        language="zh",
        intent=pb.Intent(label="get_refund", confidence=0.75),
        entities=[pb.Entity(type="order_number", text="订单123456", value="123456")],
    )
    sentiment = pb.Sentiment(
        polarity=pb.POLARITY_NEGATIVE, score=-0.6, emotion=pb.EMOTION_FRUSTRATION, anger=0.4, trend=pb.TREND_WORSENING
    )
    enrichment = Enrichment.from_proto(understanding, sentiment)
    assert enrichment.intent_label == "get_refund" and enrichment.language == "zh"
    assert (enrichment.polarity, enrichment.emotion, enrichment.trend) == ("negative", "frustration", "worsening")
    assert enrichment.entities == (EntityView("order_number", "订单123456", "123456"),)
    assert Enrichment.from_proto(pb.Understanding(), pb.Sentiment()).trend == ""


def test_draft_reply_is_in_the_customers_language_and_uses_their_name() -> None:
    en = suggested_reply(decision_for(ReasonCode.HUMAN_REQUESTED, queue="orders"), "en", "Anna")
    zh = suggested_reply(decision_for(ReasonCode.HUMAN_REQUESTED, queue="orders"), "zh", "张女士")
    assert en.startswith("Hi Anna,") and "order number" in en
    assert zh.startswith("张女士，您好") and "订单号" in zh
    assert check_answer(en, "en").ok and check_answer(zh, "zh").ok


def test_draft_reply_apologises_to_an_angry_customer_but_admits_nothing_on_legal_threats() -> None:
    angry = suggested_reply(decision_for(ReasonCode.ANGER, ReasonCode.COMPLAINT, queue="complaints"), "en", None)
    legal = suggested_reply(decision_for(ReasonCode.ANGER, ReasonCode.LEGAL, queue="complaints"), "en", None)
    assert "sorry" in angry.lower()
    assert "sorry" not in legal.lower() and "apolog" not in legal.lower()
    assert "抱歉" in suggested_reply(decision_for(ReasonCode.ANGER), "zh", None)


@pytest.mark.parametrize("name", ["anna@example.com", "13812345678", "x" * 80, "  "])
def test_names_that_look_like_contact_data_or_junk_are_left_out(name: str) -> None:
    reply = suggested_reply(decision_for(ReasonCode.HUMAN_REQUESTED), "en", name)
    assert reply.startswith("Hello,")
    assert not name.strip() or name not in reply


def test_handover_notice_tells_the_customer_a_human_is_coming_in_their_language() -> None:
    en = handover_notice("en", "general")
    zh = handover_notice("zh-CN", "general")
    assert "A member of our team will be with you shortly" in en
    assert zh.startswith("已为您转接人工客服")
    assert check_answer(en, "en").ok and check_answer(zh, "zh").ok


def test_handover_notice_names_the_team_and_apologises_when_the_customer_is_upset() -> None:
    en = handover_notice("en", "billing", "Anna", decision_for(ReasonCode.ANGER, queue="billing"))
    zh = handover_notice("zh", "billing", "张女士", decision_for(ReasonCode.COMPLAINT, queue="billing"))
    assert "sorry" in en.lower() and "Anna" in en and "billing team" in en
    assert "抱歉" in zh and "账务" in zh and zh.startswith("张女士")


@pytest.mark.parametrize(
    "codes", [[], [ReasonCode.BOT_LOOP], [ReasonCode.LEGAL], [ReasonCode.OUT_OF_SCOPE], [ReasonCode.HUMAN_REQUESTED]]
)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_handover_variant_passes_the_answer_checks(codes: list[ReasonCode], language: str) -> None:
    for queue in ("general", "billing", "orders", "accounts", "complaints", "vip", "technical"):
        decision = decision_for(*codes, queue=queue)
        notice = handover_notice(language, queue, "Anna", decision)
        draft = suggested_reply(decision, language, "Anna")
        assert check_answer(notice, language).ok, notice
        assert check_answer(draft, language).ok, draft


def test_the_handover_notice_for_a_safety_escalation_points_to_emergency_help_in_both_languages():
    from services.generator.escalation import handover_notice
    from services.generator.policy import Action, Decision, Priority, Reason, ReasonCode

    decision = Decision(Action.ESCALATE, "general", Priority.URGENT, (Reason(ReasonCode.SAFETY, "cue: kill myself"),))
    assert "emergency number" in handover_notice("en", "general", None, decision)
    assert "急救或报警电话" in handover_notice("zh", "general", "李雷", decision)

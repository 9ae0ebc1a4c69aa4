"""Routing policy: when the bot answers, stays silent, or hands the conversation to which human queue."""

from __future__ import annotations

import csv
import datetime as dt
import os
import pathlib
from typing import Any

import pytest

from services.common.platform.settings import ConfigError
from services.common.proto.cs.v1 import conversation_pb2
from services.generator.policy import (
    Action,
    PolicyConfig,
    PolicyInput,
    Priority,
    ReasonCode,
    RoutingPolicy,
    TurnView,
)

SHARED_DATA = pathlib.Path(
    os.environ.get("CS_SHARED_DATA", pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")
)
POLICY = RoutingPolicy()
RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


def customer(
    text: str,
    intent: str = "track_order",
    confidence: float = 0.9,
    oos: bool = False,
    sent_at: dt.datetime | None = None,
) -> TurnView:
    return TurnView("customer", text, intent, oos, confidence, sent_at)


def bot(text: str = "Here is what I found.", sent_at: dt.datetime | None = None) -> TurnView:
    return TurnView("bot", text, sent_at=sent_at)


def ask(text: str, intent: str = "track_order", confidence: float = 0.9, **enrichment: Any) -> PolicyInput:
    return PolicyInput(text=text, intent_label=intent, intent_confidence=confidence, **enrichment)


# -- the ordinary case ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, language, intent",
    [("Where is my order? It was due yesterday.", "en", "track_order"), ("我想查一下退款进度", "zh", "track_refund")],
)
def test_answers_an_ordinary_question(text: str, language: str, intent: str) -> None:
    decision = POLICY.decide(ask(text, intent, language=language, anger=0.2, sentiment_score=-0.2))
    assert decision.action == Action.ANSWER
    assert decision.queue is None and decision.reasons == ()


# -- human requested ------------------------------------------------------------------------------


def test_escalates_when_customer_asks_for_a_real_person() -> None:
    decision = POLICY.decide(ask("I want to talk to a real person", "contact_human_agent", language="en"))
    assert decision.action == Action.ESCALATE
    assert decision.codes == {ReasonCode.HUMAN_REQUESTED}


@pytest.mark.parametrize("text", ["我要转人工", "给我找个真人", "请让客服人员联系我", "人工！"])
def test_escalates_on_chinese_human_request_even_when_the_intent_model_missed_it(text: str) -> None:
    decision = POLICY.decide(ask(text, "out_of_scope", 0.2, out_of_scope=True, language="zh"))
    assert decision.action == Action.ESCALATE
    assert ReasonCode.HUMAN_REQUESTED in decision.codes


@pytest.mark.parametrize("text", ["Can I speak to someone please?", "get me an AGENT", "Are there any humans there?"])
def test_escalates_on_english_human_cues_whatever_the_intent(text: str) -> None:
    assert ReasonCode.HUMAN_REQUESTED in POLICY.decide(ask(text, "track_order", 0.7)).codes


@pytest.mark.parametrize("text", ["你们的客服是人工智能吗？", "Do you use artificial intelligence for this?"])
def test_asking_about_artificial_intelligence_is_not_a_request_for_a_human(text: str) -> None:
    assert POLICY.decide(ask(text, "contact_customer_service", 0.8)).action == Action.ANSWER


def test_a_low_confidence_human_intent_alone_does_not_escalate() -> None:
    decision = POLICY.decide(ask("what are your opening hours", "contact_human_agent", 0.3))
    assert ReasonCode.HUMAN_REQUESTED not in decision.codes


def test_human_request_after_a_refund_question_goes_to_the_billing_queue() -> None:
    history = [customer("I still haven't got my refund", "track_refund"), bot()]
    decision = POLICY.decide(ask("let me talk to a human", "contact_human_agent", recent_turns=history))
    assert decision.queue == "billing"


# -- anger, sentiment, complaints, legal -----------------------------------------------------------


def test_angry_complaint_goes_to_the_complaints_queue_with_high_priority() -> None:
    decision = POLICY.decide(
        ask(
            "This is the third time your courier lost my parcel. Unacceptable!",
            "complaint",
            0.85,
            anger=0.9,
            sentiment_score=-0.9,
        )
    )
    assert decision.action == Action.ESCALATE
    assert decision.queue == "complaints"
    assert {ReasonCode.ANGER, ReasonCode.COMPLAINT} <= decision.codes
    assert decision.priority in {Priority.HIGH, Priority.URGENT}


def test_anger_over_the_threshold_escalates_below_it_does_not() -> None:
    assert POLICY.decide(ask("where is my parcel", anger=0.8)).codes == {ReasonCode.ANGER}
    assert POLICY.decide(ask("where is my parcel", anger=0.6)).action == Action.ANSWER


def test_chinese_complaint_cue_escalates_to_complaints() -> None:
    decision = POLICY.decide(ask("我要投诉你们的快递员，态度太差了", "delivery_period", 0.7, language="zh"))
    assert decision.codes == {ReasonCode.COMPLAINT}
    assert decision.queue == "complaints"


@pytest.mark.parametrize(
    "text",
    [
        "I'll see you in court",
        "My lawyer will contact you",
        "我要起诉你们",
        "我已经向消费者协会反映了",
        "再不处理我就打12315",
    ],
)
def test_legal_cues_escalate_urgently_to_complaints(text: str) -> None:
    decision = POLICY.decide(ask(text, "get_refund", 0.8))
    assert ReasonCode.LEGAL in decision.codes
    assert decision.queue == "complaints"
    assert decision.priority == Priority.URGENT


@pytest.mark.parametrize(
    "text", ["I have an issue with my invoice", "Of course, please pursue it", "Thanks for the courtesy call"]
)
def test_words_that_merely_contain_a_legal_cue_do_not_count(text: str) -> None:
    assert ReasonCode.LEGAL not in POLICY.decide(ask(text, "check_invoice")).codes


def test_worsening_negative_sentiment_escalates() -> None:
    decision = POLICY.decide(ask("still nothing??", sentiment_score=-0.5, trend="TREND_WORSENING", trend_slope=-0.3))
    assert decision.codes == {ReasonCode.WORSENING_SENTIMENT}


def test_a_cooling_but_still_positive_conversation_is_not_escalated() -> None:
    decision = POLICY.decide(ask("ok thanks", sentiment_score=0.4, trend="worsening", trend_slope=-0.4))
    assert decision.action == Action.ACKNOWLEDGE  # thanks only: acknowledged, not queued


# -- VIP --------------------------------------------------------------------------------------------


def test_vip_customer_is_flagged_and_gets_a_higher_priority() -> None:
    standard = POLICY.decide(ask("I want to speak to a human", "contact_human_agent", customer_tier="standard"))
    vip = POLICY.decide(ask("I want to speak to a human", "contact_human_agent", customer_tier="Platinum"))
    assert ReasonCode.VIP in vip.codes and ReasonCode.VIP not in standard.codes
    assert RANK[vip.priority] > RANK[standard.priority]
    assert vip.queue == "vip"


def test_vip_alone_still_gets_answered_by_the_bot_unless_configured_otherwise() -> None:
    question = ask("what payment methods do you take", "check_payment_methods", customer_tier="vip")
    assert POLICY.decide(question).action == Action.ANSWER
    always = RoutingPolicy(PolicyConfig(vip_always_human=True)).decide(question)
    assert always.action == Action.ESCALATE and always.codes == {ReasonCode.VIP}


def test_vip_complaint_stays_with_complaints_and_is_urgent_when_angry() -> None:
    decision = POLICY.decide(ask("This is a disgrace", "complaint", anger=0.8, customer_tier="vip"))
    assert decision.queue == "complaints"
    assert decision.priority == Priority.URGENT


# -- not understood ---------------------------------------------------------------------------------


def test_two_out_of_scope_messages_in_a_row_escalate_with_low_priority() -> None:
    history = [
        customer("can you book me a flight to Paris", "out_of_scope", 0.1, oos=True),
        bot("Sorry, I can help with orders."),
    ]
    decision = POLICY.decide(
        ask("what about a hotel then", "out_of_scope", 0.15, out_of_scope=True, recent_turns=history)
    )
    assert decision.action == Action.ESCALATE
    assert decision.codes == {ReasonCode.OUT_OF_SCOPE}
    assert decision.priority == Priority.LOW
    assert decision.queue == "general"


def test_two_chinese_low_confidence_messages_escalate_as_low_confidence() -> None:
    history = [customer("那个东西怎么弄", "change_order", 0.3), bot("请问您指的是哪个订单？")]
    decision = POLICY.decide(ask("就是上次那个", "change_order", 0.35, recent_turns=history, language="zh"))
    assert decision.codes == {ReasonCode.LOW_CONFIDENCE}


def test_a_single_out_of_scope_message_lets_the_bot_ask_back() -> None:
    history = [customer("where is my order", "track_order", 0.95), bot()]
    decision = POLICY.decide(
        ask("what's the weather tomorrow", "out_of_scope", 0.1, out_of_scope=True, recent_turns=history)
    )
    assert decision.action == Action.ANSWER


def test_turns_before_an_agent_took_part_are_not_counted() -> None:
    history = [
        customer("book a flight", "out_of_scope", 0.1, oos=True),
        bot(),
        customer("book a hotel", "out_of_scope", 0.1, oos=True),
        TurnView("agent", "Sorted, anything else?"),
    ]
    decision = POLICY.decide(ask("and a car?", "out_of_scope", 0.1, out_of_scope=True, recent_turns=history))
    assert decision.action == Action.ANSWER


# -- bot loop -----------------------------------------------------------------------------------------


def test_customer_asking_the_same_question_a_third_time_is_a_bot_loop() -> None:
    history = [
        customer("Where is my refund?", "track_refund"),
        bot(),
        customer("where is my refund??", "track_refund", 0.4),
        bot(),
    ]
    decision = POLICY.decide(ask("WHERE IS MY REFUND", "payment_issue", 0.6, recent_turns=history))
    assert ReasonCode.BOT_LOOP in decision.codes
    assert decision.queue == "billing"


def test_chinese_repeated_question_is_a_bot_loop() -> None:
    history = [
        customer("我的退款到哪了？", "track_refund"),
        bot(),
        customer("我的退款到底到哪了", "track_refund"),
        bot(),
    ]
    assert ReasonCode.BOT_LOOP in POLICY.decide(ask("我的退款到哪了！！", "get_refund", recent_turns=history)).codes


def test_asking_twice_or_double_sending_is_not_yet_a_loop() -> None:
    twice = [customer("Where is my refund?", "track_refund"), bot()]
    double_sent = [
        customer("Where is my refund?", "track_refund"),
        customer("Where is my refund?", "track_refund"),
        bot(),
    ]
    for history in (twice, double_sent):
        assert POLICY.decide(ask("Where is my refund?", "get_refund", recent_turns=history)).action == Action.ANSWER


def test_bot_answering_the_same_intent_three_times_in_a_row_is_a_loop() -> None:
    history = []
    for text in ("track my order", "it says in transit, where exactly", "that link doesn't work"):
        history += [customer(text, "track_order"), bot()]
    decision = POLICY.decide(ask("the parcel is still not here", "track_order", recent_turns=history))
    assert decision.codes == {ReasonCode.BOT_LOOP}
    assert decision.queue == "orders"


def test_same_intent_answers_spread_over_days_are_not_a_loop() -> None:
    start = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
    history = []
    for day, text in enumerate(("track my order", "it says in transit, where exactly", "that link doesn't work")):
        at = start + dt.timedelta(days=day)
        history += [customer(text, "track_order", sent_at=at), bot(sent_at=at + dt.timedelta(seconds=5))]
    assert (
        POLICY.decide(ask("the parcel is still not here", "track_order", recent_turns=history)).action == Action.ANSWER
    )


# -- silence and state ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["queued", "agent", "CONVERSATION_STATE_QUEUED", "AGENT"])
def test_bot_stays_silent_while_the_conversation_is_queued_or_with_an_agent(state: str) -> None:
    decision = POLICY.decide(
        ask("I want a human NOW, I'll sue you", "contact_human_agent", anger=0.95, conversation_state=state)
    )
    assert decision.action == Action.SILENT
    assert decision.queue is None and decision.reasons == ()


def test_a_new_message_in_a_resolved_conversation_is_handled_by_the_bot_again() -> None:
    assert (
        POLICY.decide(ask("one more question about delivery", "delivery_options", conversation_state="resolved")).action
        == Action.ANSWER
    )


# -- everything listed, queues, configuration ------------------------------------------------------------


def test_lists_every_reason_that_applies() -> None:
    text = "Refund please!!! I want a real person or I'm calling my lawyer"
    history = [customer(text, "get_refund"), bot(), customer(text, "get_refund"), bot()]
    decision = POLICY.decide(
        ask(
            text,
            "complaint",
            anger=0.95,
            sentiment_score=-0.9,
            trend="worsening",
            trend_slope=-0.5,
            customer_tier="vip",
            recent_turns=history,
        )
    )
    assert decision.codes == {
        ReasonCode.HUMAN_REQUESTED,
        ReasonCode.ANGER,
        ReasonCode.WORSENING_SENTIMENT,
        ReasonCode.COMPLAINT,
        ReasonCode.LEGAL,
        ReasonCode.VIP,
        ReasonCode.BOT_LOOP,
    }
    assert all(r.detail for r in decision.reasons)
    assert decision.priority == Priority.URGENT


@pytest.mark.parametrize(
    "intent, queue",
    [("payment_issue", "billing"), ("get_invoice", "billing"), ("cancel_order", "orders"), ("delivery_period", "orders"),
     ("recover_password", "accounts"), ("review", "general")],
)  # fmt: skip
def test_escalations_go_to_the_queue_of_the_topic(intent: str, queue: str) -> None:
    assert POLICY.decide(ask("let me speak to an agent", intent)).queue == queue


def test_every_bitext_intent_routes_by_its_category() -> None:
    path = SHARED_DATA / "bitext-customer-service" / "bitext_customer_service_8k.csv"
    if not path.exists():
        pytest.skip(f"{path} missing: set CS_SHARED_DATA to the shared data folder")
    by_category = {
        "PAYMENT": "billing", "REFUND": "billing", "INVOICE": "billing", "CANCELLATION_FEE": "billing",
        "ORDER": "orders", "DELIVERY": "orders", "SHIPPING_ADDRESS": "orders",
        "ACCOUNT": "accounts", "NEWSLETTER": "accounts",
        "CONTACT": "general", "FEEDBACK": "general",
    }  # fmt: skip
    with path.open(encoding="utf-8-sig") as f:
        pairs = {(row["category"], row["intent"]) for row in csv.DictReader(f)}
    assert len(pairs) == 27
    config = PolicyConfig()
    for category, intent in pairs:
        assert config.intent_queues.get(intent, config.default_queue) == by_category[category], intent


def test_reason_codes_and_priorities_match_the_proto_enums() -> None:
    assert {f"REASON_CODE_{c.value}" for c in ReasonCode} <= set(conversation_pb2.ReasonCode.keys())
    assert {f"PRIORITY_{p.name}" for p in Priority} == set(conversation_pb2.Priority.keys()) - {"PRIORITY_UNSPECIFIED"}


def test_config_from_env_overrides_defaults_and_merges_queue_mappings() -> None:
    config = PolicyConfig.from_env(
        {
            "CS_POLICY_ANGER_THRESHOLD": "0.6",
            "CS_POLICY_VIP_TIERS": "gold, diamond",
            "CS_POLICY_INTENT_QUEUES": "review:complaints,registration_problems:technical",
            "CS_POLICY_VIP_QUEUE": "none",
        }
    )
    assert config.anger_threshold == 0.6
    assert config.vip_tiers == ("gold", "diamond")
    assert config.intent_queues["review"] == "complaints"
    assert config.intent_queues["registration_problems"] == "technical"
    assert config.intent_queues["get_refund"] == "billing"
    assert "technical" in config.queues() and "vip" not in config.queues()
    decision = RoutingPolicy(config).decide(ask("human please", "registration_problems", customer_tier="gold"))
    assert decision.queue == "technical" and ReasonCode.VIP in decision.codes
    assert PolicyConfig.from_env({}) == PolicyConfig()


@pytest.mark.parametrize(
    "env, named",
    [({"CS_POLICY_ANGER_THRESHOLD": "high"}, "CS_POLICY_ANGER_THRESHOLD"),
     ({"CS_POLICY_ANGER_THRESHOLD": "1.5"}, "CS_POLICY_ANGER_THRESHOLD"),
     ({"CS_POLICY_INTENT_QUEUES": "get_refund"}, "CS_POLICY_INTENT_QUEUES"),
     ({"CS_POLICY_VIP_ALWAYS_HUMAN": "maybe"}, "CS_POLICY_VIP_ALWAYS_HUMAN")],
)  # fmt: skip
def test_bad_policy_settings_fail_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        PolicyConfig.from_env(env)


def test_a_question_the_bot_answered_from_the_knowledge_base_counts_as_understood():
    policy = RoutingPolicy()
    answered = [
        TurnView("customer", "How much is shipping?", "out_of_scope", True, 0.2),
        TurnView("bot", "Standard shipping is $8.00.", reply_kind="REPLY_KIND_ANSWER"),
    ]
    handed_back = [
        TurnView("customer", "How much is shipping?", "out_of_scope", True, 0.2),
        TurnView("bot", "Sorry, I couldn't find a reliable answer.", reply_kind="REPLY_KIND_FALLBACK"),
    ]
    follow_up = dict(text="and how long do promo codes last?", intent_label="track_order", intent_confidence=0.27)
    assert policy.decide(PolicyInput(**follow_up, recent_turns=answered)).action == Action.ANSWER
    assert policy.decide(PolicyInput(**follow_up, recent_turns=handed_back)).action == Action.ESCALATE


# -- safety: self-harm and threats --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, language",
    [
        ("Honestly I can't take this anymore, I want to kill myself", "en"),
        ("if this isn't fixed I'll hurt myself", "en"),
        ("I know where you live and I will make you pay", "en"),
        ("I'm going to kill you all if my parcel doesn't come", "en"),
        ("退款一直不到账，我真的不想活了", "zh"),
        ("再不处理我就弄死你", "zh"),
    ],
)
def test_self_harm_and_threats_go_to_a_person_at_once_and_urgently(text: str, language: str) -> None:
    decision = POLICY.decide(ask(text, "track_refund", language=language, anger=0.1))
    assert decision.action == Action.ESCALATE
    assert ReasonCode.SAFETY in decision.codes
    assert decision.priority == Priority.URGENT


@pytest.mark.parametrize(
    "text",
    [
        "This wait is killing me, where is my parcel?",
        "Can I cut my subscription to monthly?",
        "I don't want to hurt your feelings but the app is slow",
        "Prices shoot up every Christmas, do you price-match?",
        "好久没来了，想死你们了！新品什么时候上？",
    ],
)
def test_everyday_phrasings_are_not_safety_escalations(text: str) -> None:
    decision = POLICY.decide(ask(text, "track_order"))
    assert ReasonCode.SAFETY not in decision.codes


@pytest.mark.parametrize(
    "text",
    [
        "No need for a human, I just want to know your opening hours",
        "I don't want to talk to an agent, just tell me how returns work",
        "不用转人工，我只想知道营业时间",
        "I'm not complaining, just asking how exchanges work",
    ],
)
def test_a_negated_human_or_complaint_cue_does_not_escalate(text: str) -> None:
    assert RoutingPolicy().decide(PolicyInput(text=text)).action == Action.ANSWER


@pytest.mark.parametrize("text", ["I need a human agent now, not the bot", "转人工", "I want to make a complaint"])
def test_a_cue_that_is_not_negated_still_escalates(text: str) -> None:
    decision = RoutingPolicy().decide(PolicyInput(text=text))
    assert decision.action == Action.ESCALATE and not decision.answer_first


def test_safety_cues_are_never_negated_away() -> None:
    decision = RoutingPolicy().decide(PolicyInput(text="I'm not joking, I want to kill myself"))
    assert decision.action == Action.ESCALATE and not decision.answer_first


def test_an_escalation_on_an_intent_label_alone_is_tried_against_the_knowledge_base_first() -> None:
    decision = RoutingPolicy().decide(
        PolicyInput(text="what's your phone number?", intent_label="contact_human_agent", intent_confidence=0.9)
    )
    assert decision.action == Action.ESCALATE and decision.answer_first
    angry = RoutingPolicy().decide(
        PolicyInput(
            text="what's your phone number?", intent_label="contact_human_agent", intent_confidence=0.9, anger=0.95
        )
    )
    assert angry.action == Action.ESCALATE and not angry.answer_first


@pytest.mark.parametrize(
    "text",
    [
        "If my order doesn't come tomorrow I'll find your driver and stab him",
        "one more delay and I swear I'll hurt someone",
        "再不发货我就去仓库杀人",
        "信不信我弄死他",
    ],
)
def test_a_threat_of_violence_against_anyone_is_an_urgent_safety_escalation(text: str) -> None:
    decision = RoutingPolicy().decide(PolicyInput(text=text))
    assert decision.action == Action.ESCALATE and not decision.answer_first
    assert any(r.code == ReasonCode.SAFETY for r in decision.reasons)


# -- negation and what a cue word means (issue 16) ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "don't need a human",
        "I dont need an agent, just the tracking link",
        "no need for a human, I just want to know when you open",
        "a human is not necessary, what's the returns address",
        "不用人工",
        "不用转人工，我就问一下运费多少",
        "人工就不用了，告诉我怎么退货",
        "不需要客服人员，我自己操作就行",
    ],
)
def test_a_negated_request_for_a_human_does_not_escalate_even_when_the_intent_model_reads_one(text: str) -> None:
    decision = POLICY.decide(ask(text, "contact_human_agent", 0.95))
    assert decision.action == Action.ANSWER
    assert ReasonCode.HUMAN_REQUESTED not in decision.codes


@pytest.mark.parametrize(
    "text",
    [
        "my travel agent booked this order for me",
        "do you sell court shoes in size 6?",
        "are these good for the tennis court",
        "the estate agent's address is the delivery address",
        "人工费另算吗？",
    ],
)
def test_a_cue_word_that_means_something_else_does_not_escalate(text: str) -> None:
    assert POLICY.decide(ask(text, "place_order", 0.8)).action == Action.ANSWER


@pytest.mark.parametrize(
    "text",
    [
        "I *do* want a person",
        "agent",
        "Agent!!",
        "AGENT",
        "人工",
        "转人工！",
        "no i want a human",
        "don't want the bot i want a human",
        "不要机器人要人工",
        "不想等了要人工",
        "is there no human here?",
    ],
)
def test_a_request_for_a_person_escalates_without_the_intent_model(text: str) -> None:
    decision = POLICY.decide(ask(text, "out_of_scope", 0.2, out_of_scope=True))
    assert decision.action == Action.ESCALATE and not decision.answer_first
    assert ReasonCode.HUMAN_REQUESTED in decision.codes


@pytest.mark.parametrize(
    "text, intent",
    [
        ("thanks, great help", "review"),
        ("Thank you so much, that was really helpful!", "complaint"),
        ("ty u r the best", "out_of_scope"),
        ("谢谢，帮大忙了", "review"),
        ("太好了，谢谢客服", "contact_human_agent"),
    ],
)
def test_a_compliment_is_acknowledged_not_queued(text: str, intent: str) -> None:
    earlier = [customer("what's your phone number", "out_of_scope", 0.2, oos=True), bot()]
    decision = POLICY.decide(ask(text, intent, 0.7, out_of_scope=intent == "out_of_scope", recent_turns=earlier))
    assert decision.action == Action.ACKNOWLEDGE
    assert decision.queue is None and decision.reasons == ()


@pytest.mark.parametrize(
    "text, anger",
    [
        ("thanks for nothing", 0.3),
        ("great, another delay", 0.3),
        ("thanks but where is my refund?", 0.1),
        ("谢谢，但是我的退款呢？", 0.1),
        ("thanks. I want a human", 0.1),
        ("thank you, you are useless", 0.9),
    ],
)
def test_thanks_with_a_question_a_grievance_or_a_request_is_not_only_thanks(text: str, anger: float) -> None:
    assert POLICY.decide(ask(text, "track_refund", 0.8, anger=anger)).action != Action.ACKNOWLEDGE


@pytest.mark.parametrize(
    "text",
    [
        "there's no point anymore, everyone would be better off without me",
        "I can't go on like this, I just want to disappear forever",
        "I'll find out when he finishes and wait for him outside, then we'll see",
        "that cashier was rude, I'll be waiting outside for her when the store closes",
        "活着还有什么意思，我想一了百了",
        "i honestly wish i was dead, this whole year has been awful",
        "I'm so tired of being alive, can you just cancel everything",
        "I just dont want to exist anymore, close the account",
        "真的不想存在了，帮我把账号注销吧",
        "生无可恋，订单也不要了",
        "你们那个快递员给我等着瞧，我会收拾他的",
    ],
)
def test_hopelessness_and_threats_without_the_explicit_words_are_urgent(text: str) -> None:
    decision = RoutingPolicy().decide(PolicyInput(text=text))
    assert decision.action == Action.ESCALATE and not decision.answer_first
    assert decision.priority == Priority.URGENT


@pytest.mark.parametrize(
    "text",
    [
        "I won't be around to sign for the parcel on Friday",
        "I've been waiting for him all day, the courier never came",
        "what's the point of paying for express if it arrives late?",
        "I don't want to be here all day on hold, can you call me back?",
        "is the extended warranty worth it or not worth the money?",
        "帮我把他的订单弄好",
    ],
)
def test_look_alikes_of_the_implicit_cues_are_not_safety_escalations(text: str) -> None:
    assert ReasonCode.SAFETY not in RoutingPolicy().decide(PolicyInput(text=text)).codes

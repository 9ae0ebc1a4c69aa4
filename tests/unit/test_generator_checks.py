"""Answer checks: what a customer must never receive from the model, and what gets cleaned up."""

from __future__ import annotations

import pytest

from services.generator.checks import (
    AnswerLimits,
    check_answer,
    fallback_reply,
)
from services.generator.policy import Action, PolicyInput, ReasonCode, RoutingPolicy


def test_accepts_a_plain_answer_in_the_customers_language() -> None:
    en = check_answer(
        "Your order ORD-5512 left our warehouse today and should arrive within 3 days.", "en", "where is my order"
    )
    zh = check_answer("您的订单 ORD-5512 已于今天发货，预计 3 天内送达。", "zh", "我的订单到哪了")
    assert en.ok and en.problems == ()
    assert zh.ok and zh.cleaned_text == "您的订单 ORD-5512 已于今天发货，预计 3 天内送达。"


@pytest.mark.parametrize(
    "answer, language",
    [
        ("Your order has been shipped and will arrive soon.", "zh"),
        ("您的订单已发货，请耐心等待。", "en"),
        ("Your order has shipped. 您的订单已发货。", "zh"),
        ("Hello! 您的订单已经发货了，请注意查收。", "en"),
    ],
)
def test_rejects_an_answer_in_the_wrong_language(answer: str, language: str) -> None:
    assert "wrong_language" in check_answer(answer, language).problems


@pytest.mark.parametrize(
    "answer, language",
    [("您可以在 App 的 My Orders 页面查看物流。", "zh"), ("Your Xiaomi 小米手环 band has shipped.", "en")],
)
def test_brand_and_page_names_in_the_other_script_are_fine(answer: str, language: str) -> None:
    assert check_answer(answer, language).ok


@pytest.mark.parametrize(
    "answer, language",
    [
        ("Sorry, but I can't assist with that.", "en"),
        ("I’m sorry, but I cannot help with that request.", "en"),
        ("As an AI language model, I don't have access to real-time data.", "en"),
        ("抱歉，我无法协助您处理这个问题。", "zh"),
        ("作为一个AI语言模型，我不能查询您的订单。", "zh"),
    ],
)
def test_rejects_refusals_and_assistant_boilerplate(answer: str, language: str) -> None:
    assert "refusal" in check_answer(answer, language).problems


def test_strips_role_tags_template_tokens_and_markdown() -> None:
    result = check_answer(
        "<|im_start|>assistant\nAssistant: **Good news!** Your order has shipped.\n\n## Tracking\n* Use the [tracking page](https://shop.example/track).<|im_end|>",
        "en",
    )
    assert result.ok
    assert (
        result.cleaned_text
        == "Good news! Your order has shipped.\nTracking\n- Use the tracking page (https://shop.example/track)."
    )


def test_cuts_the_customer_turn_the_model_started_to_invent() -> None:
    result = check_answer("您的退款已处理，请留意账户。\n用户：好的谢谢\n客服：不客气", "zh")
    assert result.cleaned_text == "您的退款已处理，请留意账户。"


def test_trims_an_overlong_answer_at_a_sentence_end() -> None:
    answer = "Our standard delivery takes three to five business days. " * 20
    result = check_answer(answer, "en", limits=AnswerLimits(max_chars_en=200))
    assert result.ok
    assert len(result.cleaned_text) <= 200 and result.cleaned_text.endswith("days.")
    zh = check_answer("我们的标准配送需要三到五个工作日。" * 30, "zh")
    assert len(zh.cleaned_text) <= AnswerLimits().max_chars_zh and zh.cleaned_text.endswith("。")


def test_drops_the_unfinished_sentence_when_generation_was_cut_off() -> None:
    answer = "Your refund was approved. You should see it within 5 business days. If you have any"
    assert (
        check_answer(answer, "en", cut_off=True).cleaned_text
        == "Your refund was approved. You should see it within 5 business days."
    )
    assert check_answer(answer, "en").cleaned_text == answer


def test_a_cut_off_numbered_list_does_not_end_on_a_bare_item_number() -> None:
    answer = (
        "Here's how:\n1. Log in to your account.\n2. Open 'Shipping'.\n"
        "3. Pick the address for your order.\n4. Select the"
    )
    cleaned = check_answer(answer, "en", cut_off=True).cleaned_text
    assert (
        cleaned == "Here's how:\n1. Log in to your account.\n2. Open 'Shipping'.\n3. Pick the address for your order."
    )


def test_masks_and_flags_pii_but_allows_the_companys_own_contacts() -> None:
    leaked = check_answer("We have sent it to anna.lee@example.com and will call 13812345678.", "en")
    assert not leaked.ok and "pii" in leaked.problems
    assert leaked.cleaned_text == "We have sent it to [EMAIL] and will call [PHONE]."
    hotline = check_answer(
        "You can call our hotline on 400-820-6666 or write to help@shop.example.",
        "en",
        limits=AnswerLimits(allowed_contacts=("400-820-6666", "help@shop.example")),
    )
    assert hotline.ok


@pytest.mark.parametrize(
    "answer, language",
    [
        ("We will refund you $50 by Friday.", "en"),
        ("You'll get 30% of the price back as a refund.", "en"),
        ("我们会为您退款50%。", "zh"),
        ("我们将赔偿您200元。", "zh"),
        ("We guarantee delivery by tomorrow.", "en"),
        ("I promise it will arrive today.", "en"),
        ("我们保证明天一定送到。", "zh"),
    ],
)
def test_rejects_promises_only_a_human_may_make(answer: str, language: str) -> None:
    assert "forbidden_promise" in check_answer(answer, language).problems


@pytest.mark.parametrize(
    "answer, language",
    [
        ("Refunds usually reach your account within 5 to 7 business days.", "en"),
        ("We can't guarantee delivery by Friday, but we will do our best.", "en"),
        ("退款一般会在3到5个工作日内原路退回。", "zh"),
        ("我们无法保证具体的送达时间，但会尽快为您安排。", "zh"),
        ("Your order total was $49.99.", "en"),
    ],
)
def test_timelines_totals_and_careful_wording_are_not_promises(answer: str, language: str) -> None:
    assert check_answer(answer, language).ok


@pytest.mark.parametrize(
    "answer, language",
    [
        ("You could sue the courier for the damage.", "en"),
        ("Under consumer law you are entitled to a replacement.", "en"),
        ("根据消费者权益保护法，您可以起诉商家。", "zh"),
    ],
)
def test_rejects_legal_advice(answer: str, language: str) -> None:
    assert "legal_advice" in check_answer(answer, language).problems


def test_rejects_an_answer_that_only_repeats_the_question() -> None:
    assert "echo" in check_answer("Where is my order?", "en", "where is my order").problems
    # An echo can also hand the question back with its person words swapped.
    assert (
        "echo"
        in check_answer(
            "您，我们网站今天特别慢，页面半天打不开。", "zh", "你们的网站今天特别慢，页面半天打不开。"
        ).problems
    )
    assert "echo" in check_answer("You can't log in to your account.", "en", "I can't log in to my account").problems
    assert (
        "echo"
        not in check_answer(
            "网站变慢时，请先清除浏览器缓存并重新登录。", "zh", "你们的网站今天特别慢，页面半天打不开。"
        ).problems
    )


def test_rejects_unfilled_template_slots() -> None:
    assert (
        "template_placeholder"
        in check_answer("Dear [Customer Name], your {{Order Number}} has shipped.", "en").problems
    )


def test_rejects_program_code() -> None:
    answer = "Here you go:\n```python\ndef track(order):\n    return api.get(order)\n```"
    assert "code" in check_answer(answer, "en").problems


def test_rejects_an_empty_answer() -> None:
    assert check_answer("<|im_end|>  ** **", "en").problems == ("empty",)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_fallback_reply_passes_the_checks_and_its_suggested_word_reaches_a_human(language: str) -> None:
    reply = fallback_reply(language)
    assert check_answer(reply, language).ok
    suggested = "agent" if language == "en" else "人工"
    assert suggested in reply
    decision = RoutingPolicy().decide(PolicyInput(suggested, language, "out_of_scope", 0.1, True))
    assert decision.action == Action.ESCALATE and ReasonCode.HUMAN_REQUESTED in decision.codes

"""Language detection by script: what the platform replies in depends on it."""

from __future__ import annotations

import pytest

from services.intent.language import detect_language


@pytest.mark.parametrize(
    "text",
    [
        "我的订单到哪了？",
        "我的订单 #12345 没到",
        "我想买 Calvin Klein jeans",
        "订单号 ORD-2024-889 还没发货",
        "转人工",
        "退款",
        "麻烦帮我查一下 tracking number",
        "我的邮箱是 john.doe@example.com",
        "ＡＢＣ的衬衫有货吗",
    ],
)
def test_chinese_messages_stay_chinese_despite_numbers_and_latin_names(text):
    assert detect_language(text) == "zh"


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order?",
        "my order 12345 hasn't arrived",
        "I bought 牛仔裤 last week and they don't fit",
        "ok",
        "I want to talk to a real person!!!",
        "ＯＲＤＥＲ status please",
    ],
)
def test_english_messages_are_english_even_when_quoting_a_chinese_word(text):
    assert detect_language(text) == "en"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("注文はどこですか", "ja"),
        ("私の注文が届きません", "ja"),
        ("주문이 어디 있나요", "ko"),
        ("我の订单呢", "zh"),
    ],
)
def test_japanese_and_korean_are_recognised_by_their_own_scripts(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize("text", ["", "   ", "12345", "#A1B2C3 ???", "😀👍", "Привет, где мой заказ?"])
def test_undetermined_when_there_is_nothing_to_go_on_or_an_unserved_script(text):
    assert detect_language(text) == "und"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Bonjour, je n'ai pas reçu mon colis", "fr"),
        ("Pouvez-vous changer mon adresse de livraison ?", "fr"),
        ("¿Dónde está mi pedido?", "es"),
        ("Quiero hablar con una persona", "es"),
        ("Wo ist meine Bestellung?", "de"),
        ("Ich möchte meine Bestellung stornieren", "de"),
    ],
)
def test_french_spanish_and_german_customers_are_not_taken_for_english(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",
    ["thx", "agent", "reset password pls", "order status?", "do u ship to canada", "my order from Zara Paris"],
)
def test_short_english_chat_stays_english(text):
    assert detect_language(text) == "en"

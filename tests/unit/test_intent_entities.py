"""Entities the generator relies on: order numbers it looks up, contact data it masks, amounts,
dates and products it compares with the customer's records."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intent.corpora import DEMO_CATALOGUE
from services.intent.entities import Catalogue, Entity, extract_entities

# A Wednesday.
NOW = dt.datetime(2024, 5, 15, 10, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(DEMO_CATALOGUE)


def pairs(text: str, catalogue: Catalogue | None = None, now: dt.datetime = NOW) -> list[tuple[str, str]]:
    return [(e.type, e.value) for e in extract_entities(text, now, catalogue)]


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("my order 12345 hasn't arrived", "12345"),
        ("Where is #A1B2C3?", "A1B2C3"),
        ("订单号 123456789 还没到", "123456789"),
        ("订单号：123456789", "123456789"),
        ("my order number is ORD-2024-889.", "ORD-2024-889"),
        ("order id: 3348917502", "3348917502"),
        ("Order No. 778899 was wrong", "778899"),
        ("我的订单 #12345 没到", "12345"),
        ("订单编号a1b2c3的物流不动了", "A1B2C3"),
        ("I have a question about ord-55521", "ORD-55521"),
        ("我的订单号是：7788990011", "7788990011"),
        ("订单号为: A12345", "A12345"),
        ("单号是 #998877", "998877"),
        ("我的order number是 88123456", "88123456"),
    ],
)
def test_finds_order_numbers_in_english_and_chinese(text, order):
    assert pairs(text) == [("order_number", order)]


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("call me on 138 1234 5678", "+8613812345678"),
        ("我的手机13812345678", "+8613812345678"),
        ("手机号是+86 139-1234-5678，谢谢", "+8613912345678"),
        ("0086 15012345678", "+8615012345678"),
        ("reach me at +1 415 555 2671", "+14155552671"),
        ("my number is +44 20 7946 0958.", "+442079460958"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(text, phone):
    assert pairs(text) == [("phone", phone)]


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("reach me on +33 6 12 34 56 78 tonight", "+33612345678"),
        ("whatsapp +49 1512 3456789", "+4915123456789"),
        ("phone is +91 98765 43210", "+919876543210"),
        ("座机021-64321234", "+862164321234"),
        ("Your hotline 1-800-555-0199 never answers", "+18005550199"),
    ],
)
def test_international_and_landline_numbers_are_found_by_their_numbering_plan(text, phone):
    assert ("phone", phone) in pairs(text)


@pytest.mark.parametrize("text", ["the code +1 000 000 0000 doesn't work", "my account id is 4000123412341234"])
def test_digits_no_numbering_plan_allows_are_not_phone_numbers(text):
    assert all(kind != "phone" for kind, _ in pairs(text))


def test_a_phone_number_is_not_also_an_order_number():
    entities = extract_entities("My phone is 13912345678 and my order is order 88776655", NOW, None)
    assert [(e.type, e.value) for e in entities] == [("phone", "+8613912345678"), ("order_number", "88776655")]


def test_eleven_digits_after_an_order_keyword_are_an_order_number():
    assert pairs("订单号13812345678的物流") == [("order_number", "13812345678")]


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("email me at John.Doe@Example.com.", "john.doe@example.com"),
        ("邮箱abc_123@qq.com谢谢", "abc_123@qq.com"),
        ("<li.wei+shop@mail.example.co.uk>", "li.wei+shop@mail.example.co.uk"),
    ],
)
def test_finds_email_addresses(text, email):
    assert pairs(text) == [("email", email)]


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("it cost $12.50", "12.50 USD"),
        ("I paid 12.50 USD", "12.50 USD"),
        ("charged ¥100 twice", "100.00 CNY"),
        ("付了100元", "100.00 CNY"),
        ("才100块", "100.00 CNY"),
        ("退我200块钱", "200.00 CNY"),
        ("RMB 100", "100.00 CNY"),
        ("人民币88", "88.00 CNY"),
        ("€5 shipping", "5.00 EUR"),
        ("it was 5 euros", "5.00 EUR"),
        ("a refund of $1,299.99", "1299.99 USD"),
        ("30 bucks for shipping?!", "30.00 USD"),
        ("£20", "20.00 GBP"),
        ("运费15美元", "15.00 USD"),
    ],
)
def test_amounts_carry_their_currency(text, amount):
    assert pairs(text) == [("amount", amount)]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("ordered on 2024-05-01", "2024-05-01"),
        ("delivered 5/1/2024", "2024-05-01"),
        ("since May 1", "2024-05-01"),
        ("on May 3rd, 2023", "2023-05-03"),
        ("the 2nd of April", "2024-04-02"),
        ("it came yesterday", "2024-05-14"),
        ("today", "2024-05-15"),
        ("can it arrive tomorrow?", "2024-05-16"),
        ("I ordered last Friday", "2024-05-10"),
        ("next Monday works", "2024-05-20"),
        ("三天前下的单", "2024-05-12"),
        ("3 days ago", "2024-05-12"),
        ("昨天买的", "2024-05-14"),
        ("今天能发货吗", "2024-05-15"),
        ("明天到吗", "2024-05-16"),
        ("前天下的单", "2024-05-13"),
        ("上周五付的款", "2024-05-10"),
        ("下周日送到", "2024-05-26"),
        ("3月5日下单", "2024-03-05"),
        ("2023年3月5日", "2023-03-05"),
        ("12月28号收到的", "2023-12-28"),
    ],
)
def test_dates_resolve_to_days_relative_to_when_the_message_was_sent(text, day):
    assert pairs(text) == [("date", day)]


def test_a_day_without_a_year_is_the_nearest_one_so_december_said_in_january_is_last_year():
    january = dt.datetime(2025, 1, 3, tzinfo=dt.UTC)
    assert pairs("12月28日下的单", now=january) == [("date", "2024-12-28")]
    assert pairs("arriving Jan 10", now=january) == [("date", "2025-01-10")]


def test_an_amounts_digits_are_not_also_a_date_or_an_order():
    assert pairs("I paid $12.50 on 5/1/2024 for order 99881") == [
        ("amount", "12.50 USD"),
        ("date", "2024-05-01"),
        ("order_number", "99881"),
    ]


def test_a_chinese_date_after_order_is_a_date_not_an_order_number():
    assert pairs("订单2024年3月5日下的") == [("date", "2024-03-05")]


@pytest.mark.parametrize(
    ("text", "product"),
    [
        ("I want Guess jeans", "guess-jeans"),
        ("do you have michael kors boots in size 9?", "michael-kors-boots"),
        ("the Tommy Hilfiger jackets are sold out", "tommy-hilfiger-jacket"),
        ("我想买Guess的牛仔裤", "guess-jeans"),
        ("CK衬衫有货吗", "calvin-klein-shirt"),
        ("迈克高仕靴子多少钱", "michael-kors-boots"),
        ("汤米·希尔费格夹克", "tommy-hilfiger-jacket"),
        ("Calvin Klein shirt", "calvin-klein-shirt"),
        ("盖尔斯的夹克质量太差了", "guess-jacket"),
        ("迈克高仕的靴子多少钱", "michael-kors-boots"),
        ("卡尔文·克莱恩的夹克衫", "calvin-klein-jacket"),
        ("汤米希尔费格的牛仔裤", "tommy-hilfiger-jeans"),
    ],
)
def test_products_are_matched_against_the_catalogue_in_both_languages(text, product, catalogue):
    assert pairs(text, catalogue) == [("product", product)]


def test_a_de_inside_a_chinese_name_splits_at_the_brand_the_catalogue_shows():
    """The brand is the beginning several of its products' names share; a 的 elsewhere is no name."""
    demo = Catalogue.load(DEMO_CATALOGUE)
    assert [e.text for e in extract_entities("盖尔斯的夹克衫", NOW, demo)] == ["盖尔斯的夹克衫"]
    assert pairs("盖尔的斯夹克", demo) == [] and pairs("我的靴子坏了", demo) == []


def test_longest_product_name_wins(catalogue):
    entities = extract_entities("盖尔斯靴子坏了", NOW, catalogue)
    assert [(e.type, e.text, e.value) for e in entities] == [("product", "盖尔斯靴子", "guess-boots")]


def test_no_products_without_a_catalogue():
    assert pairs("I want Guess jeans") == []


def test_every_entity_in_a_busy_message(catalogue):
    text = "我3月5日买的Guess牛仔裤（订单号 88776655）付了¥299，联系我13912345678或 li@example.com"
    entities = extract_entities(text, NOW, catalogue)
    assert [(e.type, e.value) for e in entities] == [
        ("date", "2024-03-05"),
        ("product", "guess-jeans"),
        ("order_number", "88776655"),
        ("amount", "299.00 CNY"),
        ("phone", "+8613912345678"),
        ("email", "li@example.com"),
    ]
    assert all(text[e.start : e.end] == e.text for e in entities)


@pytest.mark.parametrize(
    "text",
    [
        "Hello, how are you?",
        "I want to talk to a real person",
        "我想问一下退款政策",
        "你们的服务太差了，我要投诉",
        "I want to order 2 shirts",
        "I want to order 1000 shirts for my company",
        "Call 911",
        "I have 3 kids and 2 dogs",
        "version 1.2.3 of the app crashes",
        "the 2020 model",
        "what is my order number?",
        "my order hasn't arrived",
        "you may 2x check it",
        "之前天气很好",
        "元旦快乐",
        "price is 5/1",
        "C# developer",
        "我买了两件衬衫",
        "I paid with my credit card",
        "room 1204, building 3",
    ],
)
def test_plain_text_yields_no_entities(text, catalogue):
    assert extract_entities(text, NOW, catalogue) == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 -+#@.$¥元月日年号订单order:/ORDabcxyz我的")), max_size=60))
def test_spans_never_overlap_and_always_match_the_text(text):
    entities = extract_entities(text, NOW, None)
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
    for first, second in itertools.pairwise(entities):
        assert first.end <= second.start


def test_entities_are_immutable():
    entity = extract_entities("order 12345", NOW, None)[0]
    assert entity == Entity("order_number", "12345", "12345", 6, 11)
    with pytest.raises(AttributeError):
        entity.value = "x"  # type: ignore[misc]


def test_demo_catalogue_names_every_abcd_product_in_english_and_chinese(catalogue):
    assert len(catalogue.products) == 16
    for product in catalogue.products.values():
        assert product.names["en"] and product.names["zh"]


def test_a_broken_catalogue_file_says_what_to_fix(tmp_path):
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps({"products": [{"id": "x"}]}))
    with pytest.raises(ValueError, match="names"):
        Catalogue.load(path)
    with pytest.raises(FileNotFoundError, match="catalogue"):
        Catalogue.load(tmp_path / "missing.json")

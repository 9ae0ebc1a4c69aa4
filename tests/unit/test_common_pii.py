"""PII masking: what must be hidden from logs, prompts and summaries, and what must stay visible."""

from __future__ import annotations

import io
import json
import logging
import os
import pathlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.platform.pii import PiiMaskingFilter, cn_id_valid, find_pii, luhn_valid, mask_pii

SHARED_DATA = pathlib.Path(
    os.environ.get("CS_SHARED_DATA", pathlib.Path(__file__).resolve().parents[3] / "shared" / "data")
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("write to anna.lee+shop@example.co.uk please", "write to [EMAIL] please"),
        ("我的邮箱是 zhang_san@qq.com，谢谢", "我的邮箱是 [EMAIL]，谢谢"),
        ("my number is 13812345678", "my number is [PHONE]"),
        ("手机号：138 1234 5678", "手机号：[PHONE]"),
        ("call +86 138-1234-5678 after 6", "call [PHONE] after 6"),
        ("电话+8613912345678", "电话[PHONE]"),
        ("office: 010-62345678", "office: [PHONE]"),
        ("售后电话02062316680", "售后电话[PHONE]"),
        ("reach me at +44 20 7946 0958", "reach me at [PHONE]"),
        ("it's (977) 625-2661", "it's [PHONE]"),
        ("it's 977-625-2661", "it's [PHONE]"),
    ],
)
def test_masks_emails_and_phone_numbers_in_chinese_and_english(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "378282246310005"])
def test_masks_luhn_valid_card_numbers_with_or_without_separators(card: str) -> None:
    assert mask_pii(f"card {card} expires soon") == "card [CARD] expires soon"


def test_leaves_a_card_like_number_that_fails_the_luhn_check() -> None:
    assert mask_pii("ref 4111 1111 1111 1112") == "ref 4111 1111 1111 1112"


@pytest.mark.parametrize("cn_id", ["11010519491231002X", "11010519491231002x", "320106198503151236"])
def test_masks_chinese_resident_id_numbers_with_a_valid_checksum(cn_id: str) -> None:
    assert cn_id_valid(cn_id)
    assert mask_pii(f"身份证号{cn_id}，请核实") == "身份证号[CN_ID]，请核实"


@pytest.mark.parametrize(
    "not_an_id",
    [
        "110105194912310021",  # wrong check digit
        "110105194913310026",  # month 13
        "440524188001010014",  # born before 1900
    ],
)
def test_does_not_mask_18_digit_numbers_that_are_not_valid_ids(not_an_id: str) -> None:
    assert not cn_id_valid(not_an_id)
    assert not [m for m in find_pii(not_an_id) if m.kind == "CN_ID"]


def test_masks_ibans_and_ipv4_addresses() -> None:
    assert mask_pii("IBAN DE89 3704 0044 0532 0130 00 thanks") == "IBAN [IBAN] thanks"
    assert mask_pii("IBAN GB82WEST12345698765432") == "IBAN [IBAN]"
    assert mask_pii("IBAN GB82WEST12345698765433") == "IBAN GB82WEST12345698765433"
    assert mask_pii("login from 203.0.113.42 failed") == "login from [IP] failed"


@pytest.mark.parametrize(
    "text",
    [
        "Where is order ORD-20240115-0001?",
        "My order #12345678 hasn't arrived",
        "Order ID: 3348917502",
        "7916676427",
        "订单号：202401150001",
        "订单号13812345678一直没发货",
        "tracking number is 4111111111111111",
        "运单号 SF1234567890123",
        "JD13812345678 and SF4111111111111111 are shipment codes",
        "I ordered on 2024-01-15 at 10:30",
        "delivered 15/01/2024, charged 12.50 USD",
        "2024年1月15日下的单，付了¥1,299.00",
        "between 20240115 and 20240120",
        "version 2.3.1 of the app",
    ],
)
def test_order_numbers_dates_and_amounts_are_never_masked(text: str) -> None:
    assert mask_pii(text) == text


def test_spans_point_at_the_matched_text_in_order() -> None:
    text = "mail a@b.io or call 13812345678"
    found = find_pii(text)
    assert [m.kind for m in found] == ["EMAIL", "PHONE"]
    assert all(text[m.start : m.end] == m.text for m in found)


def test_abcd_customer_turns_lose_their_contact_data_but_keep_order_ids() -> None:
    path = SHARED_DATA / "abcd" / "abcd_sample.json"
    if not path.exists():
        pytest.skip(f"{path} missing: set CS_SHARED_DATA to the shared data folder")
    checked_contacts = checked_orders = 0
    for convo in json.loads(path.read_text()):
        personal, order = convo["scenario"]["personal"], convo["scenario"]["order"]
        for author, text in convo["original"]:
            if author != "customer":
                continue
            masked = mask_pii(text)
            for key in ("email", "phone"):
                if personal.get(key) and personal[key] in text:
                    assert personal[key] not in masked
                    checked_contacts += 1
            if order.get("order_id") and order["order_id"] in text:
                assert order["order_id"] in masked
                checked_orders += 1
    assert checked_contacts >= 3 and checked_orders >= 2


@given(st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), max_size=80))
def test_masking_twice_changes_nothing_more(text: str) -> None:
    once = mask_pii(text)
    assert mask_pii(once) == once


@given(
    st.lists(st.integers(0, 9), min_size=14, max_size=14), st.sampled_from(["4", "5"]), st.sampled_from(["", " ", "-"])
)
def test_any_luhn_valid_16_digit_card_is_masked(body: list[int], first: str, sep: str) -> None:
    partial = first + "".join(map(str, body))
    check = next(str(d) for d in range(10) if luhn_valid(partial + str(d)))
    digits = partial + check
    card = sep.join(digits[i : i + 4] for i in range(0, 16, 4))
    assert mask_pii(f"pay with {card} now") == "pay with [CARD] now"


def _logged(logger_name: str, emit: Callable[[logging.Logger], None]) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(PiiMaskingFilter())
    handler.setFormatter(logging.Formatter("%(message)s|%(customer)s"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_log_filter_masks_message_arguments_and_extra_fields() -> None:
    out = _logged(
        "test.pii.filter",
        lambda log: log.warning(
            "customer %s wrote from %s about order %s",
            "anna@example.com",
            13812345678,
            "ORD-5512",
            extra={"customer": "zhang 13912345678"},
        ),
    )
    assert "anna@example.com" not in out and "13812345678" not in out and "13912345678" not in out
    assert out.strip() == "customer [EMAIL] wrote from [PHONE] about order ORD-5512|zhang [PHONE]"


def test_log_filter_keeps_records_whose_arguments_do_not_fit_the_message() -> None:
    out = _logged("test.pii.badargs", lambda log: log.warning("only %d here", "a@b.io", extra={"customer": "-"}))
    assert "[EMAIL]" in out and "a@b.io" not in out

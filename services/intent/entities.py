"""Entities in a customer message: order numbers, contact data, amounts, dates and products.

Rules, not a model: the entities that matter in customer service have strict shapes (an order
number, a phone number, an e-mail address) or come from the tenant's own catalogue, and the
generator must be able to trust them (it looks orders up and masks contact data). No Chinese NER
model with shipped weights exists here either.

Phone numbers are found and validated by `phonenumbers` (Google's libphonenumber): every country's
numbering plan, so "+33 6 12 34 56 78" or "+49 1512 3456789" is a phone number and "+1 000 000
0000" or a 16-digit account id is not. Numbers written without a country code are read as
`HOME_REGION`'s (China: "13812345678", "010-62345678"), except in North American grouping
("1-800-555-0199", "(415) 555-2671"). Measured against the regular expressions it replaced on
bench/data/entity_library_cases.jsonl and data/entities_test.jsonl (bench/eval_entities.py):
phone F1 89.5 -> 97.4 and 90.9 -> 95.7 %, with the matcher's own default leniency (VALID: a number
must be one its country's plan allows), so nothing was tuned on those cases.

Every extractor proposes candidate spans; one pass then keeps the strongest non-overlapping ones,
so a phone number is never also an order number and an amount's digits are never also a date.
Strength is the kind of evidence first (an explicit "order number" or "订单号" beats the shape of a
phone number, which beats a bare amount or date), then the longer span.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher

from services.intent.catalogue import Catalogue
from services.intent.dates import find_dates

__all__ = ["Catalogue", "Entity", "extract_entities"]


@dataclass(frozen=True)
class Entity:
    """A span of the message and its normalised value (E.164 phone, ISO date, "12.50 USD", product id)."""

    type: str
    text: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class _Candidate:
    type: str
    start: int
    end: int
    value: str
    strength: int


# Strength of evidence, strongest first.
_EMAIL, _ORDER_EXPLICIT, _PHONE, _AMOUNT, _DATE, _PRODUCT, _ORDER_SHAPE = range(7)

# Latin word edges that also hold next to Chinese characters (which `\b` counts as word characters).
_L = r"(?<![A-Za-z0-9])"
_R = r"(?![A-Za-z0-9])"

_EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z])"
)

# An id is taken whole or not at all: "订单2024年" must not yield "202" by backtracking, and a
# number followed by a unit (年, 元, 件, ...) is a date, amount or count, not an id.
_ID = r"#?\s*([A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)(?![A-Za-z0-9\-])(?![年月日号元块天个件条双])"
# "order number is ORD-2024-889", "order no. 123", "order id: 3348917502", "order #A1B2", and mixed
# with Chinese: "order number是 88123456"
_ORDER_MARKED_EN = re.compile(
    _L + r"order\s*(?:number|num|no\.?|nr\.?|id|ref(?:erence)?|#)\s*(?:is|was|是|为)?\s*[:：=]?\s*" + _ID, re.IGNORECASE
)
# "order 12345", "my order A1B2C3 hasn't arrived": a bare "order" needs a longer id with a digit, so
# "order 1000 shirts" stays a quantity.
_ORDER_BARE_EN = re.compile(_L + r"order\s*#?\s*([A-Za-z0-9]*\d[A-Za-z0-9\-]*)" + _R, re.IGNORECASE)
# "订单号 123", "订单号：123", "订单号是123", and both together: "订单号是：123"
_ORDER_ZH = re.compile(r"(?:订单|单号|订单号|订单编号|订单号码)\s*(?:是|为)?\s*[：:]?\s*" + _ID)
_ORDER_HASH = re.compile(r"(?<![\w&])#([A-Za-z0-9][A-Za-z0-9\-]{2,})" + _R)
_ORDER_PREFIXED = re.compile(_L + r"((?:ORD|ORDER|SO|PO)[-_#]?\d[A-Za-z0-9\-]{2,})" + _R, re.IGNORECASE)

# Where a number written without a country code is from.
HOME_REGION = "CN"
# North American grouping ("1-800-555-0199", "(415) 555-2671"): such a number is American, not Chinese.
_NANP_GROUPING = re.compile(r"^(?:\+?1[\s.\-])?\(?\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}$")

_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_CURRENCY_BEFORE = {
    "US$": "USD",
    "USD": "USD",
    "$": "USD",
    "€": "EUR",
    "EUR": "EUR",
    "£": "GBP",
    "GBP": "GBP",
    "¥": "CNY",
    "￥": "CNY",
    "RMB": "CNY",
    "CNY": "CNY",
    "人民币": "CNY",
    "HK$": "HKD",
    "HKD": "HKD",
}
_CURRENCY_AFTER = {
    "usd": "USD",
    "dollars": "USD",
    "dollar": "USD",
    "bucks": "USD",
    "美元": "USD",
    "美金": "USD",
    "eur": "EUR",
    "euros": "EUR",
    "euro": "EUR",
    "€": "EUR",
    "欧元": "EUR",
    "gbp": "GBP",
    "pounds": "GBP",
    "pound": "GBP",
    "英镑": "GBP",
    "cny": "CNY",
    "rmb": "CNY",
    "yuan": "CNY",
    "元": "CNY",
    "块钱": "CNY",
    "块": "CNY",
    "人民币": "CNY",
    "hkd": "HKD",
    "港币": "HKD",
    "港元": "HKD",
}


def _alternation(words: dict[str, str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_AMOUNT_BEFORE = re.compile(rf"(?<![A-Za-z0-9])({_alternation(_CURRENCY_BEFORE)})\s?{_NUMBER}(?![\d.,]?\d)", re.I)
# A Latin currency word must end there ("5 euros", not "5 eurostars"); 元旦 is New Year's Day,
# 块 followed by a measure word is a piece count.
_AMOUNT_AFTER = re.compile(rf"(?<![\d.,]){_NUMBER}\s?({_alternation(_CURRENCY_AFTER)})(?![A-Za-z])(?!旦)", re.I)


def _order_value(raw: str) -> str:
    return raw.upper()


def _order_candidates(text: str) -> Iterator[_Candidate]:
    for pattern, strength, min_length in (
        (_ORDER_MARKED_EN, _ORDER_EXPLICIT, 3),
        (_ORDER_ZH, _ORDER_EXPLICIT, 3),
        (_ORDER_BARE_EN, _ORDER_EXPLICIT, 5),
        (_ORDER_HASH, _ORDER_EXPLICIT, 3),
        (_ORDER_PREFIXED, _ORDER_SHAPE, 5),
    ):
        for m in pattern.finditer(text):
            raw = m[1]
            if len(raw) >= min_length and any(c.isdigit() for c in raw):
                yield _Candidate("order_number", m.start(1), m.end(1), _order_value(raw), strength)


def _phone_candidates(text: str) -> Iterator[_Candidate]:
    for m in PhoneNumberMatcher(text, HOME_REGION, leniency=Leniency.VALID):
        number = m.number
        if _NANP_GROUPING.match(m.raw_string) and not m.raw_string.startswith("+"):
            american = phonenumbers.parse(m.raw_string, "US")
            number = american if phonenumbers.is_valid_number(american) else number
        yield _Candidate("phone", m.start, m.end, phonenumbers.format_number(number, PhoneNumberFormat.E164), _PHONE)


def _amount_value(number: str, currency: str) -> str | None:
    try:
        amount = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    return f"{amount:.2f} {currency}"


def _amount_candidates(text: str) -> Iterator[_Candidate]:
    lookup_before = {k.lower(): v for k, v in _CURRENCY_BEFORE.items()}
    for m in _AMOUNT_BEFORE.finditer(text):
        value = _amount_value(m[2], lookup_before[m[1].lower()])
        if value:
            yield _Candidate("amount", m.start(), m.end(), value, _AMOUNT)
    for m in _AMOUNT_AFTER.finditer(text):
        value = _amount_value(m[1], _CURRENCY_AFTER[m[2].lower()])
        if value:
            yield _Candidate("amount", m.start(), m.end(), value, _AMOUNT)


def _candidates(text: str, today: dt.date, catalogue: Catalogue | None) -> Iterator[_Candidate]:
    for m in _EMAIL_RE.finditer(text):
        yield _Candidate("email", m.start(), m.end(), m[0].lower(), _EMAIL)
    yield from _order_candidates(text)
    yield from _phone_candidates(text)
    yield from _amount_candidates(text)
    for start, end, day in find_dates(text, today):
        yield _Candidate("date", start, end, day.isoformat(), _DATE)
    if catalogue is not None:
        for start, end, product_id in catalogue.find(text):
            yield _Candidate("product", start, end, product_id, _PRODUCT)


def extract_entities(text: str, now: dt.datetime, catalogue: Catalogue | None = None) -> list[Entity]:
    """Entities in `text`, in reading order, with no two spans overlapping.

    `now` is when the customer sent the message (relative dates resolve against it); `catalogue`
    is the tenant's product list, or None when the tenant has none (no product entities then).
    """
    taken: list[_Candidate] = []
    ranked = sorted(_candidates(text, now.date(), catalogue), key=lambda c: (c.strength, c.start - c.end, c.start))
    for cand in ranked:
        if all(cand.end <= t.start or cand.start >= t.end for t in taken):
            taken.append(cand)
    taken.sort(key=lambda c: c.start)
    return [Entity(c.type, text[c.start : c.end], c.value, c.start, c.end) for c in taken]

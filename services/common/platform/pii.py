"""Find and mask customer PII before text reaches logs, the LLM prompt or an agent summary.

Why rule-based: the patterns below are checkable (Luhn, ID checksum, IBAN mod-97), fast enough
for every log record, and behave identically in every service. Each detector trades recall
for precision where the two collide with things support staff need: order numbers, tracking
numbers, dates and amounts are never masked.

What is masked, and as what:

- ``[EMAIL]``  e-mail addresses.
- ``[PHONE]``  Chinese mobiles (``1[3-9]`` + 9 digits, optionally ``+86``/``0086``, spaces or
  dashes between 3-4-4 groups); Chinese landlines with area code (``010-12345678``);
  international numbers written with a leading ``+`` (8 to 15 digits); North-American numbers
  written with separators (``(977) 625-2661``, ``555-123-4567``). A bare run of digits is only a
  phone when it is a Chinese mobile: bare 10-digit strings are usually order numbers.
- ``[CARD]``   payment card numbers: 13 to 19 digits, optionally grouped by spaces or dashes,
  starting with 2-6 (the card networks' ranges) and passing the Luhn check.
- ``[CN_ID]``  Chinese resident ID numbers: 18 characters, valid area-code start, real birth
  date, and the ISO 7064 MOD 11-2 check character (digit or ``X``).
- ``[IBAN]``   IBAN-like account numbers that pass the mod-97 check.
- ``[IP]``     IPv4 addresses.

A digit run that follows an order, tracking, invoice or reference label ("order #", "Order ID:",
"订单号", "运单号", ...) is never masked, whatever it looks like: the number is needed to help the
customer, and it is not PII.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

EMAIL = "EMAIL"
PHONE = "PHONE"
CARD = "CARD"
CN_ID = "CN_ID"
IBAN = "IBAN"
IP = "IP"
KINDS = (EMAIL, PHONE, CARD, CN_ID, IBAN, IP)
PLACEHOLDER_RE = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")  # what mask_pii leaves in a text


@dataclass(frozen=True)
class PiiMatch:
    kind: str
    start: int
    end: int
    text: str

    @property
    def placeholder(self) -> str:
        return f"[{self.kind}]"


_EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])")
_CN_ID_RE = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[0-9Xx](?![0-9A-Za-z])")
_CARD_RE = re.compile(r"(?<![A-Za-z0-9-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![A-Za-z0-9-])")
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_IPV4_RE = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
)
_PHONE_RES = (
    # Chinese mobile, optional country code, optional 3-4-4 separators.
    re.compile(r"(?<![A-Za-z0-9+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?![A-Za-z0-9])"),
    # Chinese landline with area code: 010-12345678, 0755-1234567, (021) 12345678, 02062316680.
    re.compile(r"(?<![\d-])(?:0\d{2,3}-|\(0\d{2,3}\) ?)\d{7,8}(?![\d-])"),
    re.compile(r"(?<![A-Za-z0-9-])0[1-9]\d{9,10}(?![A-Za-z0-9-])"),
    # International, written with a leading "+"; digit count checked afterwards.
    re.compile(r"(?<![\w+])\+\d[\d ()-]{6,20}\d(?!\d)"),
    # North American, only with separators: (977) 625-2661, 977-625-2661, 977.625.2661.
    re.compile(r"(?<![\d-])(?:\(\d{3}\) ?|\d{3}[-.])\d{3}[-.]\d{4}(?![\d-])"),
)
# A label right before a number marks it as an order/tracking/invoice/reference number.
_ORDER_CONTEXT_RE = re.compile(
    r"(?:(?<![a-z])(?:order|tracking|invoice|reference|ref|shipment|parcel|ticket|case)|"
    r"订单|单号|运单|快递|物流|发票|工单)"
    r"\s*(?:no\.?|num(?:ber)?|id|#|号|编号|号码)?\s*(?:is|为|是)?\s*[:：#]?\s*$",
    re.IGNORECASE,
)
_ORDER_CONTEXT_WINDOW = 24

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    """True when the digits of `number` pass the Luhn checksum used by payment cards."""
    digits = _digits(number)
    if not digits:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def cn_id_valid(number: str) -> bool:
    """True for an 18-character Chinese resident ID with a real birth date and a valid check character."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= birth <= dt.date.today():
        return False
    expected = _CN_ID_CHECK[sum(int(d) * w for d, w in zip(number[:17], _CN_ID_WEIGHTS)) % 11]
    return number[17].upper() == expected


def iban_valid(candidate: str) -> bool:
    """True when `candidate` (spaces allowed) passes the IBAN mod-97 check."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    as_number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(as_number) % 97 == 1


def _after_order_label(text: str, start: int) -> bool:
    return bool(_ORDER_CONTEXT_RE.search(text[max(0, start - _ORDER_CONTEXT_WINDOW) : start]))


def _candidates(text: str) -> list[PiiMatch]:
    """Every validated candidate, in detector priority order (earlier wins an overlap)."""
    found: list[PiiMatch] = []

    def add(kind: str, m: re.Match[str]) -> None:
        found.append(PiiMatch(kind, m.start(), m.end(), m.group()))

    for m in _EMAIL_RE.finditer(text):
        add(EMAIL, m)
    for m in _CN_ID_RE.finditer(text):
        if cn_id_valid(m.group()):
            add(CN_ID, m)
    for m in _IBAN_RE.finditer(text):
        if iban_valid(m.group()):
            add(IBAN, m)
    for m in _CARD_RE.finditer(text):
        if 13 <= len(_digits(m.group())) <= 19 and luhn_valid(m.group()):
            add(CARD, m)
    for pattern in _PHONE_RES:
        for m in pattern.finditer(text):
            if 7 <= len(_digits(m.group())) <= 15:
                add(PHONE, m)
    for m in _IPV4_RE.finditer(text):
        add(IP, m)
    return found


def find_pii(text: str) -> list[PiiMatch]:
    """PII spans in `text`, sorted by position, never overlapping; order numbers are left out."""
    chosen: list[PiiMatch] = []
    for cand in _candidates(text):
        if cand.kind != EMAIL and _after_order_label(text, cand.start):
            continue
        if any(cand.start < c.end and c.start < cand.end for c in chosen):
            continue
        chosen.append(cand)
    return sorted(chosen, key=lambda c: c.start)


def mask_pii(text: str) -> str:
    """`text` with every PII span replaced by its typed placeholder, e.g. "[EMAIL]"."""
    if not text:
        return text
    parts: list[str] = []
    last = 0
    for match in find_pii(text):
        parts.append(text[last : match.start])
        parts.append(match.placeholder)
        last = match.end
    parts.append(text[last:])
    return "".join(parts)


_RECORD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class PiiMaskingFilter(logging.Filter):
    """Masks PII in a log record's message, its arguments and any string `extra=` fields.

    The message is rendered with its arguments first and the result masked, so an argument of any
    type (an int phone number, an object whose str() holds an e-mail) is covered. The filter never
    drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            rendered = record.getMessage()
        except (TypeError, ValueError):
            rendered = " ".join([str(record.msg), *map(str, record.args or ())])
        record.msg = mask_pii(rendered)
        record.args = None
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_") and isinstance(value, str):
                setattr(record, key, mask_pii(value))
        return True

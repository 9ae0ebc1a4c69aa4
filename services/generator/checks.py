"""Checks a generated answer before a customer sees it, and cleans what can be cleaned.

A small model answers in the wrong language, refuses ordinary questions, rambles past its token
budget, leaks chat-template tags and markdown, and sometimes promises what only a human may promise.
`check_answer` cleans what is cosmetic and reports what is not; the worker sends `fallback_reply`
(or escalates) when `ok` is False.

Cleaning (never a problem by itself):
- chat-template tokens (``<|im_end|>``, ``[INST]``, ...) and a leading role tag ("Assistant:",
  "客服：") are removed; a line that starts a new turn ("User:", "Customer:", "用户：") ends the answer,
  since the model has begun writing the customer's part;
- markdown: code fences unwrapped, ``**``/``__``/backticks and heading marks removed, links become
  "text (url)", "*" bullets become "-";
- whitespace collapsed; when the caller says generation was cut off at the token limit, the
  unfinished last sentence is dropped; an answer longer than the language's limit is trimmed at the
  last sentence end that fits;
- PII is masked, and also reported (below).

Problems (any one makes ``ok`` False):
- ``empty``: nothing readable left;
- ``wrong_language``: in a language written in Han characters ("zh"), Han characters under
  ``min_script_share`` of Han characters + Latin words, or in one written in Latin words ("en"),
  Latin words under that share of Latin words + Han runs; or any whole sentence in the other script
  (languages the platform does not serve are not checked);
- ``pii``: e-mail, phone, card, ID, IBAN or IP in the answer (except ``allowed_contacts``);
- ``forbidden_promise``: a sentence naming a refund/compensation together with an amount or a
  percentage, or a guarantee/promise ("we can't guarantee" is fine);
- ``legal_advice``: telling the customer what the law entitles them to or how to take legal action;
- ``refusal``: assistant boilerplate ("As an AI language model", "Sorry, but I can't assist with that");
- ``echo``: the answer only repeats the question;
- ``template_placeholder``: unfilled slots such as "[Your Name]" or "{{Order Number}}";
- ``code``: program code, which a customer-service answer never needs;
- ``staff_voice``: the answer talks about "the customer" instead of to them, which is the model
  retelling a staff guideline ("The customer wants to change the phone number on their account.").

The words and phrases behind these checks are each language's ``checks.patterns`` lists
(services/common/locales), joined into one expression for all languages, since a small model mixes
languages; the character classes of the scripts and the punctuation stay here.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from services.common import locales
from services.common.platform.pii import find_pii
from services.generator.policy import text_similarity

EMPTY = "empty"
WRONG_LANGUAGE = "wrong_language"
PII = "pii"
FORBIDDEN_PROMISE = "forbidden_promise"
LEGAL_ADVICE = "legal_advice"
REFUSAL = "refusal"
ECHO = "echo"
TEMPLATE_PLACEHOLDER = "template_placeholder"
CODE = "code"
STAFF_VOICE = "staff_voice"


@dataclass(frozen=True)
class AnswerLimits:
    """Tunable limits of the answer checks.

    max_chars_<language>: longest answer sent, per language (a chat bubble, not an essay); a
    language without a field of its own gets max_chars_en.
    min_script_share: how much of the text must be in the expected script.
    allowed_contacts: the company's own phone numbers / e-mail addresses, which answers may quote.
    echo_similarity: similarity to the question at which an answer counts as an echo.
    """

    max_chars_en: int = 600
    max_chars_zh: int = 300
    min_script_share: float = 0.6
    allowed_contacts: tuple[str, ...] = ()
    echo_similarity: float = 0.9

    def max_chars(self, language: str) -> int:
        return getattr(self, f"max_chars_{language}", self.max_chars_en)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    problems: tuple[str, ...]
    cleaned_text: str


_SPECIAL_TOKENS_RE = re.compile(
    r"<\|im_start\|>\s*(?:assistant|user|system)?\s*|<\|[a-z_]+\|>|</?s>|\[/?INST\]|<<\/?SYS>>|<\/?(?:assistant|user|system)>",
    re.I,
)


def _alternatives(name: str, *common: str) -> str:
    """`common` and every language's `checks.patterns.<name>` alternatives, as one regular expression."""
    alternatives = (*common, *locales.all_cues(f"checks.patterns.{name}"))
    if not alternatives:
        raise ValueError(f"no language file lists checks.patterns.{name}; an empty pattern would match everything")
    return "|".join(alternatives)


_LEADING_ROLE_RE = re.compile(r"^\s*(?:" + _alternatives("role_tags") + r")\s*[:：]\s*", re.I)
_NEXT_TURN_RE = re.compile(r"^\s*(?:" + _alternatives("next_turn_tags") + r")\s*[:：]", re.I | re.M)
_FENCE_RE = re.compile(r"```[a-zA-Z0-9_+-]*\n?(.*?)```", re.S)
_CODE_LINE_RE = re.compile(
    r"^\s*(?:def |class \w|import \w|from \w[\w.]* import|function\s*\w*\(|const |let |var |public |"
    r"#include|console\.log|print\(|return\b|SELECT |<\?php|\}\s*$|.*;\s*$)",
    re.M,
)
_LINK_RE = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s*", re.M)
_BULLET_RE = re.compile(r"^(\s*)[*+]\s+", re.M)
_QUOTE_RE = re.compile(r"^\s*>\s?", re.M)

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’-]*")
# A sentence ends at . ! ? followed by a space or the end, or at a CJK terminator, plus closing quotes.
_SENTENCE_END_RE = re.compile(r"(?:[.!?…]+[\"'”’)）」]*(?=\s|$)|[。！？]+[\"'”’)）」]*)")
_LIST_MARKER_RE = re.compile(r"(?:\d{1,2}|[a-zA-Z])[.)]")

_MONEY_WORDS_RE = re.compile(_alternatives("money_words"), re.I)
_CURRENCY_CODE = r"(?:usd|eur|gbp|rmb|cny)"
# A number with a unit ("5%", "5 usd", "5 dollars"), a currency sign or code before a number, or an
# amount word of its own ("百分之").
_AMOUNT_RE = re.compile(
    r"\d+(?:[.,]\d+)?\s*(?:"
    + _alternatives("amount_units", "%", "％", _CURRENCY_CODE + r"\b")
    + ")|"
    + _alternatives("amount_words", r"[$€£¥￥]\s*\d", _CURRENCY_CODE + r"\s*\d"),
    re.I,
)
_GUARANTEE_RE = re.compile(_alternatives("guarantee"), re.I)
# "We can't guarantee ..." is the careful answer, not a promise.
_NEGATION_BEFORE_RE = re.compile(r"(?:" + _alternatives("negation_before") + r")$", re.I)
_LEGAL_ADVICE_RE = re.compile(_alternatives("legal_advice"), re.I)
_REFUSAL_RE = re.compile(_alternatives("refusal"), re.I)
_STAFF_VOICE_RE = re.compile(_alternatives("staff_voice"), re.I)
_PLACEHOLDER_RE = re.compile(
    r"\[(?:" + _alternatives("placeholder_words") + r")[^\]\n]{0,30}\]|\{\{[^{}\n]{1,40}\}\}|<insert[^>]*>",
    re.I,
)


def _unwrap_fences(text: str) -> tuple[str, bool]:
    """Text with code fences unwrapped, and whether any fenced block looked like code."""
    blocks = _FENCE_RE.findall(text)
    looks_like_code = any(_CODE_LINE_RE.search(block) for block in blocks)
    return _FENCE_RE.sub(lambda m: m.group(1), text).replace("```", ""), looks_like_code


def clean_answer(answer: str) -> tuple[str, bool]:
    """Cosmetic cleaning (template tags, role tags, the model's next turn, markdown, whitespace).

    Returns the cleaned text and whether program code was found in it.
    """
    text = unicodedata.normalize("NFC", answer).replace("\r\n", "\n")
    text = _SPECIAL_TOKENS_RE.sub("", text)
    text = _LEADING_ROLE_RE.sub("", text)
    next_turn = _NEXT_TURN_RE.search(text)
    if next_turn and text[: next_turn.start()].strip():
        text = text[: next_turn.start()]
    text, fenced_code = _unwrap_fences(text)
    has_code = fenced_code or len(_CODE_LINE_RE.findall(text)) >= 2
    text = _LINK_RE.sub(r"\1 (\2)", text)
    text = _HEADING_RE.sub("", text)
    text = _QUOTE_RE.sub("", text)
    text = _BULLET_RE.sub(r"\1- ", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n[ \n]*", "\n", text)
    return text.strip(), has_code


def _sentence_ends(text: str) -> list[int]:
    """Where sentences end; the "5." that opens a numbered list item is not one."""
    ends = []
    for m in _SENTENCE_END_RE.finditer(text):
        line = text[text.rfind("\n", 0, m.start()) + 1 : m.end()].strip()
        if not _LIST_MARKER_RE.fullmatch(line):
            ends.append(m.end())
    return ends


def _drop_unfinished_sentence(text: str) -> str:
    ends = _sentence_ends(text)
    if not ends or ends[-1] >= len(text.rstrip()):
        return text
    return text[: ends[-1]].rstrip()


def _trim(text: str, max_chars: int, han: bool) -> str:
    """At most `max_chars`, cut at a sentence end when one fits, else at a word (Latin script) with an ellipsis."""
    if len(text) <= max_chars:
        return text
    ends = [end for end in _sentence_ends(text) if end <= max_chars]
    if ends:
        return text[: ends[-1]].rstrip()
    cut = text[: max_chars - 1]
    if not han and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,，;；:：") + "…"


def _script_share(text: str, han: bool) -> float | None:
    """Share of the expected script (Han characters or Latin words), or None when the text has no letters at all."""
    latin_words = len(_LATIN_WORD_RE.findall(text))
    if han:
        han_chars = len(_HAN_RE.findall(text))
        return han_chars / (han_chars + latin_words) if han_chars + latin_words else None
    han_runs = len(_HAN_RUN_RE.findall(text))
    return latin_words / (latin_words + han_runs) if latin_words + han_runs else None


def _has_foreign_sentence(sentences: list[str], han: bool) -> bool:
    """A whole sentence in the other script: 3+ Latin words outnumbering Han characters in a Han-script
    answer, or 4+ Han characters outnumbering Latin words in a Latin-script one (a quoted product name
    is fine)."""
    for sentence in sentences:
        latin_words = len(_LATIN_WORD_RE.findall(sentence))
        han_chars = len(_HAN_RE.findall(sentence))
        if (han and latin_words >= 3 and latin_words > han_chars) or (
            not han and han_chars >= 4 and han_chars > latin_words
        ):
            return True
    return False


def _contact_key(text: str) -> str:
    return re.sub(r"[^0-9a-z@.]", "", text.lower())


def check_answer(
    answer: str,
    language: str,
    question: str = "",
    *,
    cut_off: bool = False,
    limits: AnswerLimits | None = None,
    policy_text: str = "",
) -> CheckResult:
    """Clean `answer` and list what is wrong with it for a customer who wrote `question` in `language`.

    Set `cut_off` when generation stopped at the token limit: the unfinished last sentence is dropped.
    `policy_text` is the knowledge the answer was grounded in: a refund amount it states is the
    policy, not a promise of the bot's own.
    """
    limits = limits or AnswerLimits()
    served = locales.language_of(language)
    lang = served or locales.FALLBACK_LANGUAGE
    han = locales.text(lang, "script") == "han"
    text, has_code = clean_answer(answer)
    if cut_off:
        text = _drop_unfinished_sentence(text)
    text = _trim(text, limits.max_chars(lang), han)

    problems: list[str] = []
    share = _script_share(text, han)
    if share is None:
        problems.append(EMPTY)
    elif served is not None and (share < limits.min_script_share or _has_foreign_sentence(sentences(text), han)):
        problems.append(WRONG_LANGUAGE)

    allowed = {_contact_key(c) for c in limits.allowed_contacts}
    leaks = [m for m in find_pii(text) if _contact_key(m.text) not in allowed]
    if leaks:
        problems.append(PII)
        for match in sorted(leaks, key=lambda m: m.start, reverse=True):
            text = text[: match.start] + match.placeholder + text[match.end :]

    if any(_unbacked_amount(s, policy_text) for s in sentences(text)) or _promises(text):
        problems.append(FORBIDDEN_PROMISE)
    if _LEGAL_ADVICE_RE.search(text):
        problems.append(LEGAL_ADVICE)
    if _REFUSAL_RE.search(text.replace("’", "'")):
        problems.append(REFUSAL)
    if (
        question.strip()
        and text
        and text_similarity(_without_pronouns(text), _without_pronouns(question)) >= limits.echo_similarity
    ):
        problems.append(ECHO)
    if _PLACEHOLDER_RE.search(text):
        problems.append(TEMPLATE_PLACEHOLDER)
    if has_code:
        problems.append(CODE)
    if in_staff_voice(text):
        problems.append(STAFF_VOICE)
    return CheckResult(ok=not problems, problems=tuple(problems), cleaned_text=text)


# Person words an echo swaps ("你们的网站很慢" -> "您，我们网站很慢", "my order" -> "your order"):
# the answer-checks compare the question and the answer without them.
_PRONOUN_RE = re.compile(_alternatives("pronouns"), re.I)


def _without_pronouns(text: str) -> str:
    return _PRONOUN_RE.sub("", text)


def _unbacked_amount(sentence: str, policy_text: str) -> bool:
    """A refund/compensation sentence with an amount that the policy text does not state."""
    if not _MONEY_WORDS_RE.search(sentence):
        return False
    backed = numbers_in(policy_text)
    return any(not numbers_in(m.group(0)) <= backed for m in _AMOUNT_RE.finditer(sentence))


_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")


def in_staff_voice(text: str) -> bool:
    """Whether the text talks about "the customer" instead of to them (a staff guideline retold)."""
    return _STAFF_VOICE_RE.search(text) is not None


def numbers_in(text: str) -> set[float]:
    """The numbers written in digits ("$8.00" and "8" are the same number; "1,200" is 1200)."""
    out = set()
    for raw in _NUMBER_RE.findall(text):
        decimal = re.fullmatch(r"\d+[.,]\d{1,2}", raw)
        out.add(float(raw.replace(",", ".")) if decimal else float(re.sub(r"[.,]", "", raw)))
    return out


def _promises(text: str) -> bool:
    return any(
        not _NEGATION_BEFORE_RE.search(text[max(0, m.start() - 24) : m.start()].replace("’", "'"))
        for m in _GUARANTEE_RE.finditer(text)
    )


def sentences(text: str) -> list[str]:
    """The sentences of a text (English and Chinese terminators), each with its end mark."""
    parts, start = [], 0
    for m in _SENTENCE_END_RE.finditer(text):
        parts.append(text[start : m.end()])
        start = m.end()
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def fallback_reply(language: str) -> str:
    """The safe reply sent when a generated answer fails its checks; it offers the way to a human."""
    return locales.text(language, "checks.fallback")

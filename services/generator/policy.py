"""Routing policy: should the bot answer this customer message, stay silent, or hand it to a human?

The policy is plain rules over what the intent and sentiment workers already computed, so an
operator can read, predict and tune it (every threshold is a `PolicyConfig` field with a
`CS_POLICY_*` variable). Every rule that applies is reported, not only the first, so agents and
dashboards see the whole picture.

Rules, in the order they are checked:

1. Silence. While the conversation is ``queued`` or owned by an ``agent`` the bot says nothing:
   action ``silent``, no queue, no reasons. ``bot``, ``resolved`` (a new message reopens it) and an
   unknown/empty state go on to the rules below.
2. HUMAN_REQUESTED. The intent is one of ``human_intents`` (``contact_human_agent``) with confidence
   at least ``low_confidence_threshold`` and not out of scope, or the text contains a human cue
   ("real person", "human", "agent", "人工", "真人", "转人工", "客服人员", ...). Phrases in
   ``cue_exclusions`` ("人工智能", "human resources", ...) are removed first so they do not count.
   The built-in cue lists of rules 2, 5 and 6 are every language's, from services/common/locales.
3. ANGER. ``anger >= anger_threshold`` (0.75).
4. WORSENING_SENTIMENT. The trend is ``worsening``, its slope is at most ``-worsening_slope`` (score
   lost per turn) and the current score is below ``worsening_max_score`` (a conversation that goes
   from delighted to merely pleased is not a problem).
5. COMPLAINT. A confident intent in ``complaint_intents`` (``complaint``) or a complaint cue in the
   text ("complaint", "投诉", ...).
6. LEGAL. A confident intent in ``legal_intents`` (none by default: the Bitext label set has no legal
   intent) or a legal cue in the text ("lawyer", "sue", "court", "律师", "起诉", "法院", "消费者协会",
   "12315", ...).
7. OUT_OF_SCOPE / LOW_CONFIDENCE. The last ``not_understood_turns`` (2) customer messages in a row,
   this one included, were not understood: out of scope (flag set or label ``out_of_scope``) or
   intent confidence under ``low_confidence_threshold`` (0.5). Both codes are listed when the streak
   holds both kinds. One misunderstood message alone does not escalate: the bot may ask back. An
   earlier message the bot answered from the knowledge base (reply kind ``answer``) counts as
   understood and ends the streak: the intent model may not know "how much is shipping?", the
   knowledge base did.
8. BOT_LOOP, either of:
   a. the customer has now asked essentially the same question ``loop_repeats`` (3) times, each
      earlier time answered by the bot. "Essentially the same" is a character-bigram Dice
      similarity of at least ``loop_similarity`` (0.6) on lower-cased text without spaces and
      punctuation, which works for Chinese and English alike; texts shorter than
      ``loop_min_chars`` (4) never count ("ok", "yes").
   b. the bot has answered ``loop_bot_answers`` (3) messages in a row with this message's intent
      and the customer still asks about it; when turns carry timestamps, only answers within
      ``loop_window_s`` (600 s) of the newest turn count.
9. VIP. The customer's tier is in ``vip_tiers`` ("vip", "platinum"). VIP alone does not escalate
   (the bot still answers simple questions) unless ``vip_always_human`` is set; when something else
   escalates, VIP is listed, raises the priority and picks the queue (below).

History before the last human agent's turn is ignored by rules 7 and 8: a human has dealt with it.
``recent_turns`` holds the earlier turns, oldest first, without the message being decided.

The action is ``escalate`` when any reason other than a lone VIP applies, otherwise ``answer``
(with no reasons).

Queue of an escalation, first match wins:
- LEGAL or COMPLAINT: ``complaint_queue`` ("complaints");
- VIP: ``vip_queue`` ("vip"; set it empty to keep VIPs in the topical queue);
- the topic: the queue of the newest confidently understood intent (this message first, then the
  earlier customer messages) that has one in ``intent_queues``: payment, refund, invoice and
  cancellation-fee intents go to "billing", order, delivery and shipping-address intents to
  "orders", account intents to "accounts". "I want a human" after a refund question goes to billing;
- otherwise ``default_queue`` ("general").

Priority of an escalation:
- URGENT for LEGAL, or when ``anger >= urgent_anger_threshold`` (0.9);
- otherwise start at NORMAL, or LOW when the only reasons are OUT_OF_SCOPE / LOW_CONFIDENCE (the bot
  did not understand, nobody is upset); one step up for ANGER or WORSENING_SENTIMENT, one step up
  for VIP; capped at URGENT. So an angry complaint is HIGH, an angry VIP complaint URGENT.
Answers and silence carry priority NORMAL.

Negation and what a cue word means (each language's ``policy.cue_*`` lists): a human or complaint
cue the customer negates does not count, and neither does the intent model's label for it, since
the customer said the opposite of what the label reads ("no need for a human, just tell me ...",
"I don't want to talk to an agent", "不用转人工", "人工就不用了", "not a complaint"). A negation
reaches four words (Chinese: characters) for want-negations ("no need for", "don't want", 不用) and
one word for a bare "not"/"no"/不是, which does not negate in a question ("is there no human?"); a
want between them ends its reach ("don't want the bot i want a human", 不要机器人要人工). Emphasis
marks are ignored ("I *do* want a person"). Phrases in which a cue word means something else ("my
travel agent", "court shoes", 人工费) are removed first. A cue alone ("agent", "人工") is a request:
the fallback reply tells customers to type it. Safety and legal cues are never negated away.

Thanks or praise only ("thanks, great help", "谢谢，帮大忙了"; `SocialMessages`) with no reason but
the models' guesses (soft reasons) gets action ``acknowledge``: the language's acknowledgement, no
lookup and no queue.

Soft reasons: a human request or complaint known only from the intent label (no cue in the text) and
the OUT_OF_SCOPE / LOW_CONFIDENCE streak are guesses of the models, not something the customer said.
An escalation whose reasons are all soft (VIP aside) is marked ``answer_first``: the generator tries
the knowledge base, sends the answer when one passes its checks, and escalates as decided otherwise.

Known limits: similarity is lexical, so a heavily reworded
repeat is caught by rule 8b (same intent) rather than 8a.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import re
import types
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from services.common import locales
from services.common.platform.settings import ConfigError


class Action(enum.StrEnum):
    ANSWER = "answer"
    ESCALATE = "escalate"
    SILENT = "silent"
    # Thanks or praise only: the language's `policy.acknowledgement` goes out, nothing is looked up.
    ACKNOWLEDGE = "acknowledge"


class Priority(enum.StrEnum):
    """Member names match the suffixes of cs.v1.Priority (``Priority.HIGH.name == "HIGH"``); values are lower-case."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class ReasonCode(enum.StrEnum):
    """Names and values match the suffixes of cs.v1.ReasonCode."""

    HUMAN_REQUESTED = "HUMAN_REQUESTED"
    ANGER = "ANGER"
    WORSENING_SENTIMENT = "WORSENING_SENTIMENT"
    COMPLAINT = "COMPLAINT"
    LEGAL = "LEGAL"
    LOW_CONFIDENCE = "LOW_CONFIDENCE"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    VIP = "VIP"
    BOT_LOOP = "BOT_LOOP"
    # Set by the answer path, not by `decide`: the knowledge base has nothing on the question, or the
    # generated answer was not supported by it (services/generator/answering.py).
    ANSWER_CHECK_FAILED = "ANSWER_CHECK_FAILED"
    NO_KNOWLEDGE = "NO_KNOWLEDGE"
    # Set by the worker when processing the message failed for good (services/generator/worker.py fail_safe).
    PROCESSING_ERROR = "PROCESSING_ERROR"
    # Self-harm or a threat of violence: checked first, always a person, always URGENT.
    SAFETY = "SAFETY"
    # Set by the tenant's routing (services/generator/tenant_routing.py): an intent its rules always escalate.
    ROUTING_RULE = "ROUTING_RULE"


_PRIORITY_ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)
_UNDERSTANDING_CODES = frozenset(
    {
        ReasonCode.LOW_CONFIDENCE,
        ReasonCode.OUT_OF_SCOPE,
        ReasonCode.ANSWER_CHECK_FAILED,
        ReasonCode.NO_KNOWLEDGE,
    }
)

_BILLING = (
    "check_payment_methods",
    "payment_issue",
    "check_refund_policy",
    "get_refund",
    "track_refund",
    "check_invoice",
    "check_invoices",
    "get_invoice",
    "check_cancellation_fee",
)
_ORDERS = (
    "cancel_order",
    "change_order",
    "place_order",
    "track_order",
    "delivery_options",
    "delivery_period",
    "change_shipping_address",
    "set_up_shipping_address",
)
_ACCOUNTS = (
    "create_account",
    "delete_account",
    "edit_account",
    "recover_password",
    "registration_problems",
    "switch_account",
    "newsletter_subscription",
)
DEFAULT_INTENT_QUEUES: Mapping[str, str] = types.MappingProxyType(
    {**dict.fromkeys(_BILLING, "billing"), **dict.fromkeys(_ORDERS, "orders"), **dict.fromkeys(_ACCOUNTS, "accounts")}
)

# Every language's `policy.*` lists merged (services/common/locales); a non-blank CS_POLICY_HUMAN_CUES,
# CS_POLICY_LEGAL_CUES, CS_POLICY_COMPLAINT_CUES or CS_POLICY_CUE_EXCLUSIONS replaces the merged list.
DEFAULT_HUMAN_CUES = locales.all_cues("policy.human_cues")
DEFAULT_LEGAL_CUES = locales.all_cues("policy.legal_cues")
DEFAULT_COMPLAINT_CUES = locales.all_cues("policy.complaint_cues")
DEFAULT_SAFETY_CUES = locales.all_cues("policy.safety_cues")
DEFAULT_CUE_EXCLUSIONS = locales.all_cues("policy.cue_exclusions")


def _frozen_map(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(value))


@dataclass(frozen=True)
class PolicyConfig:
    """Every knob of the routing policy; the module docstring says what each rule does with it."""

    anger_threshold: float = 0.75
    urgent_anger_threshold: float = 0.9
    worsening_slope: float = 0.2
    worsening_max_score: float = -0.3
    low_confidence_threshold: float = 0.5
    not_understood_turns: int = 2
    loop_repeats: int = 3
    loop_similarity: float = 0.6
    loop_min_chars: int = 4
    loop_bot_answers: int = 3
    loop_window_s: float = 600.0
    vip_tiers: tuple[str, ...] = ("vip", "platinum")
    vip_always_human: bool = False
    human_intents: tuple[str, ...] = ("contact_human_agent",)
    complaint_intents: tuple[str, ...] = ("complaint",)
    legal_intents: tuple[str, ...] = ()
    human_cues: tuple[str, ...] = DEFAULT_HUMAN_CUES
    legal_cues: tuple[str, ...] = DEFAULT_LEGAL_CUES
    complaint_cues: tuple[str, ...] = DEFAULT_COMPLAINT_CUES
    safety_cues: tuple[str, ...] = DEFAULT_SAFETY_CUES
    cue_exclusions: tuple[str, ...] = DEFAULT_CUE_EXCLUSIONS
    intent_queues: Mapping[str, str] = field(default_factory=lambda: DEFAULT_INTENT_QUEUES)
    default_queue: str = "general"
    complaint_queue: str = "complaints"
    vip_queue: str = "vip"

    def __post_init__(self) -> None:
        object.__setattr__(self, "intent_queues", _frozen_map(self.intent_queues))
        for name in ("anger_threshold", "urgent_anger_threshold", "low_confidence_threshold", "loop_similarity"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"PolicyConfig.{name}={value} must be between 0 and 1 ({_ENV_NAMES[name]})")
        for name in ("not_understood_turns", "loop_repeats", "loop_bot_answers", "loop_min_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"PolicyConfig.{name} must be at least 1 ({_ENV_NAMES[name]})")
        if self.worsening_slope < 0 or self.loop_window_s <= 0:
            raise ValueError("PolicyConfig.worsening_slope must be >= 0 and loop_window_s > 0")
        if not self.default_queue or not self.complaint_queue:
            raise ValueError("PolicyConfig.default_queue and complaint_queue must name a queue")

    def queues(self) -> frozenset[str]:
        """Every queue this policy can route to; check them against CS_ESCALATION_QUEUES at start."""
        named = {self.default_queue, self.complaint_queue, *self.intent_queues.values()}
        return frozenset(q for q in (*named, self.vip_queue) if q)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PolicyConfig:
        """Defaults overridden by the CS_POLICY_* variables that are set (see `ENV_VARIABLES`)."""
        environ = os.environ if environ is None else environ
        overrides: dict[str, Any] = {}
        for f in fields(cls):
            name = _ENV_NAMES[f.name]
            raw = environ.get(name, "").strip()
            if raw:
                try:
                    overrides[f.name] = _PARSERS[f.name](raw)
                except ValueError as exc:
                    raise ConfigError(f"{name}={raw!r} is invalid: {exc}") from None
        try:
            return cls(**overrides)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _parse_queue_map(raw: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in _parse_list(raw):
        intent, sep, queue = pair.partition(":")
        if not sep or not intent.strip() or not queue.strip():
            raise ValueError(f"{pair!r} is not intent:queue")
        result[intent.strip()] = queue.strip()
    return result


def _parse_queue(raw: str) -> str:
    return "" if raw.lower() in {"none", "-"} else raw


_ENV_NAMES = {
    "anger_threshold": "CS_POLICY_ANGER_THRESHOLD",
    "urgent_anger_threshold": "CS_POLICY_URGENT_ANGER",
    "worsening_slope": "CS_POLICY_WORSENING_SLOPE",
    "worsening_max_score": "CS_POLICY_WORSENING_MAX_SCORE",
    "low_confidence_threshold": "CS_POLICY_LOW_CONFIDENCE",
    "not_understood_turns": "CS_POLICY_NOT_UNDERSTOOD_TURNS",
    "loop_repeats": "CS_POLICY_LOOP_REPEATS",
    "loop_similarity": "CS_POLICY_LOOP_SIMILARITY",
    "loop_min_chars": "CS_POLICY_LOOP_MIN_CHARS",
    "loop_bot_answers": "CS_POLICY_LOOP_BOT_ANSWERS",
    "loop_window_s": "CS_POLICY_LOOP_WINDOW_S",
    "vip_tiers": "CS_POLICY_VIP_TIERS",
    "vip_always_human": "CS_POLICY_VIP_ALWAYS_HUMAN",
    "human_intents": "CS_POLICY_HUMAN_INTENTS",
    "complaint_intents": "CS_POLICY_COMPLAINT_INTENTS",
    "legal_intents": "CS_POLICY_LEGAL_INTENTS",
    "human_cues": "CS_POLICY_HUMAN_CUES",
    "legal_cues": "CS_POLICY_LEGAL_CUES",
    "complaint_cues": "CS_POLICY_COMPLAINT_CUES",
    "safety_cues": "CS_POLICY_SAFETY_CUES",
    "cue_exclusions": "CS_POLICY_CUE_EXCLUSIONS",
    "intent_queues": "CS_POLICY_INTENT_QUEUES",
    "default_queue": "CS_POLICY_DEFAULT_QUEUE",
    "complaint_queue": "CS_POLICY_COMPLAINT_QUEUE",
    "vip_queue": "CS_POLICY_VIP_QUEUE",
}
_PARSERS: dict[str, Callable[[str], object]] = {
    **{name: float for name in ("anger_threshold", "urgent_anger_threshold", "worsening_slope",
                                "worsening_max_score", "low_confidence_threshold", "loop_similarity",
                                "loop_window_s")},
    **{name: int for name in ("not_understood_turns", "loop_repeats", "loop_min_chars", "loop_bot_answers")},
    **{name: _parse_list for name in ("vip_tiers", "human_intents", "complaint_intents", "legal_intents",
                                      "human_cues", "legal_cues", "complaint_cues", "safety_cues",
                                      "cue_exclusions")},
    "vip_always_human": _parse_bool,
    "intent_queues": lambda raw: {**DEFAULT_INTENT_QUEUES, **_parse_queue_map(raw)},
    "default_queue": str,
    "complaint_queue": str,
    "vip_queue": _parse_queue,
}  # fmt: skip

# (variable name, PolicyConfig field) pairs, for the README's configuration table.
ENV_VARIABLES: tuple[tuple[str, str], ...] = tuple((_ENV_NAMES[f.name], f.name) for f in fields(PolicyConfig))


@dataclass(frozen=True)
class TurnView:
    """One earlier turn of the conversation as the policy needs it.

    author: "customer", "bot", "agent" or "system" (the cs.v1.Author names are accepted too).
    Intent fields are empty for non-customer turns; `confidence` None means "not known".
    """

    author: str
    text: str
    intent_label: str = ""
    out_of_scope: bool = False
    confidence: float | None = None
    sent_at: dt.datetime | None = None
    reply_kind: str = ""  # bot turns: "answer", "fallback", "handover" (or the cs.v1.ReplyKind name)


@dataclass(frozen=True)
class PolicyInput:
    """The message being decided, with its enrichment and the recent conversation.

    `trend` is "improving", "stable" or "worsening" (or the cs.v1.Trend name); `conversation_state`
    is "bot", "queued", "agent" or "resolved" (or the cs.v1.ConversationState name).
    `recent_turns` are the earlier turns, oldest first, without this message.
    """

    text: str
    language: str = "und"
    intent_label: str = ""
    intent_confidence: float = 0.0
    out_of_scope: bool = False
    anger: float = 0.0
    sentiment_score: float = 0.0
    trend: str = "stable"
    trend_slope: float = 0.0
    customer_tier: str = ""
    recent_turns: Sequence[TurnView] = ()
    conversation_state: str = "bot"


@dataclass(frozen=True)
class Reason:
    """soft: the reason is only a guess of the models (an intent label, a streak of unsure labels), not
    something the customer said or felt; an escalation with soft reasons only is tried against the
    knowledge base first (`Decision.answer_first`)."""

    code: ReasonCode
    detail: str
    soft: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    queue: str | None
    priority: Priority
    reasons: tuple[Reason, ...]

    @property
    def codes(self) -> frozenset[ReasonCode]:
        return frozenset(r.code for r in self.reasons)

    @property
    def answer_first(self) -> bool:
        """An escalation whose every reason (VIP aside) is soft: a question the knowledge base answers is
        answered ("what's your phone number?" labelled as a request for a human, "what do I do with a
        damaged item?" labelled as a complaint); only when it cannot be answered does it escalate."""
        others = [r for r in self.reasons if r.code != ReasonCode.VIP]
        return self.action == Action.ESCALATE and bool(others) and all(r.soft for r in others)


def _normalise_enum_name(value: str, prefix: str) -> str:
    """'TREND_WORSENING' / 'worsening' / ' Worsening ' -> 'worsening'."""
    lowered = value.strip().lower()
    return lowered[len(prefix) :] if lowered.startswith(prefix) else lowered


def _loop_key(text: str) -> str:
    """Lower-cased text without whitespace and punctuation, for repeat detection."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())


def text_similarity(a: str, b: str) -> float:
    """Character-bigram Dice similarity, 0..1, ignoring case, spaces and punctuation; works for zh and en."""
    return _bigram_dice(_loop_key(a), _loop_key(b))


def _bigram_dice(a: str, b: str) -> float:
    grams_a = {a[i : i + 2] for i in range(len(a) - 1)}
    grams_b = {b[i : i + 2] for i in range(len(b) - 1)}
    if not grams_a or not grams_b:
        return 1.0 if a == b else 0.0
    return 2 * len(grams_a & grams_b) / (len(grams_a) + len(grams_b))


@dataclass(frozen=True)
class Negations:
    """How a customer says they do NOT want what a cue names (each language's ``policy.cue_negations*``).

    - `before`: a want-negation at most four words (Latin) or four characters (CJK) before the cue
      ("no need for a human", "don't want to talk to an agent", "不用转人工");
    - `adjacent`: a bare negation right before the cue, at most one word between ("not a complaint",
      "no agent please", "不是投诉"); not in a question ("is there no human?" asks for one);
    - `after`: a negation right after the cue ("a human is not necessary", "人工就不用了");
    - `reassertions`: a want word between the negation and the cue ends the negation's reach
      ("don't want the bot i want a human", "不要机器人要人工").
    """

    before: tuple[str, ...] = ()
    adjacent: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    reassertions: tuple[str, ...] = ()

    @classmethod
    def of_all_languages(cls) -> Negations:
        return cls(
            locales.all_cues("policy.cue_negations"),
            locales.all_cues("policy.cue_negations_adjacent"),
            locales.all_cues("policy.cue_negations_after"),
            locales.all_cues("policy.cue_reassertions"),
        )


def _alternation(patterns: Iterable[str], latin: bool) -> re.Pattern[str] | None:
    """Regular expressions of one script, Latin ones on word edges; None when there are none."""
    chosen = [p for p in patterns if p.isascii() == latin]
    if not chosen:
        return None
    body = "|".join(f"(?:{p})" for p in chosen)
    return re.compile(rf"(?<![a-z'])(?:{body})(?![a-z])" if latin else f"(?:{body})")


_WORD = re.compile(r"[\w']+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _distance(between: str) -> int:
    """How far apart two phrases are: Latin words plus CJK characters between them."""
    return len(_WORD.findall(_CJK.sub(" ", between))) + len(_CJK.findall(between))


class _NegationScope:
    """Decides whether a cue found in a clause is negated (see `Negations`)."""

    def __init__(self, negations: Negations) -> None:
        self._before = [p for p in (_alternation(negations.before, True), _alternation(negations.before, False)) if p]
        self._adjacent = [
            p for p in (_alternation(negations.adjacent, True), _alternation(negations.adjacent, False)) if p
        ]
        after = [p for p in (_alternation(negations.after, True), _alternation(negations.after, False)) if p]
        self._after = [re.compile(r"^\W{0,3}(?:" + p.pattern + ")") for p in after]
        self._reassert = [
            p for p in (_alternation(negations.reassertions, True), _alternation(negations.reassertions, False)) if p
        ]

    def negates(self, before: str, after: str) -> bool:
        """`before`: the clause up to the cue; `after`: the clause after it (up to its end mark, included)."""
        if any(p.search(after) for p in self._after):
            return True
        if self._within(self._before, before, 4):
            return True
        return self._within(self._adjacent, before, 1) and not after.rstrip().endswith(("?", "？"))

    def _within(self, patterns: Sequence[re.Pattern[str]], before: str, reach: int) -> bool:
        for pattern in patterns:
            matches = list(pattern.finditer(before))
            if not matches:
                continue
            last = matches[-1]
            between = before[last.end() :]
            if _distance(between) <= reach and not any(p.search(between) for p in self._reassert):
                return True
        return False


_CLAUSE_MARKS = ",.;!?，。；！？"
# Emphasis marks and the like, removed before matching: "I *do* want a person".
_EMPHASIS = re.compile(r"[*_~`\"“”]+")


@dataclass(frozen=True)
class CueFinding:
    """The cues a message says (`found`) and those it says only negated (`negated`: "no need for a human")."""

    found: tuple[str, ...] = ()
    negated: tuple[str, ...] = ()


class _CueMatcher:
    """Finds cue phrases: Latin phrases as whole words (plural -s allowed), CJK phrases as substrings.

    With `negations`, a cue the customer negates ("no need for a human", "不用转人工") is reported as
    negated, not found."""

    def __init__(self, cues: Iterable[str], exclusions: Iterable[str], negations: Negations | None = None) -> None:
        latin = sorted({c.lower() for c in cues if c.isascii()}, key=len, reverse=True)
        other = sorted({c for c in cues if not c.isascii()}, key=len, reverse=True)
        alternatives = [rf"(?<![a-z0-9]){re.escape(c)}(?:e?s)?(?![a-z0-9])" for c in latin]
        alternatives += [re.escape(c) for c in other]
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None
        self._exclusions = tuple(sorted((e.lower() for e in exclusions if e), key=len, reverse=True))
        self._scope = _NegationScope(negations) if negations is not None else None

    def find(self, text: str) -> CueFinding:
        if self._pattern is None:
            return CueFinding()
        lowered = _EMPHASIS.sub("", unicodedata.normalize("NFKC", text).lower().replace("’", "'"))
        for phrase in self._exclusions:
            lowered = lowered.replace(phrase, " ")
        found, negated = set(), set()
        for m in self._pattern.finditer(lowered):
            clause_start = max(lowered.rfind(mark, 0, m.start()) for mark in _CLAUSE_MARKS)
            ends = [i for i in (lowered.find(mark, m.end()) for mark in _CLAUSE_MARKS) if i >= 0]
            clause_end = min(ends) + 1 if ends else len(lowered)
            before, after = lowered[clause_start + 1 : m.start()], lowered[m.end() : clause_end]
            if self._scope is not None and self._scope.negates(before, after):
                negated.add(m.group())
            else:
                found.add(m.group())
        return CueFinding(tuple(sorted(found)), tuple(sorted(negated - found)))


def _edged(pattern: str) -> str:
    """A Latin pattern on word edges (an edge only where the pattern starts or ends with a letter: "n't")."""
    left = r"(?<![a-z'])" if pattern[:1].isalpha() else ""
    return f"{left}(?:{pattern})(?![a-z])"


class SocialMessages:
    """Recognises a message that only thanks or praises ("thanks, great help", "谢谢，帮大忙了").

    Such a message needs no answer from the knowledge base and no person: the intent model has no
    label for it and guesses (review, complaint, out of scope), and the knowledge base has nothing on
    it, so without this rule it was handed over. It is only thanks when it has a gratitude cue, none
    of the language's `social_blockers` (a question, a "but", a sarcasm: "thanks for nothing") and at
    most `social_max_words` words (Chinese: characters) of the language with the most.
    """

    def __init__(self) -> None:
        gratitude = locales.all_cues("policy.gratitude_cues")
        blockers = locales.all_cues("policy.social_blockers")
        self._gratitude = self._compile(gratitude)
        self._blockers = self._compile(blockers)
        self._max_words = max(int(locales.text(lang, "policy.social_max_words")) for lang in locales.languages())

    @staticmethod
    def _compile(patterns: Sequence[str]) -> re.Pattern[str]:
        parts = [_edged(p) if p.isascii() and p[:1].isalnum() else f"(?:{p})" for p in patterns]
        return re.compile("|".join(parts))

    def only_thanks(self, text: str) -> bool:
        lowered = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
        return (
            bool(self._gratitude.search(lowered))
            and not self._blockers.search(lowered)
            and _distance(lowered) <= self._max_words
        )


class RoutingPolicy:
    """Decides answer / escalate / silent for one message; pure and cheap, safe to share."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        exclusions = self.config.cue_exclusions
        negations = Negations.of_all_languages()
        self._human = _CueMatcher(self.config.human_cues, exclusions, negations)
        self._legal = _CueMatcher(self.config.legal_cues, exclusions)
        self._complaint = _CueMatcher(self.config.complaint_cues, exclusions, negations)
        self._safety = _CueMatcher(self.config.safety_cues, exclusions)
        self._social = SocialMessages()

    def decide(self, inp: PolicyInput) -> Decision:
        if _normalise_enum_name(inp.conversation_state, "conversation_state_") in {"queued", "agent"}:
            return Decision(Action.SILENT, None, Priority.NORMAL, ())
        turns = _since_last_agent(inp.recent_turns)
        reasons = [
            *self._intent_or_cue(inp, ReasonCode.SAFETY, (), self._safety),
            *self._intent_or_cue(inp, ReasonCode.HUMAN_REQUESTED, self.config.human_intents, self._human),
            *self._anger(inp),
            *self._worsening(inp),
            *self._intent_or_cue(inp, ReasonCode.COMPLAINT, self.config.complaint_intents, self._complaint),
            *self._intent_or_cue(inp, ReasonCode.LEGAL, self.config.legal_intents, self._legal),
            *self._not_understood(inp, turns),
            *self._bot_loop(inp, turns),
            *self._vip(inp),
        ]
        codes = {r.code for r in reasons}
        if all(r.soft or r.code == ReasonCode.VIP for r in reasons) and self._social.only_thanks(inp.text):
            return Decision(Action.ACKNOWLEDGE, None, Priority.NORMAL, ())
        if not codes - {ReasonCode.VIP} and not (codes and self.config.vip_always_human):
            return Decision(Action.ANSWER, None, Priority.NORMAL, ())
        return Decision(Action.ESCALATE, self._queue(inp, turns, codes), self._priority(inp, codes), tuple(reasons))

    def hand_over(self, inp: PolicyInput, reason: Reason) -> Decision:
        """The escalation for a message the bot meant to answer but cannot (no knowledge, answer not grounded):
        queue and priority chosen as for any escalation, VIP included."""
        reasons = (reason, *self._vip(inp))
        codes = {r.code for r in reasons}
        turns = _since_last_agent(inp.recent_turns)
        return Decision(Action.ESCALATE, self._queue(inp, turns, codes), self._priority(inp, codes), reasons)

    # -- rules -------------------------------------------------------------------------------

    def _confident(self, intent_label: str, confidence: float | None, out_of_scope: bool) -> bool:
        return (
            bool(intent_label)
            and not out_of_scope
            and intent_label != "out_of_scope"
            and confidence is not None
            and confidence >= self.config.low_confidence_threshold
        )

    def _intent_or_cue(
        self, inp: PolicyInput, code: ReasonCode, intents: Sequence[str], cues: _CueMatcher
    ) -> list[Reason]:
        details = []
        finding = cues.find(inp.text)
        found = finding.found
        # "No need for a human": the intent model reads a request for one; the customer said the opposite.
        said_not = bool(finding.negated) and not found
        if (
            inp.intent_label in intents
            and not said_not
            and self._confident(inp.intent_label, inp.intent_confidence, inp.out_of_scope)
        ):
            details.append(f"intent {inp.intent_label} ({inp.intent_confidence:.2f})")
        if found:
            details.append("text cue " + ", ".join(f'"{cue}"' for cue in found))
        return [Reason(code, "; ".join(details), soft=not found)] if details else []

    def _anger(self, inp: PolicyInput) -> list[Reason]:
        if inp.anger >= self.config.anger_threshold:
            return [Reason(ReasonCode.ANGER, f"anger {inp.anger:.2f} >= {self.config.anger_threshold:.2f}")]
        return []

    def _worsening(self, inp: PolicyInput) -> list[Reason]:
        cfg = self.config
        if (
            _normalise_enum_name(inp.trend, "trend_") == "worsening"
            and inp.trend_slope <= -cfg.worsening_slope
            and inp.sentiment_score < cfg.worsening_max_score
        ):
            detail = f"score {inp.sentiment_score:.2f}, slope {inp.trend_slope:.2f}/turn <= -{cfg.worsening_slope:.2f}"
            return [Reason(ReasonCode.WORSENING_SENTIMENT, detail)]
        return []

    def _misunderstood(self, turn: TurnView) -> str | None:
        """Why `turn` was not understood: "oos", "low" (confidence known and too low), or None."""
        if turn.out_of_scope or turn.intent_label == "out_of_scope":
            return "oos"
        if turn.confidence is not None and turn.confidence < self.config.low_confidence_threshold:
            return "low"
        return None

    def _not_understood(self, inp: PolicyInput, turns: Sequence[TurnView]) -> list[Reason]:
        needed = self.config.not_understood_turns
        current = TurnView("customer", inp.text, inp.intent_label, inp.out_of_scope, inp.intent_confidence)
        earlier = _answered_customer_turns(turns, _is_answer)
        streak: list[str] = []
        for turn, answered in [(current, False), *reversed(earlier)][:needed]:
            kind = None if answered else self._misunderstood(turn)
            if kind is None:
                return []
            streak.append(kind)
        if len(streak) < needed:
            return []
        reasons = []
        if "oos" in streak:
            reasons.append(
                Reason(
                    ReasonCode.OUT_OF_SCOPE, f"{streak.count('oos')} of the last {needed} messages out of scope", True
                )
            )
        if "low" in streak:
            detail = (
                f"{streak.count('low')} of the last {needed} messages with intent confidence "
                f"< {self.config.low_confidence_threshold:.2f}"
            )
            reasons.append(Reason(ReasonCode.LOW_CONFIDENCE, detail, soft=True))
        return reasons

    def _bot_loop(self, inp: PolicyInput, turns: Sequence[TurnView]) -> list[Reason]:
        details = []
        asked = self._times_asked(inp.text, turns)
        if asked >= self.config.loop_repeats:
            details.append(f"customer asked the same question {asked} times")
        answered = self._answers_on_intent(inp, turns)
        if answered >= self.config.loop_bot_answers:
            details.append(f"bot answered {answered} messages in a row on {inp.intent_label} without resolution")
        return [Reason(ReasonCode.BOT_LOOP, "; ".join(details))] if details else []

    def _times_asked(self, text: str, turns: Sequence[TurnView]) -> int:
        """How often this question has been asked, counting earlier askings the bot answered."""
        key = _loop_key(text)
        if len(key) < self.config.loop_min_chars:
            return 1
        count = 1
        for customer_turn, answered in _answered_customer_turns(turns):
            if answered and _bigram_dice(key, _loop_key(customer_turn.text)) >= self.config.loop_similarity:
                count += 1
        return count

    def _answers_on_intent(self, inp: PolicyInput, turns: Sequence[TurnView]) -> int:
        """Bot answers in a row to earlier messages with this message's (confident) intent."""
        if not self._confident(inp.intent_label, inp.intent_confidence, inp.out_of_scope):
            return 0
        times = [t.sent_at for t in turns if t.sent_at is not None]
        since = max(times) - dt.timedelta(seconds=self.config.loop_window_s) if times else None
        count = 0
        for customer_turn, answered in reversed(_answered_customer_turns(turns)):
            if customer_turn.intent_label != inp.intent_label:
                break
            if since is not None and customer_turn.sent_at is not None and customer_turn.sent_at < since:
                break
            count += answered
        return count

    def _vip(self, inp: PolicyInput) -> list[Reason]:
        tier = inp.customer_tier.strip().lower()
        if tier and tier in {t.lower() for t in self.config.vip_tiers}:
            return [Reason(ReasonCode.VIP, f"customer tier {tier}")]
        return []

    # -- routing -----------------------------------------------------------------------------

    def _queue(self, inp: PolicyInput, turns: Sequence[TurnView], codes: set[ReasonCode]) -> str:
        cfg = self.config
        if codes & {ReasonCode.LEGAL, ReasonCode.COMPLAINT}:
            return cfg.complaint_queue
        if ReasonCode.VIP in codes and cfg.vip_queue:
            return cfg.vip_queue
        current = TurnView("customer", inp.text, inp.intent_label, inp.out_of_scope, inp.intent_confidence)
        for turn in [current, *reversed([t for t in turns if turn_author(t) == "customer"])]:
            if turn.intent_label in cfg.intent_queues and self._confident(
                turn.intent_label, turn.confidence, turn.out_of_scope
            ):
                return cfg.intent_queues[turn.intent_label]
        return cfg.default_queue

    def _priority(self, inp: PolicyInput, codes: set[ReasonCode]) -> Priority:
        if codes & {ReasonCode.LEGAL, ReasonCode.SAFETY} or inp.anger >= self.config.urgent_anger_threshold:
            return Priority.URGENT
        level = 0 if codes <= _UNDERSTANDING_CODES else 1
        level += bool(codes & {ReasonCode.ANGER, ReasonCode.WORSENING_SENTIMENT})
        level += ReasonCode.VIP in codes
        return _PRIORITY_ORDER[min(level, len(_PRIORITY_ORDER) - 1)]


def turn_author(turn: TurnView) -> str:
    """The author as "customer", "bot", "agent" or "system", also when written "AUTHOR_BOT" etc."""
    return _normalise_enum_name(turn.author, "author_")


def _since_last_agent(turns: Sequence[TurnView]) -> Sequence[TurnView]:
    for i in range(len(turns) - 1, -1, -1):
        if turn_author(turns[i]) == "agent":
            return turns[i + 1 :]
    return turns


def _answered_customer_turns(
    turns: Sequence[TurnView], counts: Callable[[TurnView], bool] = lambda turn: True
) -> list[tuple[TurnView, bool]]:
    """Each customer turn, oldest first, with whether a bot turn that `counts` came after it (before the next one)."""
    pairs: list[tuple[TurnView, bool]] = []
    for turn in turns:
        author = turn_author(turn)
        if author == "customer":
            pairs.append((turn, False))
        elif author == "bot" and pairs and counts(turn):
            pairs[-1] = (pairs[-1][0], True)
    return pairs


def _is_answer(turn: TurnView) -> bool:
    """A bot turn that answered from the knowledge base: the question before it was understood well enough,
    whatever the intent model thought (rule 7 ignores it)."""
    return _normalise_enum_name(turn.reply_kind, "reply_kind_") == "answer"

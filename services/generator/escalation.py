"""What goes with an escalation: a summary and a draft reply for the agent, a notice for the customer.

All three are templates, not LLM output: they must be instant, never invent facts, never leak PII,
and read the same on every replay of the same event (a redelivered message must not produce a
different handover text). The agent's summary and draft are written in the customer's language
(English for a language the platform does not serve), on the assumption that a queue's agents speak
the language of the customers routed to it. Every word of them is the language's `escalation.*`
texts (services/common/locales); this module only decides which texts and in what order.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.common import locales
from services.common.platform.pii import mask_pii
from services.common.proto.cs.v1 import understanding_pb2 as pb
from services.generator.policy import Decision, ReasonCode, TurnView, turn_author

LAST_MESSAGE_CHARS = 160
MAX_ENTITIES = 6
_NAME_MAX_CHARS = 40

# Entity types that are PII by definition: shown only as their placeholder, whatever the text.
_PII_ENTITY_TYPES = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]", "id_number": "[CN_ID]", "iban": "[IBAN]"}


@dataclass(frozen=True)
class EntityView:
    type: str
    text: str
    value: str = ""


@dataclass(frozen=True)
class Enrichment:
    """What the intent and sentiment workers said about the message being escalated.

    polarity: "negative" / "neutral" / "positive"; emotion: "anger", "frustration", ...;
    trend: "improving" / "stable" / "worsening". Empty strings mean "not known".
    """

    language: str = "und"
    intent_label: str = ""
    intent_confidence: float = 0.0
    out_of_scope: bool = False
    entities: tuple[EntityView, ...] = ()
    polarity: str = ""
    sentiment_score: float = 0.0
    emotion: str = ""
    anger: float = 0.0
    trend: str = ""

    @classmethod
    def from_proto(cls, understanding: pb.Understanding, sentiment: pb.Sentiment) -> Enrichment:
        """Build from the cs.v1 messages carried by MessageEnriched."""
        u, s = understanding, sentiment
        return cls(
            language=u.language,
            intent_label=u.intent.label,
            intent_confidence=u.intent.confidence,
            out_of_scope=u.intent.out_of_scope,
            entities=tuple(EntityView(e.type, e.text, e.value) for e in u.entities),
            polarity=_enum_word(pb.Polarity.Name(s.polarity), "POLARITY_"),
            sentiment_score=s.score,
            emotion=_enum_word(pb.Emotion.Name(s.emotion), "EMOTION_"),
            anger=s.anger,
            trend=_enum_word(pb.Trend.Name(s.trend), "TREND_"),
        )


def _enum_word(name: str, prefix: str) -> str:
    word = name.removeprefix(prefix).lower()
    return "" if word == "unspecified" else word


def _intent_phrase(enrichment: Enrichment, language: str) -> str:
    label = enrichment.intent_label
    if enrichment.out_of_scope or label == "out_of_scope":
        return locales.text(language, "escalation.intent_out_of_scope")
    if not label:
        return locales.text(language, "escalation.intent_unknown")
    name = locales.word(language, "escalation.intents", label.replace("_", " "), lookup=label)
    return locales.text(language, "escalation.intent", name=name, confidence=enrichment.intent_confidence)


def _entity_phrases(entities: Sequence[EntityView], language: str) -> list[str]:
    phrases: list[str] = []
    for entity in entities:
        kind = entity.type.strip().lower()
        shown = _PII_ENTITY_TYPES.get(kind) or mask_pii(entity.value or entity.text).strip()
        name = locales.word(language, "escalation.entities", kind.replace("_", " "), lookup=kind)
        phrase = locales.text(language, "escalation.entity", name=name, value=shown)
        if shown and phrase not in phrases:
            phrases.append(phrase)
    return phrases[:MAX_ENTITIES]


def _sentiment_phrase(enrichment: Enrichment, language: str) -> str:
    e = enrichment
    words = [
        locales.word(language, "escalation.polarity", e.polarity),
        locales.word(language, "escalation.emotions", e.emotion),
    ]
    shown = locales.text(language, "escalation.word_separator").join(w for w in words if w)
    trend = locales.word(language, "escalation.trends", e.trend)
    return locales.text(
        language,
        "escalation.sentiment",
        words=shown or locales.text(language, "escalation.sentiment_unknown"),
        score=e.sentiment_score,
        anger=e.anger,
        trend=locales.text(language, "escalation.sentiment_trend", trend=trend) if trend else "",
    )


def _truncate(text: str, limit: int) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def summarize(
    turns: Sequence[TurnView],
    understanding: pb.Understanding,
    sentiment: pb.Sentiment,
    decision: Decision | None = None,
) -> str:
    """A few lines for the agent: intent, key entities (PII masked), sentiment, why it escalated,
    how long the conversation is, and the customer's last message (masked, truncated).

    `turns` is the conversation so far, oldest first, including the message being escalated;
    `understanding` and `sentiment` are that message's enrichment.
    """
    return summarize_enrichment(turns, Enrichment.from_proto(understanding, sentiment), decision)


def summarize_enrichment(turns: Sequence[TurnView], enrichment: Enrichment, decision: Decision | None = None) -> str:
    """`summarize` for an enrichment already read into an `Enrichment`."""
    lang = locales.resolve(enrichment.language)
    authors = [turn_author(t) for t in turns]
    from_customer, from_bot = authors.count("customer"), authors.count("bot")
    last = next((t.text for t in reversed(turns) if turn_author(t) == "customer"), "")
    last_shown = _truncate(mask_pii(last), LAST_MESSAGE_CHARS)
    entities = _entity_phrases(enrichment.entities, lang)
    reasons = decision.reasons if decision else ()
    separator = locales.text(lang, "escalation.list_separator")
    lines = [locales.text(lang, "escalation.summary.intent", intent=_intent_phrase(enrichment, lang))]
    if entities:
        lines.append(locales.text(lang, "escalation.summary.details", details=separator.join(entities)))
    lines.append(locales.text(lang, "escalation.summary.sentiment", sentiment=_sentiment_phrase(enrichment, lang)))
    if reasons:
        named = [
            locales.text(
                lang,
                "escalation.summary.reason",
                name=locales.word(lang, "escalation.reasons", r.code.value),
                detail=r.detail,
            )
            for r in reasons
        ]
        lines.append(locales.text(lang, "escalation.summary.reasons", reasons=separator.join(named)))
    lines.append(locales.text(lang, "escalation.summary.turns", turns=len(turns), customer=from_customer, bot=from_bot))
    lines.append(locales.text(lang, "escalation.summary.last_message", message=last_shown))
    return "\n".join(lines)


def _clean_name(customer_name: str | None) -> str:
    """The display name, or "" when it is missing, too long or looks like contact data."""
    name = re.sub(r"\s+", " ", customer_name or "").strip()
    if not name or len(name) > _NAME_MAX_CHARS or mask_pii(name) != name or re.search(r"[\d@\[\]{}<>]", name):
        return ""
    return name


_EMOTIONAL = {ReasonCode.ANGER, ReasonCode.COMPLAINT, ReasonCode.WORSENING_SENTIMENT}
_UNDERSTANDING = {
    ReasonCode.LOW_CONFIDENCE,
    ReasonCode.OUT_OF_SCOPE,
    ReasonCode.ANSWER_CHECK_FAILED,
    ReasonCode.NO_KNOWLEDGE,
}


def _tone(codes: Iterable[ReasonCode]) -> str:
    """Which template family fits: safety, legal, upset, loop, requested, unclear or plain."""
    found = set(codes)
    if ReasonCode.SAFETY in found:
        return "safety"
    if ReasonCode.LEGAL in found:
        return "legal"
    if found & _EMOTIONAL:
        return "upset"
    if ReasonCode.BOT_LOOP in found:
        return "loop"
    if ReasonCode.HUMAN_REQUESTED in found:
        return "requested"
    if found & _UNDERSTANDING:
        return "unclear"
    return "plain"


def suggested_reply(decision: Decision, language: str, customer_name: str | None = None) -> str:
    """A draft the agent may send or edit, in the customer's language.

    It apologises when the customer is upset, stays neutral and admits nothing when legal action is
    mentioned, and ends with the question that moves the case on for the queue it went to.
    """
    lang = locales.resolve(language)
    name = _clean_name(customer_name)
    tone = _tone(decision.codes)
    if tone == "unclear":
        ask = locales.text(lang, "escalation.draft.ask_unclear")
    else:
        ask = locales.word(lang, "escalation.draft.asks", decision.queue or "")
    if name:
        greeting = locales.text(lang, "escalation.draft.greeting_named", name=name)
    else:
        greeting = locales.text(lang, "escalation.draft.greeting")
    body = locales.text(lang, f"escalation.draft.bodies.{tone}")
    return locales.text(lang, "escalation.draft.reply", greeting=greeting, body=body, ask=ask)


def opening_words(language: str, opens: dt.datetime, now: dt.datetime) -> str:
    """When a queue opens again, as the notice says it: "on Monday at 09:00" / "周一 09:00"."""
    lang = locales.resolve(language)
    local_now = now.astimezone(opens.tzinfo)
    day = "today" if opens.date() == local_now.date() else DAY_KEYS[opens.weekday()]
    return f"{locales.word(lang, 'escalation.weekdays', day)} {opens:%H:%M}"


DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def handover_notice(
    language: str,
    queue: str | None,
    customer_name: str | None = None,
    decision: Decision | None = None,
    back_at: tuple[dt.datetime, dt.datetime] | None = None,
) -> str:
    """What the customer is told when a human takes over, in their language.

    The decision's reasons set the tone: an apology when the customer is upset or the bot went in
    circles, a plain acknowledgement when legal action is mentioned. `back_at` is (when the queue
    opens again, now) when the queue is outside its business hours: the customer is told when a
    person will be back, and the conversation waits in the queue meanwhile.
    """
    lang = locales.resolve(language)
    name = _clean_name(customer_name)
    tone = _tone(decision.codes if decision else ())
    if name:
        opening = locales.text(lang, f"escalation.notice.openings_named.{tone}", name=name)
    else:
        opening = locales.text(lang, f"escalation.notice.openings.{tone}")
    team_name = locales.word(lang, "escalation.teams", queue or "")
    if team_name:
        team = locales.text(lang, "escalation.notice.team_named", team=team_name)
    else:
        team = locales.text(lang, "escalation.notice.team")
    if back_at is not None:
        opens, now = back_at
        when = opening_words(lang, opens, now)
        zone = str(opens.tzinfo)
        return locales.text(
            lang, "escalation.notice.message_closed", opening=opening, team=team, when=when, zone=zone
        ).strip()
    return locales.text(lang, "escalation.notice.message", opening=opening, team=team).strip()

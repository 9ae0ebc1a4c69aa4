"""The chat prompt for a customer reply: persona, language, profile, recent history, passages.

Written for a 0.5B instruction model (Qwen2.5-Coder-0.5B-Instruct), which needs tight
instructions: with a bare system prompt it refuses ordinary requests ("Sorry, but I can't
assist with that."), with a long one it answers at length and drifts into English. So the
prompt has:

- a short system prompt that states the reply length, says to tell the customer what to do
  and where ("website or app, e.g. My Orders"), which turns "Yes, you can." into an answer;
- instructions written in the reply's language: under English instructions the model tends to
  echo a Chinese question back instead of answering it, under Chinese ones it answers;
- the language pinned again as the last line ("Answer in Chinese (简体中文).");
- no one-shot example: the model copies the example's menu path into unrelated answers.

The wording is each language's `prompt.*` texts (services/common/locales); a language the platform
does not serve gets the English instructions and is asked to answer in the customer's language.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common import locales

DEFAULT_HISTORY_TURNS = 6
SUMMARY_SNIPPET_CHARS = 40
SUMMARY_SNIPPETS = 3


def _persona_default(language: str, key: str) -> str:
    """A Persona field whose default is the language's `persona.<key>` text."""
    return field(default_factory=lambda: locales.text(language, f"persona.{key}"))


@dataclass(frozen=True)
class Persona:
    """How one tenant's bot presents itself; the *_zh fields are used in Chinese prompts, the plain
    ones in English prompts and in those of a language without fields of its own.

    language: the reply language when the customer's cannot be told ("und").
    Set per tenant with `cs tenants persona` (services/common/storage/tenants.py); the defaults are the
    languages' `persona.*` texts."""

    brand: str
    voice: str = _persona_default("en", "voice")
    business: str = _persona_default("en", "business")
    voice_zh: str = _persona_default("zh", "voice")
    business_zh: str = _persona_default("zh", "business")
    language: str = "en"

    @classmethod
    def of(cls, tenant_id: str, stored: dict | None) -> Persona:
        """The tenant's stored persona over the defaults (the brand defaults to the tenant id)."""
        known = {f.name for f in dataclasses.fields(cls)}
        chosen = {k: v for k, v in (stored or {}).items() if k in known and isinstance(v, str) and v}
        return cls(**{"brand": tenant_id, **chosen})

    def in_language(self, language: str, name: str) -> str:
        """The field `name` ("voice", "business") for a prompt in `language`: `<name>_<language>` if Persona has it."""
        return getattr(self, f"{name}_{language}", getattr(self, name))


@dataclass(frozen=True)
class CustomerProfileView:
    """What the prompt may say about the customer (already PII-masked by the caller)."""

    display_name: str = ""
    tier: str = ""
    orders: tuple[str, ...] = ()  # order numbers the customer gave in this conversation, newest last


@dataclass(frozen=True)
class Turn:
    """One earlier message; author is "customer", "bot" or "agent"."""

    author: str
    text: str


@dataclass(frozen=True)
class PromptPassage:
    """A knowledge-base passage as the prompt numbers it: the reply may use it and cite it as [kb:<id>].

    Not the knowledge base's own passage (services/common/knowledge/index.py Passage): `id` is the
    label in this prompt ("1", "2", ...), which the answer path maps back to a chunk id."""

    id: str
    text: str
    title: str = ""


def language_instruction(language: str) -> str:
    """The sentence that pins the reply language (the model drifts to English otherwise)."""
    if locales.language_of(language) is None:
        return locales.text(language, "prompt.any_language_instruction")
    return locales.text(language, "prompt.language_instruction")


def build_messages(
    persona: Persona,
    language: str,
    profile: CustomerProfileView | None,
    history: Sequence[Turn],
    question: str,
    passages: Sequence[PromptPassage] = (),
    max_history_turns: int = DEFAULT_HISTORY_TURNS,
) -> list[dict[str, str]]:
    """Chat messages for the engine: a system prompt, the recent turns verbatim, the question.

    language is the customer's language code ("en", "zh", "zh-CN", ...). Only the last
    max_history_turns turns are kept word for word; older ones become one line in the system
    prompt, so a long conversation cannot push the instructions out of a small model's
    attention. Bot and agent turns are both the assistant's side.
    """
    history = list(history)
    recent = history[-max_history_turns:] if max_history_turns > 0 else []
    older = history[: len(history) - len(recent)]
    lang = locales.resolve(language)
    business, voice = persona.in_language(lang, "business"), persona.in_language(lang, "voice")
    lines = [
        locales.text(lang, "prompt.role", brand=persona.brand, business=business, voice=voice),
        locales.text(lang, "prompt.grounded_task" if passages else "prompt.task"),
        locales.text(lang, "prompt.no_invention"),
    ]
    if profile is not None and (profile.display_name or profile.tier):
        lines.append(_profile_line(lang, profile))
    if profile is not None and profile.orders:
        lines.append(locales.text(lang, "prompt.orders", orders=", ".join(profile.orders)))
    if older:
        lines.append(_older_line(lang, older))
    if passages:
        lines.append(locales.text(lang, "prompt.passages_intro"))
        lines.extend(_passage_line(p) for p in passages)
    lines.append(language_instruction(language))
    messages = [{"role": "system", "content": "\n".join(lines)}]
    for turn in recent:
        messages.append({"role": "user" if turn.author == "customer" else "assistant", "content": turn.text})
    messages.append({"role": "user", "content": question})
    return messages


def _profile_line(language: str, profile: CustomerProfileView) -> str:
    tier = locales.word(language, "prompt.tiers", profile.tier, lookup=profile.tier.lower())
    if profile.display_name:
        return locales.text(language, "prompt.profile_named", name=profile.display_name, tier=tier)
    return locales.text(language, "prompt.profile_anonymous", tier=tier)


def _older_line(language: str, older: Sequence[Turn]) -> str:
    said = [_clip(t.text) for t in older if t.author == "customer"][-SUMMARY_SNIPPETS:]
    shown = "; ".join(said) if said else locales.text(language, "prompt.nothing_asked")
    return locales.text(language, "prompt.older_turns", count=len(older), said=shown)


def _passage_line(passage: PromptPassage) -> str:
    title = f"{passage.title}: " if passage.title else ""
    return f"[kb:{passage.id}] {title}{' '.join(passage.text.split())}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_SNIPPET_CHARS else text[: SUMMARY_SNIPPET_CHARS - 1] + "…"

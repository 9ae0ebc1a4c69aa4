"""The chat prompt for a customer reply: persona, language, profile, recent history, passages.

Written for a 0.5B instruction model, which needs tight instructions: with a bare system
prompt it refuses ordinary requests ("Sorry, but I can't assist with that."), with a long
one it answers at length and drifts into English. So the system prompt is short, states
the reply length and the language explicitly, says what the bot may not invent, and the
language instruction is repeated last, closest to where the reply starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_HISTORY_TURNS = 6
SUMMARY_SNIPPET_CHARS = 40


@dataclass(frozen=True)
class Persona:
    """How one tenant's bot presents itself."""

    brand: str
    voice: str = "friendly and professional"
    business: str = "an online store"


@dataclass(frozen=True)
class CustomerProfileView:
    """What the prompt may say about the customer (already PII-masked by the caller)."""

    display_name: str = ""
    tier: str = ""


@dataclass(frozen=True)
class Turn:
    """One earlier message; author is "customer", "bot" or "agent"."""

    author: str
    text: str


@dataclass(frozen=True)
class Passage:
    """A knowledge-base passage the reply may use and cite as [kb:<id>]."""

    id: str
    text: str
    title: str = ""


def language_instruction(language: str) -> str:
    """The sentence that pins the reply language (the model drifts to English otherwise)."""
    code = language.strip().lower()
    if code.startswith("zh"):
        return "Answer in Chinese (简体中文)."
    if code.startswith("en"):
        return "Answer in English."
    return "Answer in the language of the customer's last message."


def build_messages(
    persona: Persona,
    language: str,
    profile: CustomerProfileView | None,
    history: Sequence[Turn],
    question: str,
    passages: Sequence[Passage] = (),
    max_history_turns: int = DEFAULT_HISTORY_TURNS,
) -> list[dict[str, str]]:
    """Chat messages for the engine: a system prompt, the recent turns verbatim, the question.

    Only the last max_history_turns turns are kept word for word; older ones become one line
    in the system prompt, so a long conversation cannot push the instructions out of a small
    model's attention. Bot and agent turns are both the assistant's side.
    """
    recent = list(history)[-max_history_turns:] if max_history_turns > 0 else []
    older = list(history)[: len(history) - len(recent)]
    messages = [{"role": "system", "content": _system_prompt(persona, language, profile, older, passages)}]
    for turn in recent:
        role = "user" if turn.author == "customer" else "assistant"
        messages.append({"role": role, "content": turn.text})
    messages.append({"role": "user", "content": question})
    return messages


def _system_prompt(
    persona: Persona,
    language: str,
    profile: CustomerProfileView | None,
    older: Sequence[Turn],
    passages: Sequence[Passage],
) -> str:
    # Wording tried against the 0.5B model on en/zh account, address and return questions:
    # "where (website or app, e.g. ...)" turns bare "Yes, you can." into an answer that says how;
    # a one-shot example made replies copy its menu path, and "Start your reply with 'Hi X'"
    # made it echo the customer's question, so neither is used.
    lines = [
        f"You are a helpful customer service assistant for {persona.brand}, {persona.business}. "
        f"Tone: {persona.voice}.",
        "Answer in 1-3 short sentences: tell the customer what they can do and where "
        "(website or app, e.g. 'My Orders' or 'Account settings').",
        "Do not make up order details (status, dates, amounts, tracking numbers); "
        "offer to have a colleague check instead.",
    ]
    if profile is not None and (profile.display_name or profile.tier):
        lines.append(_profile_line(profile))
    if older:
        lines.append(_older_turns_line(older))
    if passages:
        lines.append("Knowledge base (use it, and cite the passage you use like [kb:id]):")
        lines.extend(_passage_line(p) for p in passages)
    lines.append(language_instruction(language))
    return "\n".join(lines)


def _profile_line(profile: CustomerProfileView) -> str:
    tier = f"a {profile.tier} customer" if profile.tier else "a customer"
    if not profile.display_name:
        return f"You are talking to {tier}. Speak to them directly (you)."
    return f"You are talking to {profile.display_name}, {tier}. Speak to them directly (you), and greet them by name."


def _older_turns_line(older: Sequence[Turn]) -> str:
    """One line for the turns that no longer fit: what the customer said earlier, clipped."""
    said = [_clip(t.text) for t in older if t.author == "customer"]
    topics = "; ".join(said) if said else "no questions"
    return f"Earlier in this conversation ({len(older)} messages), the customer wrote: {topics}."


def _passage_line(passage: Passage) -> str:
    title = f"{passage.title}: " if passage.title else ""
    return f"[kb:{passage.id}] {title}{' '.join(passage.text.split())}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_SNIPPET_CHARS else text[: SUMMARY_SNIPPET_CHARS - 1] + "…"

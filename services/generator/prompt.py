"""The chat prompt for a customer reply: persona, language, profile, recent history, passages.

Written for a 0.5B instruction model (Qwen2.5-Coder-0.5B-Instruct), which needs tight
instructions: with a bare system prompt it refuses ordinary requests ("Sorry, but I can't
assist with that."), with a long one it answers at length and drifts into English. What
worked, tried on en/zh password, address, return and order-status questions:

- a short system prompt that states the reply length, says to tell the customer what to do
  and where ("website or app, e.g. My Orders"), which turns "Yes, you can." into an answer;
- instructions written in the reply's language: with English instructions the model often
  echoed a Chinese question back instead of answering it, with Chinese ones it answered;
- the language pinned again as the last line ("Answer in Chinese (简体中文).");
- no one-shot example: replies copied the example's menu path into unrelated answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_HISTORY_TURNS = 6
SUMMARY_SNIPPET_CHARS = 40
SUMMARY_SNIPPETS = 3


@dataclass(frozen=True)
class Persona:
    """How one tenant's bot presents itself; the *_zh fields are used in Chinese prompts.

    language: the reply language when the customer's cannot be told ("und").
    Set per tenant with `cs tenants persona` (services/common/storage/tenants.py)."""

    brand: str
    voice: str = "friendly and professional"
    business: str = "an online store"
    voice_zh: str = "友好、专业"
    business_zh: str = "一家网店"
    language: str = "en"

    @classmethod
    def of(cls, tenant_id: str, stored: dict | None) -> Persona:
        """The tenant's stored persona over the defaults (the brand defaults to the tenant id)."""
        known = {f.name for f in dataclasses.fields(cls)}
        chosen = {k: v for k, v in (stored or {}).items() if k in known and isinstance(v, str) and v}
        return cls(**{"brand": tenant_id, **chosen})


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
class Passage:
    """A knowledge-base passage the reply may use and cite as [kb:<id>]."""

    id: str
    text: str
    title: str = ""


def is_chinese(language: str) -> bool:
    return language.strip().lower().startswith("zh")


def language_instruction(language: str) -> str:
    """The sentence that pins the reply language (the model drifts to English otherwise)."""
    code = language.strip().lower()
    if is_chinese(code):
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

    language is the customer's language code ("en", "zh", "zh-CN", ...). Only the last
    max_history_turns turns are kept word for word; older ones become one line in the system
    prompt, so a long conversation cannot push the instructions out of a small model's
    attention. Bot and agent turns are both the assistant's side.
    """
    history = list(history)
    recent = history[-max_history_turns:] if max_history_turns > 0 else []
    older = history[: len(history) - len(recent)]
    wording = _ZH if is_chinese(language) else _EN
    lines = [
        wording.role.format(brand=persona.brand, business=wording.business(persona), voice=wording.voice(persona)),
        wording.grounded_task if passages else wording.task,
        wording.no_invention,
    ]
    if profile is not None and (profile.display_name or profile.tier):
        lines.append(wording.profile(profile))
    if profile is not None and profile.orders:
        lines.append(wording.orders_line.format(orders=", ".join(profile.orders)))
    if older:
        lines.append(wording.older(older))
    if passages:
        lines.append(wording.passages_intro)
        lines.extend(_passage_line(p) for p in passages)
    lines.append(language_instruction(language))
    messages = [{"role": "system", "content": "\n".join(lines)}]
    for turn in recent:
        messages.append({"role": "user" if turn.author == "customer" else "assistant", "content": turn.text})
    messages.append({"role": "user", "content": question})
    return messages


@dataclass(frozen=True)
class _Wording:
    role: str
    task: str
    grounded_task: str
    no_invention: str
    passages_intro: str
    profile_named: str
    profile_anonymous: str
    older_line: str
    orders_line: str
    nothing_asked: str
    tiers: dict[str, str]
    chinese: bool

    def business(self, persona: Persona) -> str:
        return persona.business_zh if self.chinese else persona.business

    def voice(self, persona: Persona) -> str:
        return persona.voice_zh if self.chinese else persona.voice

    def profile(self, profile: CustomerProfileView) -> str:
        tier = self.tiers.get(profile.tier.lower(), profile.tier)
        if profile.display_name:
            return self.profile_named.format(name=profile.display_name, tier=tier)
        return self.profile_anonymous.format(tier=tier)

    def older(self, older: Sequence[Turn]) -> str:
        said = [_clip(t.text) for t in older if t.author == "customer"][-SUMMARY_SNIPPETS:]
        return self.older_line.format(count=len(older), said="; ".join(said) if said else self.nothing_asked)


_EN = _Wording(
    role="You are a helpful customer service assistant for {brand}, {business}. Tone: {voice}.",
    task="Answer in 1-3 short sentences: tell the customer what they can do and where "
    "(website or app, e.g. 'My Orders' or 'Account settings').",
    grounded_task="Answer in 1-3 short sentences, using only the knowledge base below. It is written for our staff: "
    "tell the customer, in your own words, what it says applies to them, and cite the passage like [kb:1]. "
    "Speak to the customer as \"you\"; never write \"the customer\". "
    "If it does not answer the question, say that a colleague will help.",
    no_invention="Do not make up order details (status, dates, amounts, tracking numbers); "
    "offer to have a colleague check instead.",
    passages_intro="Knowledge base:",
    profile_named="You are talking to {name}, a {tier} customer. Speak to them directly (you), and greet them by name.",
    profile_anonymous="You are talking to a {tier} customer. Speak to them directly (you).",
    older_line="Earlier in this conversation ({count} messages) the customer wrote: {said}.",
    orders_line="Orders they mentioned in this conversation: {orders} (you cannot see their status).",
    nothing_asked="nothing yet",
    tiers={"": "valued"},
    chinese=False,
)

_ZH = _Wording(
    role="你是{brand}（{business}）的客服助手，语气{voice}。",
    task="用1到3句简短的话回答：告诉顾客可以怎么做、在哪里操作（网站或App，例如“我的订单”或“账户设置”）。",
    grounded_task="只根据下面的知识库，用1到3句简短的中文回答。知识库是写给员工的：请用自己的话告诉顾客其中适用于他的规定，"
    "并用[kb:1]这样的标记注明引用的段落。直接用“您”称呼顾客，不要复述顾客的问题。如果知识库没有答案，就说会请同事来帮忙。",
    no_invention="不要编造订单信息（状态、日期、金额、物流单号）；需要时说明会请同事核实。",
    passages_intro="知识库：",
    profile_named="你正在和{name}（{tier}顾客）对话，用“您”称呼并问候对方。",
    profile_anonymous="你正在和一位{tier}顾客对话，用“您”称呼对方。",
    older_line="此前的对话（共{count}条消息）中，顾客说过：{said}。",
    orders_line="顾客在本次对话中提到的订单号：{orders}（你看不到订单状态）。",
    nothing_asked="暂无问题",
    tiers={"vip": "VIP", "standard": "普通", "": "普通"},
    chinese=True,
)


def _passage_line(passage: Passage) -> str:
    title = f"{passage.title}: " if passage.title else ""
    return f"[kb:{passage.id}] {title}{' '.join(passage.text.split())}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_SNIPPET_CHARS else text[: SUMMARY_SNIPPET_CHARS - 1] + "…"

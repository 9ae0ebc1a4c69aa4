"""From a customer's question to a checked, grounded, cited answer, or the reason there is none.

The steps, each of which can end the answer early:
1. a prompt-injection attempt gets a refusal, and the LLM never sees the message, neither now nor in
   a later turn's history (guardrails.py);
2. the tenant's knowledge is searched; when no passage is about the question, the conversation is
   handed to a human (NO_KNOWLEDGE) instead of letting the model guess;
3. the prompt is built from the persona, profile, history and passages, with PII masked in every
   customer-written part (the LLM never sees an e-mail address, phone or card number);
4. the tokens stream to the caller as they are generated, citation markers held back;
5. the answer is checked (checks.py: language, PII, promises, refusals, echo, code; plus a leak of
   the system prompt) and a failure sends the safe fallback; then grounding (grounding.py): an answer
   the passages do not support is handed to a human (ANSWER_CHECK_FAILED) rather than sent.

The worker turns the outcome into replies and escalations; `bench/eval_answers.py` calls the same
code, so what is measured is what customers get. Knows nothing of Kafka or gRPC.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from services.common.knowledge.index import Hit
from services.common.platform.pii import mask_pii
from services.generator.checks import check_answer, fallback_reply
from services.generator.grounding import GroundingChecker, remove_markers, strip_markers
from services.generator.guardrails import find_injection, injection_refusal, leaks_prompt
from services.generator.prompt import CustomerProfileView, Persona, PromptPassage, Turn, build_messages
from services.generator.retrieval import Retriever

PROMPT_LEAK = "prompt_leak"
SHORT_QUESTION_CHARS = 20  # a shorter message ("and for gold members?") is searched together with the one before


class Outcome(enum.StrEnum):
    ANSWER = "answer"
    FALLBACK = "fallback"  # generated, failed its checks: the safe fallback text goes out
    REFUSAL = "refusal"  # prompt injection: refused without generating
    HANDOVER = "handover"  # no knowledge, or an answer the knowledge does not support: a human takes over


@dataclass(frozen=True)
class Question:
    tenant_id: str
    text: str
    language: str  # the reply's language, one of services.common.locales.languages()
    history: Sequence[Turn] = ()
    profile: CustomerProfileView | None = None
    persona: Persona | None = None


@dataclass
class AnswerResult:
    outcome: Outcome
    text: str  # what the customer reads; empty for a handover (the worker sends the handover notice)
    reason: str = ""  # machine-readable: no_knowledge, not_grounded, prompt_injection, or the failed checks
    detail: str = ""  # human-readable, for the escalation and the logs
    citations: tuple[str, ...] = ()
    hits: list[Hit] = field(default_factory=list)
    prompt: list[dict[str, str]] = field(default_factory=list)
    generated: str = ""
    first_token_seconds: float = 0.0
    generation_seconds: float = 0.0


TokenSink = Callable[[str], Awaitable[None]]


class Answerer:
    def __init__(
        self,
        llm,
        retriever: Retriever,
        grounding: GroundingChecker,
        max_new_tokens: int,
        require_knowledge: bool = True,
    ) -> None:
        self.llm = llm  # BatchedEngine: async stream(messages, max_new_tokens), .engine.tokenizer
        self.retriever = retriever
        self.grounding = grounding
        self.max_new_tokens = max_new_tokens
        self.require_knowledge = require_knowledge

    async def answer(self, q: Question, on_token: TokenSink | None = None) -> AnswerResult:
        injection = find_injection(q.text)
        if injection is not None:
            return AnswerResult(
                Outcome.REFUSAL,
                injection_refusal(q.language),
                f"prompt_injection:{injection.kind}",
                "the message tries to change the assistant's instructions",
            )
        masked = mask_question(q)
        hits = await self.retriever.search(q.tenant_id, retrieval_query(masked))
        relevant = self.retriever.relevant(hits)
        if not relevant and self.require_knowledge:
            best = f"{hits[0].score:.3f}" if hits else "none"
            return AnswerResult(
                Outcome.HANDOVER,
                "",
                "no_knowledge",
                f"no knowledge-base passage is about this (best score {best}, "
                f"needs {self.retriever.settings.min_score:.3f})",
                hits=hits,
            )
        labels = {str(i + 1): h.passage.chunk_id for i, h in enumerate(relevant)}
        prompt_passages = [PromptPassage(str(i + 1), h.passage.text, h.passage.title) for i, h in enumerate(relevant)]
        messages = build_messages(
            masked.persona or Persona(brand=q.tenant_id),
            q.language,
            masked.profile,
            masked.history,
            masked.text,
            prompt_passages,
        )
        result = AnswerResult(Outcome.ANSWER, "", hits=relevant, prompt=messages)
        await self._generate(messages, result, on_token)
        return await asyncio.to_thread(self._judge, q, result, labels)  # the encoder runs off the event loop

    async def _generate(self, messages: list[dict[str, str]], result: AnswerResult, on_token: TokenSink | None) -> None:
        started = time.perf_counter()
        parts: list[str] = []
        markers = MarkerFilter()
        async for delta in self.llm.stream(messages, self.max_new_tokens):
            if not parts:
                result.first_token_seconds = time.perf_counter() - started
            parts.append(delta)
            shown = markers.feed(delta)
            if on_token is not None and shown:
                await on_token(shown)
        if on_token is not None and (rest := markers.flush()):
            await on_token(rest)
        result.generation_seconds = time.perf_counter() - started
        result.generated = "".join(parts)

    def _judge(self, q: Question, result: AnswerResult, labels: dict[str, str]) -> AnswerResult:
        passages = [h.passage for h in result.hits]
        policy_text = "\n".join(f"{p.title} {p.text}" for p in passages)
        cut_off = (
            len(self.llm.engine.tokenizer.encode(result.generated, add_special_tokens=False)) >= self.max_new_tokens
        )
        check = check_answer(result.generated, q.language, q.text, cut_off=cut_off, policy_text=policy_text)
        problems = list(check.problems)
        if leaks_prompt(check.cleaned_text, instructions_of(result.prompt)):
            problems.append(PROMPT_LEAK)
        if problems:
            return replace(
                result,
                outcome=Outcome.FALLBACK,
                text=fallback_reply(q.language),
                reason=",".join(problems),
                detail="the generated answer failed its checks: " + ", ".join(problems),
            )
        if not passages:  # knowledge not required and none found: checked, but nothing to ground in
            return replace(result, text=strip_markers(check.cleaned_text)[0])
        grounding = self.grounding.check(check.cleaned_text, passages, labels, q.text)
        if not grounding.grounded:
            return replace(
                result,
                outcome=Outcome.HANDOVER,
                reason="not_grounded",
                detail=f"answer not supported by the knowledge base ({', '.join(grounding.problems)}; "
                f"{grounding.support:.0%} of its statements supported)",
            )
        return replace(result, text=grounding.text, citations=grounding.citations)


def instructions_of(prompt: list[dict[str, str]]) -> str:
    """The system prompt without its knowledge passages (quoting a passage is the point, not a leak)."""
    return "\n".join(line for line in prompt[0]["content"].splitlines() if not line.startswith("[kb:"))


def mask_question(q: Question) -> Question:
    """The question with PII masked in everything the customer (or an agent) wrote, and without the
    earlier turns that tried a prompt injection (refused then, they must not reach the LLM now)."""
    profile = q.profile
    if profile is not None:
        profile = replace(profile, display_name=mask_pii(profile.display_name))
    return replace(
        q, text=mask_pii(q.text), history=[Turn(t.author, mask_pii(t.text)) for t in safe_history(q.history)]
    )


def safe_history(history: Sequence[Turn]) -> list[Turn]:
    """The turns without each customer message that tries a prompt injection and the reply to it."""
    kept: list[Turn] = []
    skipping = False
    for turn in history:
        if turn.author == "customer":
            skipping = find_injection(turn.text) is not None
        if not skipping:
            kept.append(turn)
    return kept


def retrieval_query(q: Question) -> str:
    """What to search for: the message, with the previous customer message when this one is a short follow-up."""
    if len(q.text.strip()) >= SHORT_QUESTION_CHARS:
        return q.text
    earlier = [t.text for t in q.history if t.author == "customer"]
    return f"{earlier[-1]} {q.text}" if earlier else q.text


class MarkerFilter:
    """Holds back streamed text from an opening "[" or "【" until it is known not to be a [kb:n] marker."""

    HOLD_CHARS = 12

    def __init__(self) -> None:
        self._held = ""

    def feed(self, delta: str) -> str:
        text = self._held + delta
        cut = max(text.rfind("["), text.rfind("【"))
        if cut == -1 or any(c in text[cut:] for c in "]】") or len(text) - cut > self.HOLD_CHARS:
            self._held = ""
            return remove_markers(text)
        self._held = text[cut:]
        return text[:cut]

    def flush(self) -> str:
        rest, self._held = self._held, ""
        return remove_markers(rest)

"""From a customer's question to a checked, grounded, cited answer, or the reason there is none.

The steps, each of which can end the answer early:
1. a prompt-injection attempt gets a refusal, and the LLM never sees the message, neither now nor in
   a later turn's history (guardrails.py);
2. the tenant's passages in the customer's language are ranked by the fitted scorer (ranking.py) and
   the gate estimates whether the best one answers the question; below its threshold the conversation
   is handed to a human (NO_KNOWLEDGE) instead of answering from a passage that probably does not. Above
   it, that passage is the answer (style "extract", the default): the article's own words with their
   conditions and exceptions, grounded by construction, streamed at once, nothing to retract;
3. when the tenant has no passage in the customer's language (or the knowledge was ingested without the
   ranking encoder), the knowledge is searched across languages, a question no passage is about is
   handed over, and the sentences that answer are selected (selection.py, with their conditions
   attached); the LLM puts them into the customer's language (or rewords them, style "phrase") from a
   prompt that holds only those sentences, and its text is checked as in 5 before the customer sees any
   of it;
4. without knowledge (CS_GENERATOR_REQUIRE_KNOWLEDGE=false and nothing relevant) the prompt is built from
   the persona, profile and history, PII masked in every customer-written part, and the tokens stream as
   they are generated, citation markers held back;
5. a generated answer is checked (checks.py: language, PII, promises, refusals, echo, code; plus a leak of
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

from services.common import locales
from services.common.knowledge.index import Hit
from services.common.platform.pii import mask_pii
from services.generator.checks import check_answer, fallback_reply, sentences
from services.generator.grounding import GroundingChecker, remove_markers, strip_markers
from services.generator.guardrails import find_injection, injection_refusal, leaks_prompt
from services.generator.prompt import CustomerProfileView, Persona, PromptPassage, Turn, build_messages
from services.generator.ranking import FOLLOW_UP_RANK, GATE, Ranked
from services.generator.retrieval import Retriever, topic_of
from services.generator.selection import (
    Selection,
    SentenceSelector,
    article_answer,
    covers_numbers,
    prefer_language,
)

PROMPT_LEAK = "prompt_leak"
STYLE_EXTRACT = "extract"  # the selected sentences are the answer; the LLM only translates
STYLE_PHRASE = "phrase"  # the LLM rewords the selected sentences; checked against them
STYLES = (STYLE_EXTRACT, STYLE_PHRASE)


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
    stages: dict[str, float] = field(default_factory=dict)  # seconds in "retrieval" and "checks", when reached


TokenSink = Callable[[str], Awaitable[None]]


class Answerer:
    def __init__(
        self,
        llm,
        retriever: Retriever,
        grounding: GroundingChecker,
        max_new_tokens: int,
        require_knowledge: bool = True,
        style: str = STYLE_EXTRACT,
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"answer style {style!r} is not one of {', '.join(STYLES)}")
        self.llm = llm  # BatchedEngine: async stream(messages, max_new_tokens), .engine.tokenizer
        self.retriever = retriever
        self.grounding = grounding
        self.selector = SentenceSelector(grounding)
        self.max_new_tokens = max_new_tokens
        self.require_knowledge = require_knowledge
        self.style = style

    async def answer(self, q: Question, on_token: TokenSink | None = None) -> AnswerResult:
        stages: dict[str, float] = {}
        result = await self._answer(q, on_token, stages)
        result.stages = stages
        return result

    async def _answer(self, q: Question, on_token: TokenSink | None, stages: dict[str, float]) -> AnswerResult:
        injection = find_injection(q.text)
        if injection is not None:
            return AnswerResult(
                Outcome.REFUSAL,
                injection_refusal(q.language),
                f"prompt_injection:{injection.kind}",
                "the message tries to change the assistant's instructions",
            )
        masked = mask_question(q)
        started = time.perf_counter()
        ranked = await self.retriever.rank(q.tenant_id, queries_of(masked), locales.resolve(q.language))
        if ranked is not None:
            answered = await self._answer_ranked(q, masked, ranked, on_token, stages, started)
            if answered is not None:
                return answered
        query, hits = await self._search(masked)  # those in the customer's language first
        relevant = self.retriever.relevant(hits)
        stages["retrieval"] = time.perf_counter() - started
        if not relevant and self.require_knowledge:
            best = f"{hits[0].score:.3f}" if hits else "none"
            needs = f"{self.retriever.settings.min_score:.3f}"
            return no_knowledge(f"no knowledge-base passage is about this (best score {best}, needs {needs})", hits)
        if relevant:
            rank_query = await self.retriever.rank_query(topic_of(query))
            selection = await asyncio.to_thread(self.selector.select, query, relevant, rank_query)
            stages["retrieval"] = time.perf_counter() - started
            needed = self.selector.limits.min_score
            if selection is not None and selection.score >= needed:
                return await self._answer_from(q, masked, selection, relevant, on_token, stages)
            if self.require_knowledge:
                best = f"{selection.score:.3f}" if selection is not None else "none"
                return no_knowledge(
                    f"passages are about the topic but no sentence answers this (best sentence score {best}, "
                    f"needs {needed:.2f})",
                    relevant,
                )
        labels = {str(i + 1): h.passage.chunk_id for i, h in enumerate(relevant)}
        prompt_passages = [PromptPassage(str(i + 1), h.passage.text, h.passage.title) for i, h in enumerate(relevant)]
        messages = prompt_for(q, masked, prompt_passages)
        result = AnswerResult(Outcome.ANSWER, "", hits=relevant, prompt=messages)
        await self._generate(messages, result, on_token)
        return await self._checked(q, result, labels, stages)

    async def _answer_ranked(
        self,
        q: Question,
        masked: Question,
        ranked: Ranked,
        on_token: TokenSink | None,
        stages: dict[str, float],
        started: float,
    ) -> AnswerResult | None:
        """The answer made of the best passage (ranking.py), or the handover when the gate doubts that it
        answers the question. None when knowledge is optional and the gate doubts it: the caller then
        lets the LLM answer without a passage, as before (Retriever.rank leaves knowledge written for
        staff to the sentence selection)."""
        view = ranked.view
        hits = [
            Hit(view.passages[j], float(ranked.features[j, 0]), float(ranked.scores[j]))
            for j in ranked.order[: self.retriever.settings.k]
        ]
        stages["retrieval"] = time.perf_counter() - started
        needed = GATE.threshold
        if ranked.probability < needed:
            if not self.require_knowledge:
                return None
            return no_knowledge(
                f"no passage answers this with enough confidence (best score {ranked.probability:.2f}, "
                f"needs {needed:.2f})",
                hits,
            )
        passage = hits[0].passage
        if passage.language == locales.resolve(q.language) and self.style == STYLE_EXTRACT:
            selection = article_answer([h.passage for h in hits[:2]], ranked.probability)
        else:  # to be translated or reworded: the sentences of the passage that answer, not all of it
            rank_query = await self.retriever.rank_query(topic_of(masked.text))
            selection = await asyncio.to_thread(self.selector.select, masked.text, hits[:1], rank_query)
        stages["retrieval"] = time.perf_counter() - started
        if selection is None:
            return no_knowledge("the best passage has nothing a customer can be told (best score none)", hits)
        return await self._answer_from(q, masked, selection, hits, on_token, stages)

    async def _search(self, q: Question) -> tuple[str, list[Hit]]:
        """The query and its best passages, those in the customer's language first (the other language's
        versions of the same articles would otherwise fill the k places). A follow-up ("and for gold
        members?", "那金卡呢") is searched together with the customer's previous message when that finds
        closer passages than the message alone, and its best passage is among the message's own
        FOLLOW_UP_RANK best (else the message is a new question, as in ranking.py)."""
        k = self.retriever.settings.k
        language = locales.resolve(q.language)
        alone = prefer_language(await self.retriever.search(q.tenant_id, q.text, 2 * k, language), language)[:k]
        earlier = [t.text for t in q.history if t.author == "customer"]
        if not earlier:
            return q.text, alone
        query = f"{earlier[-1]} {q.text}"
        hits = prefer_language(await self.retriever.search(q.tenant_id, query, 2 * k, language), language)[:k]
        own = [h.passage.chunk_id for h in alone[:FOLLOW_UP_RANK]]
        if hits and (not alone or (hits[0].score > alone[0].score and hits[0].passage.chunk_id in own)):
            return query, hits
        return q.text, alone

    async def _answer_from(
        self,
        q: Question,
        masked: Question,
        selection: Selection,
        relevant: list[Hit],
        on_token: TokenSink | None,
        stages: dict[str, float],
    ) -> AnswerResult:
        """The answer made of the selected sentences: sent as the article wrote them when the article is in
        the customer's language (style "extract"), otherwise put by the LLM into the customer's language (or
        reworded, style "phrase") and checked against those sentences alone."""
        passage = selection.passage
        same_language = passage.language == locales.resolve(q.language)
        if same_language and self.style == STYLE_EXTRACT:
            text = selection.text
            await stream_sentences(text, on_token)  # the article's own sentences: nothing to retract
            return AnswerResult(Outcome.ANSWER, text, citations=selection.chunk_ids, hits=relevant)
        selected = replace(passage, text=selection.text)
        messages = prompt_for(q, masked, [PromptPassage("1", selected.text, passage.title)])
        result = AnswerResult(Outcome.ANSWER, "", hits=[Hit(selected, relevant[0].score)], prompt=messages)
        await self._generate(messages, result, None)  # nothing is shown before it is checked
        judged = await self._checked(q, result, {"1": passage.chunk_id}, stages)
        if judged.outcome == Outcome.ANSWER and not covers_numbers(judged.text, selection):
            if same_language:  # the rewording lost a fact: the sentences themselves are the answer
                judged = replace(judged, text=selection.text, citations=(passage.chunk_id,))
            else:
                detail = "the translation lost a number of the selected sentences"
                return replace(judged, outcome=Outcome.HANDOVER, reason="not_grounded", detail=detail)
        elif judged.outcome != Outcome.ANSWER and same_language:
            judged = replace(judged, outcome=Outcome.ANSWER, text=selection.text, citations=(passage.chunk_id,))
        if judged.outcome == Outcome.ANSWER:
            await stream_sentences(judged.text, on_token)
        return judged

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

    async def _checked(
        self, q: Question, result: AnswerResult, labels: dict[str, str], stages: dict[str, float]
    ) -> AnswerResult:
        started = time.perf_counter()
        judged = await asyncio.to_thread(self._judge, q, result, labels)  # the encoder runs off the event loop
        stages["checks"] = time.perf_counter() - started
        return judged

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


def queries_of(q: Question) -> list[str]:
    """The question, and for a follow-up ("and for gold members?", "那金卡呢") also the question after
    the customer's previous message: what the passages are scored with."""
    earlier = [t.text for t in q.history if t.author == "customer"]
    return [q.text, f"{earlier[-1]} {q.text}"] if earlier else [q.text]


def no_knowledge(detail: str, hits: list[Hit]) -> AnswerResult:
    """The handover when the knowledge base does not answer the question."""
    return AnswerResult(Outcome.HANDOVER, "", "no_knowledge", detail, hits=hits)


def prompt_for(q: Question, masked: Question, passages: Sequence[PromptPassage]) -> list[dict[str, str]]:
    """The chat prompt for the masked question with these passages (the brand defaults to the tenant id)."""
    persona = masked.persona or Persona(brand=q.tenant_id)
    return build_messages(persona, q.language, masked.profile, masked.history, masked.text, passages)


async def stream_sentences(text: str, on_token: TokenSink | None) -> None:
    """A checked answer to the caller sentence by sentence; together the pieces are exactly `text`."""
    if on_token is None:
        return
    for piece in sentences(text):
        await on_token(piece)


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

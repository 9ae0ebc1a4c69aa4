"""Sentence-level answers: the passage sentences that answer a question, with their conditions attached.

A small model asked to answer from whole passages drops conditions ("yes, you can" where the article
says "only before shipping"), mixes the two language versions of an article and states the opposite
of what it read. Selecting the answering sentences first makes an answer grounded by construction:

1. passages in the customer's language are preferred when the tenant has them (the same article in
   English and Chinese: the Chinese customer gets the Chinese sentences, menu names included);
2. every sentence (clause) of the relevant passages is scored against the question: the cosine of the
   multilingual sentence encoder, plus the ranking encoder's cosine (centred, when the passage was
   ingested with its vectors), plus the share of the question's terms (English content words, Chinese
   character pairs) that the sentence holds, plus the passage's retrieval score (the topic);
3. the best sentence is kept with what belongs to it: the sentence before when it opens with a
   reference back ("This", "该"), a list with its lead line, and the next sentence when it states a
   condition or exception ("Only", "unless", "但", "仅"); a second sentence is added when it scores
   nearly as well (an answer in two sentences);
4. the sentences are returned in the passage's order, as the article wrote them. Questions and staff talk
   about "the customer" (agent guidelines) are never chosen as the answering sentence.

Which words open a condition or a reference back are each language's `selection.*` lists
(services/common/locales). The answer path (answering.py) sends the selection as the answer, or has the
LLM translate it when no passage is in the customer's language, and checks what the LLM wrote against it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.common import locales
from services.common.knowledge.documents import clauses
from services.common.knowledge.index import Hit, Passage
from services.generator.checks import in_staff_voice, numbers_in
from services.generator.grounding import UNIT_CLASSES, GroundingChecker, quantities, terms

_CONDITION_RE = re.compile(r"^\s*(?:" + "|".join(locales.all_cues("selection.condition_openers")) + r")", re.I)
_BACK_REFERENCE_RE = re.compile(r"^\s*(?:" + "|".join(locales.all_cues("selection.back_references")) + r")", re.I)
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_ASKS_RE = {
    cls: re.compile("|".join(cues), re.I) for cls in UNIT_CLASSES if (cues := locales.all_cues(f"selection.asks.{cls}"))
}


def asked_quantities(question: str) -> set[str]:
    """The unit classes (grounding.UNIT_CLASSES) of the quantity a question asks for: "how much" asks
    for money, "how long" for days, hours, weeks...; empty when it asks for none."""
    return {cls for cls, pattern in _ASKS_RE.items() if pattern.search(question)}


@dataclass(frozen=True)
class SelectionLimits:
    """second_share: another sentence of the best passage joins when it scores at least this share of
    the best (among the next `candidates` best); max_units: sentences in an answer (a list counts as one);
    max_chars: its length. Tuned on the tune split of bench/data/helpcentre (more context kept more of
    the facts a question needs: 0.92/2 gave 27 en + 49 zh correct of 92 + 93, 0.5/6 gave 42 + 63).
    min_score: the best sentence's combined score under which the question is handed over; at 0.6 the
    tune split lost 5 correct answers, and 9 wrong answers plus 5 of 11 answered unanswerable questions
    became handovers. rank_weight, rank_centre: the ranking encoder's cosine e counts rank_weight * (e -
    rank_centre) (its cosines sit between ~0.75 and ~0.95); with it the tune split went from 40 + 61 correct
    and 27 + 26 wrong (en + zh) to 47 + 70 correct and 22 + 22 wrong, with min_score raised to 0.7 (0.8:
    43 + 68 correct, 19 + 19 wrong; 0.9: 40 + 67, 16 + 17)."""

    second_share: float = 0.5
    candidates: int = 6
    max_units: int = 4
    max_chars: int = 600
    term_weight: float = 0.5
    passage_weight: float = 0.5
    min_score: float = 0.7  # below it no sentence answers the question: a handover, not a guess
    rank_weight: float = 3.0
    rank_centre: float = 0.8
    # by the passage's language where its cosines sit higher: Chinese at 0.85 gave the tune split 71
    # correct, 17 wrong, 2 unanswerable answered (0.8: 72, 20, 4; 0.9: 60, 14, 1)
    rank_centres: tuple[tuple[str, float], ...] = (("zh", 0.85),)
    asked_weight: float = 0.3  # a sentence holding the kind of quantity the question asks for


@dataclass(frozen=True)
class Selection:
    passage: Passage
    units: tuple[str, ...]  # in passage order
    score: float  # the best sentence's combined score
    more: tuple[Passage, ...] = ()  # further passages of the same article whose sentences follow (article_answer)

    @property
    def chunk_ids(self) -> tuple[str, ...]:
        """The passages the answer is made of, to cite."""
        return (self.passage.chunk_id, *(p.chunk_id for p in self.more))

    @property
    def text(self) -> str:
        joined = ""
        for unit in self.units:
            if not joined:
                joined = unit
            elif _LIST_ITEM_RE.match(unit) or joined.endswith((":", "：")):
                joined += "\n" + unit
            elif _is_cjk(joined[-1]) or _is_cjk(unit[0]):
                joined += unit
            else:
                joined += " " + unit
        return joined


def _is_cjk(char: str) -> bool:
    return "\u3000" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef"


def answers_customer(unit: str) -> bool:
    """Whether a sentence can be told to a customer: not a question, not staff talk about "the customer"
    (agent guidelines describe the situation before the policy)."""
    stripped = unit.strip()
    return not stripped.endswith(("?", "？")) and not in_staff_voice(stripped)


def passage_answer(passage: Passage, score: float) -> Selection | None:
    """A whole passage as the answer: its sentences that can be told to a customer (not the title, no
    questions, no staff talk), in its order; None when it has none. ranking.py says why a passage."""
    every = clauses("", passage.text)
    units = [u for u in every if answers_customer(u)]
    if not units:
        return None
    return Selection(passage, (_list_lines(passage.text),) if len(units) == len(every) else tuple(units), score)


def article_answer(ranked: Sequence[Passage], score: float) -> Selection | None:
    """The best passage as the answer (`passage_answer`), joined by the second best when that is another
    passage of the same article in the same language: an article split into passages often states a rule
    in one and its condition, price or exception in the next, and when the ranking puts both on top the
    answer needs both. They follow in the article's order. `ranked`: passages best first. None when the
    best passage has nothing a customer can be told. On the help-centre tune split (same answer gate):
    en 56 -> 58 correct, 5 -> 3 wrong; zh unchanged (its articles rank one passage on top)."""
    best = passage_answer(ranked[0], score) if ranked else None
    if best is None:
        return None
    runner_up = ranked[1] if len(ranked) > 1 else None
    if (
        runner_up is None
        or runner_up.doc_id != ranked[0].doc_id
        or runner_up.language != ranked[0].language
        or runner_up.chunk_id == ranked[0].chunk_id
    ):
        return best
    other = passage_answer(runner_up, score)
    if other is None:
        return best
    parts = sorted((best, other), key=lambda sel: _position(sel.passage))
    return Selection(ranked[0], ("\n".join(sel.text for sel in parts),), score, more=(runner_up,))


def _position(passage: Passage) -> int:
    """Where a passage sits in its article: chunk ids are `<doc id>#<n>` (documents.chunk)."""
    tail = passage.chunk_id.rpartition("#")[2]
    return int(tail) if tail.isdigit() else 0


_INLINE_ITEM_RE = re.compile(r"(?<=[:;.：；。])[ \t]+(?=[-*•][ \t])")


def _list_lines(text: str) -> str:
    """A list that ingestion ran into one line ("Times: - cards: 5 days; - PayPal: 3 days") on lines again."""
    return _INLINE_ITEM_RE.sub("\n", text)


def prefer_language(hits: Sequence[Hit], language: str) -> list[Hit]:
    """The hits in the customer's language when there are any, else all of them."""
    own = [h for h in hits if h.passage.language == language]
    return own or list(hits)


class SentenceSelector:
    def __init__(self, grounding: GroundingChecker, limits: SelectionLimits | None = None) -> None:
        self.grounding = grounding  # the encoder and its cache of clause vectors
        self.limits = limits or SelectionLimits()

    def select(self, question: str, hits: Sequence[Hit], rank_query: np.ndarray | None = None) -> Selection | None:
        """The answering sentences of the best passage, or None when no sentence can be told to a customer.
        `rank_query`: the ranking encoder's vector of the question (Retriever.rank_query), used for the
        passages that carry the ranking encoder's clause vectors."""
        if not hits:
            return None
        query = self.grounding.encoder.encode_one(question)
        wanted = terms(question)
        asked = asked_quantities(question)
        scored: list[tuple[float, int, int]] = []  # (score, hit index, unit index)
        units_of: list[list[str]] = []
        for h_i, hit in enumerate(hits):
            units, vectors = self.grounding.clause_vectors(hit.passage)
            units_of.append(units)
            first = 1 if hit.passage.title and units and units[0] == hit.passage.title else 0
            cosines = vectors @ query
            ranked = hit.passage.rank_clauses
            rank_cosines = ranked @ rank_query if ranked is not None and rank_query is not None else None
            centre = dict(self.limits.rank_centres).get(hit.passage.language, self.limits.rank_centre)
            if rank_cosines is not None and len(rank_cosines) != len(units):
                rank_cosines = None  # split differently from when it was ingested: the sentence encoder alone
            for u_i in range(first, len(units)):
                if not answers_customer(units[u_i]):
                    continue
                overlap = len(wanted & terms(units[u_i])) / len(wanted) if wanted else 0.0
                score = float(cosines[u_i]) + self.limits.term_weight * overlap + self.limits.passage_weight * hit.score
                if rank_cosines is not None:
                    score += self.limits.rank_weight * (float(rank_cosines[u_i]) - centre)
                if asked and asked & {cls for _, cls in quantities(units[u_i])}:
                    score += self.limits.asked_weight
                scored.append((score, h_i, u_i))
        if not scored:
            return None
        scored.sort(reverse=True)
        best_score, h_best, u_best = scored[0]
        units = units_of[h_best]
        chosen = set(self._with_context(units, u_best))
        for score, h_i, u_i in scored[1 : 1 + self.limits.candidates]:
            if h_i == h_best and score >= self.limits.second_share * best_score and u_i not in chosen:
                chosen |= set(self._with_context(units, u_i))
        listed = in_list(units)
        kept: list[int] = []
        for index in sorted(chosen):  # the best sentence's block first in priority when trimming
            sentences = sum(1 for k in kept if not listed[k])  # a list's lines count as one
            if (
                sentences >= self.limits.max_units
                or sum(len(units[k]) for k in kept) + len(units[index]) > self.limits.max_chars
            ):
                if index > u_best:
                    break
                continue
            kept.append(index)
        if u_best not in kept:
            kept = [u_best]
        return Selection(hits[h_best].passage, tuple(close_cut_sentences(units, kept)), best_score)

    def _with_context(self, units: Sequence[str], index: int) -> list[int]:
        """The sentence with what belongs to it: a back reference's antecedent, its list, a condition."""
        chosen = [index]
        listed = in_list(units)
        first = 1 if units and not units[0].rstrip().endswith((".", "。", ":", "：")) else 0  # skip the title
        lead = index
        if listed[index]:  # a list line: its lead line and the whole list
            while lead > first and listed[lead]:
                lead -= 1
            chosen.append(lead)
        if lead > first and (_BACK_REFERENCE_RE.match(units[lead]) or units[lead - 1].rstrip().endswith((":", "："))):
            chosen.append(lead - 1)
        end = index
        if units[index].rstrip().endswith((":", "：")) or listed[index]:
            while end + 1 < len(units) and listed[end + 1]:
                end += 1
                chosen.append(end)
        if end + 1 < len(units) and _CONDITION_RE.match(units[end + 1]):
            chosen.append(end + 1)
        return sorted(set(chosen))


def in_list(units: Sequence[str]) -> list[bool]:
    """Per sentence, whether it is a line of a list: a list item, or a sentence between two of them
    (the rest of an item's line: "- Standard: 6.95 USD. Free over 75 USD." is two sentences)."""
    listed = [bool(_LIST_ITEM_RE.match(u)) for u in units]
    for i in range(1, len(units) - 1):
        if not listed[i] and listed[i - 1] and listed[i + 1]:
            listed[i] = True
    return listed


def close_cut_sentences(units: Sequence[str], kept: Sequence[int]) -> list[str]:
    """The kept sentences; one cut at a ";" whose next part was left out ends with a full stop instead,
    so two sentences of the article are not joined as if they were one."""
    out = []
    for position, index in enumerate(kept):
        unit = units[index]
        following = kept[position + 1] if position + 1 < len(kept) else None
        if following != index + 1 and unit.rstrip().endswith((";", "；")):
            stripped = unit.rstrip()
            unit = stripped[:-1] + ("。" if stripped.endswith("；") else ".")
        out.append(unit)
    return out


def covers_numbers(answer: str, selection: Selection) -> bool:
    """Whether a rewording kept every number of the selected sentences (a dropped "30 days" is a lost fact)."""
    return numbers_in(selection.text) <= numbers_in(answer)

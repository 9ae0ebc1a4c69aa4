"""Sentence-level answers: the passage sentences that answer a question, with their conditions attached.

A small model asked to answer from whole passages drops conditions ("yes, you can" where the article
says "only before shipping"), mixes the two language versions of an article and states the opposite
of what it read. Selecting the answering sentences first makes an answer grounded by construction:

1. passages in the customer's language are preferred when the tenant has them (the same article in
   English and Chinese: the Chinese customer gets the Chinese sentences, menu names included);
2. every sentence (clause) of the relevant passages is scored against the question: the cosine of the
   multilingual encoder plus the share of the question's terms (English content words, Chinese character
   pairs) that the sentence holds, plus the passage's retrieval score (the topic);
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

from services.common import locales
from services.common.knowledge.index import Hit, Passage
from services.generator.checks import in_staff_voice, numbers_in
from services.generator.grounding import GroundingChecker, terms

_CONDITION_RE = re.compile(r"^\s*(?:" + "|".join(locales.all_cues("selection.condition_openers")) + r")", re.I)
_BACK_REFERENCE_RE = re.compile(r"^\s*(?:" + "|".join(locales.all_cues("selection.back_references")) + r")", re.I)
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")


@dataclass(frozen=True)
class SelectionLimits:
    """second_share: another sentence of the best passage joins when it scores at least this share of
    the best (among the next `candidates` best); max_units: sentences in an answer (a list counts as one);
    max_chars: its length. Tuned on the tune split of bench/data/helpcentre (more context kept more of
    the facts a question needs: 0.92/2 gave 27 en + 49 zh correct of 92 + 93, 0.5/6 gave 42 + 63).
    min_score: the best sentence's combined score under which the question is handed over; at 0.6 the
    tune split lost 5 correct answers, and 9 wrong answers plus 5 of 11 answered unanswerable questions
    became handovers."""

    second_share: float = 0.5
    candidates: int = 6
    max_units: int = 4
    max_chars: int = 600
    term_weight: float = 0.5
    passage_weight: float = 0.5
    min_score: float = 0.6  # below it no sentence answers the question: a handover, not a guess


@dataclass(frozen=True)
class Selection:
    passage: Passage
    units: tuple[str, ...]  # in passage order
    score: float  # the best sentence's combined score

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


def prefer_language(hits: Sequence[Hit], language: str) -> list[Hit]:
    """The hits in the customer's language when there are any, else all of them."""
    own = [h for h in hits if h.passage.language == language]
    return own or list(hits)


class SentenceSelector:
    def __init__(self, grounding: GroundingChecker, limits: SelectionLimits | None = None) -> None:
        self.grounding = grounding  # the encoder and its cache of clause vectors
        self.limits = limits or SelectionLimits()

    def select(self, question: str, hits: Sequence[Hit]) -> Selection | None:
        if not hits:
            return None
        query = self.grounding.encoder.encode_one(question)
        wanted = terms(question)
        scored: list[tuple[float, int, int]] = []  # (score, hit index, unit index)
        units_of: list[list[str]] = []
        for h_i, hit in enumerate(hits):
            units, vectors = self.grounding.clause_vectors(hit.passage)
            units_of.append(units)
            first = 1 if hit.passage.title and units and units[0] == hit.passage.title else 0
            cosines = vectors @ query
            for u_i in range(first, len(units)):
                if not answers_customer(units[u_i]):
                    continue
                overlap = len(wanted & terms(units[u_i])) / len(wanted) if wanted else 0.0
                score = float(cosines[u_i]) + self.limits.term_weight * overlap + self.limits.passage_weight * hit.score
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
        ordered = sorted(chosen)
        kept: list[str] = []
        for index in ordered:  # the best sentence's block first in priority when trimming
            sentences = sum(1 for u in kept if not _LIST_ITEM_RE.match(u))  # a list's lines count as one
            if (
                sentences >= self.limits.max_units
                or sum(len(u) for u in kept) + len(units[index]) > self.limits.max_chars
            ):
                if index > u_best:
                    break
                continue
            kept.append(units[index])
        if units[u_best] not in kept:
            kept = [units[u_best]]
        return Selection(hits[h_best].passage, tuple(kept), best_score)

    def _with_context(self, units: Sequence[str], index: int) -> list[int]:
        """The sentence with what belongs to it: a back reference's antecedent, its list, a condition."""
        chosen = [index]
        first = 1 if units and not units[0].rstrip().endswith((".", "。", ":", "：")) else 0  # skip the title
        lead = index
        if _LIST_ITEM_RE.match(units[index]):  # a list line: its lead line and the whole list
            while lead > first and _LIST_ITEM_RE.match(units[lead]):
                lead -= 1
            chosen.append(lead)
        if lead > first and (_BACK_REFERENCE_RE.match(units[lead]) or units[lead - 1].rstrip().endswith((":", "："))):
            chosen.append(lead - 1)
        end = index
        if units[index].rstrip().endswith((":", "：")) or _LIST_ITEM_RE.match(units[index]):
            while end + 1 < len(units) and _LIST_ITEM_RE.match(units[end + 1]):
                end += 1
                chosen.append(end)
        if end + 1 < len(units) and _CONDITION_RE.match(units[end + 1]):
            chosen.append(end + 1)
        return sorted(set(chosen))


def covers_numbers(answer: str, selection: Selection) -> bool:
    """Whether a rewording kept every number of the selected sentences (a dropped "30 days" is a lost fact)."""
    return numbers_in(selection.text) <= numbers_in(answer)

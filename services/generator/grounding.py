"""Is a generated answer supported by the passages it was given, and which passages did it use?

A small model cites unreliably and sometimes answers from its own imagination, so citations are not
taken on trust. Each sentence of the answer that states something (greetings, thanks and offers of
more help are skipped) must be close to a clause of some passage: multilingual sentence embeddings,
so a Chinese answer built on an English passage is judged fairly, or, for English, most of its
content words appearing in the passage. Every number the answer states (days, amounts) must be
written in a passage or in the customer's own message. The answer is grounded when no number is
invented and at least `min_supported_share` of its stating sentences are supported.

Citations are the passages the model marked ([kb:1]) and those that support its sentences, in the
order they are used; the markers are removed from the text the customer reads (the citations travel
with the reply instead).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.common import locales
from services.common.knowledge.documents import clauses
from services.common.knowledge.index import Passage
from services.common.ml.embeddings import SentenceEncoder
from services.generator.checks import numbers_in, sentences

UNSUPPORTED_CLAIMS = "unsupported_claims"
UNSUPPORTED_NUMBER = "unsupported_number"
NO_CONTENT = "no_content"

_MARKER_RE = re.compile(
    r"\s*[\[【]\s*((?:kb\s*[:：#]?\s*)?\d{1,2}(?:\s*[,，、]\s*(?:kb\s*[:：#]?\s*)?\d{1,2})*)\s*[\]】]", re.I
)
# A short sentence opening with a social phrase of any language ("thanks", "您好") states nothing.
_SOCIAL_RE = re.compile(r"^\s*(?:" + "|".join(locales.all_cues("grounding.social")) + ")", re.I)
_WORD_RE = re.compile(r"[a-z][a-z'-]{2,}")
_STOPWORDS = frozenset(locales.all_cues("grounding.stopwords"))


@dataclass(frozen=True)
class GroundingLimits:
    """sentence_support: cosine at which a sentence counts as said by a passage clause;
    word_support: share of an English sentence's content words found in one passage that also counts;
    min_supported_share: supported share of the stating sentences for the answer to be grounded."""

    sentence_support: float = 0.5
    word_support: float = 0.6
    min_supported_share: float = 0.6


@dataclass(frozen=True)
class GroundingResult:
    grounded: bool
    support: float  # supported share of the stating sentences (1.0 when there are none)
    citations: tuple[str, ...]  # chunk ids, first used first
    problems: tuple[str, ...]
    text: str  # the answer without citation markers


def strip_markers(answer: str) -> tuple[str, list[str]]:
    """The answer without [kb:n] markers, and the labels it cited in order."""
    labels: list[str] = []
    for match in _MARKER_RE.finditer(answer):
        labels.extend(re.findall(r"\d{1,2}", match.group(1)))
    text = remove_markers(answer)
    text = re.sub(r"\s+([.,;:!?。，；：！？])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip(), labels


def remove_markers(text: str) -> str:
    """Text without [kb:n] markers, whitespace otherwise untouched (for streamed pieces)."""
    return _MARKER_RE.sub("", text)


def _content_words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD_RE.findall(text.lower()) if w not in _STOPWORDS}


class GroundingChecker:
    """Holds the encoder and a cache of passage clause embeddings (passages repeat across answers)."""

    CACHE_SIZE = 2048

    def __init__(self, encoder: SentenceEncoder, limits: GroundingLimits | None = None) -> None:
        self.encoder = encoder
        self.limits = limits or GroundingLimits()
        self._clauses: OrderedDict[str, tuple[list[str], np.ndarray]] = OrderedDict()

    def check(
        self, answer: str, passages: Sequence[Passage], labels: Mapping[str, str], question: str = ""
    ) -> GroundingResult:
        """`labels` maps the prompt's passage labels ("1", "2", ...) to chunk ids."""
        text, cited = strip_markers(answer)
        by_id = {p.chunk_id: p for p in passages}
        citations = [labels[label] for label in cited if label in labels and labels[label] in by_id]
        stating = [s.strip() for s in sentences(text) if _states_something(s)]
        if not stating:
            return GroundingResult(False, 0.0, tuple(dict.fromkeys(citations)), (NO_CONTENT,), text)
        supporters = self._supporters(stating, passages)
        supported = [s for s in supporters if s is not None]
        share = len(supported) / len(stating)
        citations.extend(supported)
        problems = []
        known_numbers = numbers_in(question).union(*(numbers_in(f"{p.title} {p.text}") for p in passages))
        if not numbers_in(text) <= known_numbers:
            problems.append(UNSUPPORTED_NUMBER)
        if share < self.limits.min_supported_share:
            problems.append(UNSUPPORTED_CLAIMS)
        return GroundingResult(not problems, share, tuple(dict.fromkeys(citations)), tuple(problems), text)

    def _supporters(self, stating: Sequence[str], passages: Sequence[Passage]) -> list[str | None]:
        """For each stating sentence, the chunk id of the passage that supports it best, or None."""
        if not passages:
            return [None] * len(stating)
        vectors = self.encoder.encode(list(stating))
        best_score = np.full(len(stating), -1.0)
        best: list[str | None] = [None] * len(stating)
        for passage in passages:
            _, clause_vectors = self._clause_vectors(passage)
            scores = (vectors @ clause_vectors.T).max(axis=1)
            words = _content_words(f"{passage.title} {passage.text}")
            for i, sentence in enumerate(stating):
                wanted = _content_words(sentence)
                overlap = len(wanted & words) / len(wanted) if len(wanted) >= 3 else 0.0
                score = max(float(scores[i]), 1.0 if overlap >= self.limits.word_support else 0.0)
                if score >= self.limits.sentence_support and score > best_score[i]:
                    best_score[i], best[i] = score, passage.chunk_id
        return best

    def _clause_vectors(self, passage: Passage) -> tuple[list[str], np.ndarray]:
        key = f"{passage.chunk_id}\0{passage.title}\0{passage.text}"  # a re-ingested passage is new
        cached = self._clauses.get(key)
        if cached is not None:
            self._clauses.move_to_end(key)
            return cached
        units = clauses(passage.title, passage.text)
        entry = (units, self.encoder.encode(units))
        self._clauses[key] = entry
        if len(self._clauses) > self.CACHE_SIZE:
            self._clauses.popitem(last=False)
        return entry


def _states_something(sentence: str) -> bool:
    stripped = sentence.strip()
    if _SOCIAL_RE.match(stripped) and len(stripped) < 60:
        return False
    return bool(re.search(r"[A-Za-z]{3}|[\u4e00-\u9fff]{2}", stripped))

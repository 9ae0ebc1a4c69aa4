"""Is a generated answer supported by the passages it was given, and which passages did it use?

A small model cites unreliably and sometimes answers from its own imagination, so citations are not
taken on trust. Each sentence of the answer that states something (greetings, thanks and offers of
more help are skipped) must be close to a clause of some passage: multilingual sentence embeddings,
so a Chinese answer built on an English passage is judged fairly, or, for English, most of its
content words appearing in the passage. Closeness is not agreement ("we do not offer X" sits close
to "we offer X"), so a close clause supports a sentence only when it also agrees on meaning:

- polarity: both say something is so, or both say it is not (each language's `grounding.negations`);
- numbers with their units: "14 days" needs a 14 read as days in the passage, not 14 hours or $14;
- menu paths ("Account > Orders") and quoted names must be written in a passage as the answer writes them;
- script: Latin words inside a Chinese sentence (or Han characters inside an English one) must come from
  the passages or the question (names and menu paths), never be the model's half-translation.

A sentence whose closest clauses all disagree is a contradiction (`contradiction`), and makes the answer
ungrounded whatever the share of the others. Every number the answer states must also be written in a
passage or in the customer's own message. The answer is grounded when nothing is contradicted or
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
CONTRADICTION = "contradiction"
UNSUPPORTED_PATH = "unsupported_menu_path"
MIXED_SCRIPT = "mixed_script"
UNSUPPORTED_NUMBER = "unsupported_number"
NO_CONTENT = "no_content"

_MARKER_RE = re.compile(
    r"\s*[\[【]\s*((?:kb\s*[:：#]?\s*)?\d{1,2}(?:\s*[,，、]\s*(?:kb\s*[:：#]?\s*)?\d{1,2})*)\s*[\]】]", re.I
)
# A short sentence opening with a social phrase of any language ("thanks", "您好") states nothing.
_SOCIAL_RE = re.compile(r"^\s*(?:" + "|".join(locales.all_cues("grounding.social")) + ")", re.I)
_WORD_RE = re.compile(r"[a-z][a-z'-]{2,}")
_STOPWORDS = frozenset(locales.all_cues("grounding.stopwords"))
_NEGATION_RE = re.compile("|".join(f"(?:{n})" for n in locales.all_cues("grounding.negations")))
_NEGATION_EXCEPTIONS = tuple(sorted(locales.all_cues("grounding.negation_exceptions"), key=len, reverse=True))
UNIT_CLASSES = ("day", "hour", "minute", "week", "month", "year", "percent", "money", "point", "item")


def _unit_pattern() -> re.Pattern[str]:
    units = sorted(
        ((u, cls) for cls in UNIT_CLASSES for u in locales.all_cues(f"grounding.units.{cls}")),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    groups = "|".join(f"(?P<{cls}{i}>{u})" for i, (u, cls) in enumerate(units))
    return re.compile(r"([$€£¥￥]\s*)?(\d+(?:[.,]\d+)*)\s*(?:" + groups + r")?", re.I)


_QUANTITY_RE = _unit_pattern()
_STEP_RE = re.compile(r"([A-Za-z0-9]+|[\u3400-\u9fff]{1,2})\s*[>›→»]\s*(?=([A-Za-z0-9]+|[\u3400-\u9fff]{1,2}))")
_QUOTED_RE = re.compile(r"[\"“「『]([^\"”」』\n]{2,40})[\"”」』]")
_HAN_RE = re.compile(r"[\u3400-\u9fff]")
_LATIN_RUN_RE = re.compile(r"[A-Za-z][A-Za-z'’-]+")
_HAN_RUN_RE = re.compile(r"[\u3400-\u9fff]+")


def negated(text: str) -> bool:
    """Whether the sentence says something is not so (an odd number of negations does not matter:
    "not ... without" is rare in help-centre text, and a strict check hands over rather than errs)."""
    lowered = text.lower()
    for phrase in _NEGATION_EXCEPTIONS:
        lowered = lowered.replace(phrase, " ")
    return bool(_NEGATION_RE.search(lowered))


def quantities(text: str) -> set[tuple[float, str]]:
    """(number, unit class) for every number in digits; the class is "" when no known unit follows."""
    found = set()
    for m in _QUANTITY_RE.finditer(text):
        cls = next((name.rstrip("0123456789") for name, value in m.groupdict().items() if value), "")
        if m.group(1) and not cls:
            cls = "money"
        for number in numbers_in(m.group(2)):
            found.add((number, cls))
    return found


def menu_paths(text: str) -> set[str]:
    """The steps of menu paths ("Account > Orders" as "account > orders": the word or two Han characters
    either side of each arrow) and quoted names, whitespace normalised, lower case."""
    steps = {f"{a} > {b}".lower() for a, b in _STEP_RE.findall(text)}
    return steps | {" ".join(m.group(1).split()).lower() for m in _QUOTED_RE.finditer(text)}


def _normalised(text: str) -> str:
    return re.sub(r"\s*[>›→»]\s*", " > ", " ".join(text.split())).lower()


def foreign_words(sentence: str, allowed: str) -> list[str]:
    """Words of the other script in a sentence that the passages and the question do not contain."""
    allowed_lower = allowed.lower()
    if len(_HAN_RE.findall(sentence)) >= len(_LATIN_RUN_RE.findall(sentence)):
        runs = _LATIN_RUN_RE.findall(sentence)
    else:
        runs = _HAN_RUN_RE.findall(sentence)
    return [r for r in runs if r.lower() not in allowed_lower]


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
        supporters, contradicted = self._supporters(stating, passages)
        supported = [s for s in supporters if s is not None]
        share = len(supported) / len(stating)
        citations.extend(supported)
        problems = []
        if contradicted:
            problems.append(CONTRADICTION)
        known = "\n".join([*(f"{p.title}\n{p.text}" for p in passages), question])  # what the answer may say
        if not numbers_in(text) <= numbers_in(known):
            problems.append(UNSUPPORTED_NUMBER)
        else:
            said = quantities(known)
            if any(unit and (n, unit) not in said for n, unit in quantities(text)):
                problems.append(UNSUPPORTED_NUMBER)  # a number the passages give, with another unit
        known_text = _normalised(known)
        if any(path not in known_text for path in menu_paths(text)):
            problems.append(UNSUPPORTED_PATH)
        if any(foreign_words(sentence, known) for sentence in stating):
            problems.append(MIXED_SCRIPT)
        if share < self.limits.min_supported_share:
            problems.append(UNSUPPORTED_CLAIMS)
        return GroundingResult(not problems, share, tuple(dict.fromkeys(citations)), tuple(problems), text)

    def _supporters(self, stating: Sequence[str], passages: Sequence[Passage]) -> tuple[list[str | None], bool]:
        """For each stating sentence, the chunk id of the passage that supports it best, or None; and
        whether some sentence is contradicted (its close clauses all disagree with it on meaning)."""
        if not passages:
            return [None] * len(stating), False
        vectors = self.encoder.encode(list(stating))
        best_score = np.full(len(stating), -1.0)
        best: list[str | None] = [None] * len(stating)
        disagreed = [False] * len(stating)
        for passage in passages:
            units, clause_vectors = self.clause_vectors(passage)
            similarity = vectors @ clause_vectors.T
            words = _content_words(f"{passage.title} {passage.text}")
            unit_terms = [terms(u) for u in units]
            unit_negated = [negated(u) for u in units]
            for i, sentence in enumerate(stating):
                close = [j for j in np.argsort(-similarity[i]) if similarity[i, j] >= self.limits.sentence_support]
                agreeing = [j for j in close if agrees(sentence, units[j])]
                score = float(similarity[i, agreeing[0]]) if agreeing else -1.0
                if close and not agreeing:
                    disagreed[i] = True
                wanted = _content_words(sentence)
                overlap = len(wanted & words) / len(wanted) if len(wanted) >= 3 else 0.0
                if overlap >= self.limits.word_support and not close:
                    lexical = max(units, key=lambda u: len(wanted & _content_words(u)))
                    if agrees(sentence, lexical):
                        score = max(score, 1.0)
                    else:
                        disagreed[i] = True
                if score >= self.limits.sentence_support and score > best_score[i]:
                    best_score[i], best[i] = score, passage.chunk_id
                if opposed_by_words(sentence, unit_terms, unit_negated):
                    disagreed[i], best[i], best_score[i] = True, None, 2.0  # nothing else can support it
        contradicted = any(d and b is None for d, b in zip(disagreed, best, strict=False))
        return best, contradicted

    def clause_vectors(self, passage: Passage) -> tuple[list[str], np.ndarray]:
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


def agrees(sentence: str, clause: str) -> bool:
    """Whether an answer sentence and a passage clause it is close to agree on meaning: the same polarity,
    and every number-with-unit of the sentence written in the clause with that unit."""
    if negated(sentence) != negated(clause):
        return False
    said = quantities(clause)
    return all((n, c) in said or (not c and any(n == m for m, _ in said)) for n, c in quantities(sentence))


MAX_NAMING_CLAUSES = 2  # a word in more clauses than this names nothing in particular ("item", "order")


def terms(text: str) -> set[str]:
    """English content words and Chinese character pairs (without negation characters)."""
    pairs = {run[i : i + 2] for run in _HAN_RUN_RE.findall(text) for i in range(len(run) - 1)}
    return _content_words(text) | {p for p in pairs if not negated(p)}


def opposed_by_words(sentence: str, unit_terms: Sequence[set[str]], unit_negated: Sequence[bool]) -> bool:
    """Whether the sentence names something ("final-sale items", "清仓") that the passage mentions only in
    clauses of the opposite polarity: the answer says of that thing the opposite of what the passage says,
    even when its closest clause by embedding is about something else. `unit_terms` and `unit_negated` are
    the passage clauses' `terms` and `negated`, computed once per passage."""
    polarity = negated(sentence)
    for term in terms(sentence):
        holding = [i for i, held in enumerate(unit_terms) if term in held]
        if 0 < len(holding) <= MAX_NAMING_CLAUSES and all(unit_negated[i] != polarity for i in holding):
            return True
    return False

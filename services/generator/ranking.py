"""Which passage answers a question, and how likely an answer made of it is right.

The answer is a whole passage (a chunk of an article, at most ~700 characters) in the customer's language:
on the help-centre set every answerable question has a passage that holds all the facts its answer needs,
and a passage keeps the conditions and exceptions that a sentence picked out of it drops. What is hard is
choosing it. A passage is scored by a linear model over nine signals (FEATURES) that each catch a
different part of "this answers it":
- the sentence encoder's and the ranking encoder's cosine with the whole passage (title included), the
  sentence encoder's cosine with the article's title;
- both encoders' best cosine with one of the passage's sentences (the line that answers);
- the share of the question's words (English content words, Chinese character pairs) the passage holds,
  plain and weighted by rarity (idf over the passages in that language);
- both encoders' best passage cosine within the same article (the article is about it, this passage
  may be the one of it with the answer).
A follow-up ("and for gold members?") is scored with the customer's previous message too: each signal
takes the larger of the two, but only when the passage that makes best is also among the FOLLOW_UP_RANK
best for the message alone. Otherwise the message is a new question (a topic switch: "can I use two
promo codes?" then "how much does standard shipping cost?") and is scored alone: pooled with the
previous message, its previous topic's passages won and were sent as the answer. On the help-centre
questions each preceded by another question of the same language about a different article
(`bench/eval_topic_switch.py`), tune split: pooled 99 correct / 28 wrong, alone 122 / 8, this rule
119 / 9; the real follow-ups of the tune split: pooled 10 / 3, alone 4 / 5, the rule 7 / 2.

The weights are fitted listwise (a softmax over a question's passages, the passages that answer it as
the target) on the tune split of bench/data/helpcentre, never on its test split; `bench/fit_answer_ranker.py`
fits them and prints the constants below. Whether to answer at all is a second, logistic model (the
gate) over the best passage's share of the softmax over the scores, its score and whether it is Chinese;
below GATE.threshold the question is handed to a person instead of being answered from a passage that
probably does not answer it (the unanswerable questions fall here too). It reads little (gate_inputs)
so that it carries over to other knowledge bases: with the best passage's signals as inputs too it did no
better on the tune split.

Only knowledge written for customers is answered this way (LanguageView.for_customers): agent guidelines
("ask the customer for the order number") are no answer as they stand, so their questions take the
sentence selection (selection.py), as before; on the ABCD guidelines whole passages lost a third of the
answers holding the expected fact.

Pure numpy: the retriever (retrieval.py) keeps each tenant's LanguageViews with its index.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.common.knowledge.documents import clauses
from services.common.knowledge.index import KnowledgeIndex
from services.generator.grounding import terms
from services.generator.selection import answers_customer

FEATURES = (
    "passage_cosine",
    "passage_rank_cosine",
    "title_cosine",
    "best_sentence_cosine",
    "best_sentence_rank_cosine",
    "word_share",
    "rare_word_share",
    "article_rank_cosine",
    "article_cosine",
)


@dataclass(frozen=True)
class PassageScorer:
    """score = ((x - mean) / scale) . weights, per passage; comparable between the passages of one question."""

    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def scores(self, features: np.ndarray) -> np.ndarray:
        return ((features - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights)


@dataclass(frozen=True)
class AnswerGate:
    """P(an answer made of the best passage is right) = sigmoid(coef . gate_inputs + intercept), answered
    when >= threshold. gate_inputs: the best passage's share of the softmax over the question's passage
    scores (the listwise model's own confidence) and its log, whether the passage is Chinese (the two
    languages' scores sit differently), and its score."""

    coef: tuple[float, ...]
    intercept: float
    threshold: float

    def probability(self, inputs: np.ndarray) -> float:
        return float(1.0 / (1.0 + math.exp(-(float(inputs @ np.asarray(self.coef)) + self.intercept))))


def gate_inputs(scores: np.ndarray, best: int, chinese: bool) -> np.ndarray:
    """What the gate reads of one question's passage scores (AnswerGate)."""
    e = np.exp(scores - scores.max())
    share = float(e[best] / e.sum())
    return np.array([share, math.log(max(share, 1e-12)), float(chinese), float(scores[best])])


# Fitted by bench/fit_answer_ranker.py on the help-centre tune split (2026-12-03). Its figures: the best
# passage answers 69/92 en and 85/93 zh tune questions; with the gate at 0.65 (chosen on tune, a wrong
# answer counting as two handovers) tune en 55 correct, 6 wrong, zh 78 correct, 6 wrong, 1 of 29
# unanswerable answered; the frozen test split en 27/44 correct, 3 wrong, zh 37/47, 4 wrong, 1 of 15 answered.
SCORER = PassageScorer(
    weights=(0.3933, 0.6433, 0.2142, 0.6913, 0.9435, 0.5666, 0.0253, 0.6938, 0.8228),
    mean=(0.1226, 0.8256, 0.0842, 0.1854, 0.8381, 0.0716, 0.0411, 0.8309, 0.1415),
    scale=(0.1025, 0.0312, 0.0961, 0.1064, 0.0337, 0.125, 0.0955, 0.0282, 0.1019),
)
GATE = AnswerGate(
    coef=(2.3742, 1.8682, 0.6596, 0.0699),
    intercept=-0.3987,
    threshold=0.65,
)


# A follow-up's passages are scored with the message before it only when the passage that makes best
# is among this many best for the message alone (rank); chosen on the tune split (1, 2, 3, 5, 8 tried).
FOLLOW_UP_RANK = 2


# The share of a language's passages that hold nothing but what a customer can be told (selection.
# answers_customer) for the knowledge to count as written for customers: the help centre 110 of 120
# passages, the ABCD agent guidelines 21 of 114.
FOR_CUSTOMERS_SHARE = 0.5


@dataclass(frozen=True)
class Query:
    """A question as the scorer sees it: its text's words and both encoders' vectors."""

    words: frozenset[str]
    vector: np.ndarray  # the sentence encoder's
    rank_vector: np.ndarray  # the ranking encoder's ("query: " side)


class LanguageView:
    """The passages of one language (or all of them) of an index, with what scoring them needs."""

    def __init__(self, index: KnowledgeIndex, positions: Sequence[int]) -> None:
        if index.rank_vectors is None:
            raise ValueError("a language view needs an index with the ranking encoder's vectors")
        self.positions = np.asarray(positions, dtype=np.int64)
        self.passages = [index.passages[i] for i in positions]
        self.vectors = index.vectors[self.positions]
        self.rank_vectors = index.rank_vectors[self.positions]
        n = len(positions)
        self.title_vectors = np.zeros_like(self.vectors)
        self.has_title = np.zeros(n, dtype=bool)
        sentence_rows: list[np.ndarray] = []
        rank_sentence_rows: list[np.ndarray] = []
        # Each passage's clause rows are one contiguous block (KnowledgeIndex.from_records stacks them in
        # passage order): found by binary search, not by a mask over every clause of the index per passage.
        bounds = np.searchsorted(
            index.clause_owner, [np.arange(len(index.passages)), np.arange(1, len(index.passages) + 1)]
        )
        rank_bounds = np.searchsorted(
            index.rank_clause_owner, [np.arange(len(index.passages)), np.arange(1, len(index.passages) + 1)]
        )
        for j, i in enumerate(positions):
            own = index.clause_vectors[bounds[0][i] : bounds[1][i]]
            rank_own = index.rank_clause_vectors[rank_bounds[0][i] : rank_bounds[1][i]]
            skip = 1 if index.passages[i].title and len(own) > 1 else 0  # clauses(title, text) starts with the title
            if index.passages[i].title and len(own):
                self.title_vectors[j] = own[0]
                self.has_title[j] = True
            sentence_rows.append(own[skip:] if len(own) > skip else self.vectors[j : j + 1])
            rank_skip = skip if len(rank_own) > skip else 0
            rank_sentence_rows.append(rank_own[rank_skip:] if len(rank_own) else self.rank_vectors[j : j + 1])
        self.sentence_vectors, self.sentence_starts = _stacked(sentence_rows)
        self.rank_sentence_vectors, self.rank_sentence_starts = _stacked(rank_sentence_rows)
        self.words = [frozenset(terms(f"{p.title} {p.text}")) for p in self.passages]
        df = Counter(t for ws in self.words for t in ws)
        self.idf = {t: math.log(n / c) for t, c in df.items()}
        articles = {doc: k for k, doc in enumerate(dict.fromkeys(p.doc_id for p in self.passages))}
        self.article = np.asarray([articles[p.doc_id] for p in self.passages], dtype=np.int64)
        self.article_count = len(articles)
        # Written for customers (a help centre), or for staff (guidelines about "the customer", questions to
        # ask): a passage of the first kind is an answer as it stands; of the second, it is not.
        told = [all(answers_customer(u) for u in clauses("", p.text)) for p in self.passages]
        self.for_customers = bool(told) and sum(told) / len(told) >= FOR_CUSTOMERS_SHARE

    def __len__(self) -> int:
        return len(self.passages)

    def features(self, query: Query) -> np.ndarray:
        """One row of FEATURES per passage for one query."""
        x = np.zeros((len(self), len(FEATURES)), dtype=np.float64)
        if not len(self):
            return x
        x[:, 0] = self.vectors @ query.vector
        x[:, 1] = self.rank_vectors @ query.rank_vector
        x[:, 2] = np.where(self.has_title, self.title_vectors @ query.vector, 0.0)
        x[:, 3] = np.maximum.reduceat(self.sentence_vectors @ query.vector, self.sentence_starts)
        x[:, 4] = np.maximum.reduceat(self.rank_sentence_vectors @ query.rank_vector, self.rank_sentence_starts)
        wanted = query.words
        unseen = math.log(len(self) + 1)  # a word no passage has weighs most
        total = sum(self.idf.get(t, unseen) for t in wanted)
        for j, words in enumerate(self.words):
            held = wanted & words
            x[j, 5] = len(held) / len(wanted) if wanted else 0.0
            x[j, 6] = sum(self.idf[t] for t in held) / total if total else 0.0
        for column, source in ((7, 1), (8, 0)):
            best = np.full(self.article_count, -np.inf)
            np.maximum.at(best, self.article, x[:, source])
            x[:, column] = best[self.article]
        return x

    def features_of(self, queries: Sequence[Query]) -> np.ndarray:
        """The FEATURES for several phrasings of one question (a follow-up with and without the message
        before it): each signal the larger of them."""
        return np.maximum.reduce([self.features(q) for q in queries])

    def question_features(self, queries: Sequence[Query], scorer: PassageScorer) -> np.ndarray:
        """The FEATURES a question is ranked by: queries[0] is the message alone, any others the message
        with what came before it (queries_of). Those count (features_of) only when the passage they make
        best is among the FOLLOW_UP_RANK best for the message alone; else the message is a new question."""
        alone = self.features(queries[0])
        if len(queries) == 1 or not len(self):
            return alone
        pooled = np.maximum(alone, self.features_of(queries[1:]))
        alone_scores = scorer.scores(alone)
        best = int(np.argmax(scorer.scores(pooled)))
        return pooled if int((alone_scores > alone_scores[best]).sum()) < FOLLOW_UP_RANK else alone


def _stacked(blocks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    starts = np.cumsum([0] + [len(b) for b in blocks[:-1]]).astype(np.int64)
    return np.vstack(blocks), starts


def language_views(index: KnowledgeIndex) -> dict[str, LanguageView]:
    """A view per passage language, and "*" over every passage."""
    by_language: dict[str, list[int]] = {}
    for i, p in enumerate(index.passages):
        by_language.setdefault(p.language, []).append(i)
    views = {language: LanguageView(index, positions) for language, positions in by_language.items()}
    views["*"] = LanguageView(index, range(len(index.passages)))
    return views


@dataclass(frozen=True)
class Ranked:
    """A question's passages, best first, with the scorer's scores and the gate's probability."""

    view: LanguageView
    order: np.ndarray  # positions in the view, best first
    scores: np.ndarray  # per view position
    features: np.ndarray  # per view position
    probability: float

    @property
    def best(self) -> int:
        return int(self.order[0])


def rank(
    view: LanguageView, queries: Sequence[Query], scorer: PassageScorer = SCORER, gate: AnswerGate = GATE
) -> Ranked | None:
    """The view's passages ranked for the question, None when the view is empty."""
    if not len(view):
        return None
    x = view.question_features(queries, scorer)
    scores = scorer.scores(x)
    order = np.argsort(-scores, kind="stable")
    best = int(order[0])
    probability = gate.probability(gate_inputs(scores, best, view.passages[best].language == "zh"))
    return Ranked(view, order, scores, x, probability)

"""Knowledge retrieval for the generator: each tenant's passages in memory, reloaded when they change.

The index of a tenant is loaded from the database on its first question and kept; at most every
`refresh_s` seconds the tenant's knowledge revision is read (one small query), and a new revision
(someone ran `cs kb ingest`) reloads the index. So new knowledge reaches answers within seconds,
without a restart, and a question costs no database read of the passages.

Passages are ordered by the ranking encoder's score (when the knowledge was ingested with it) plus a
share of the question's words they hold, weighted by rarity (idf over the tenant's passages): a rare
word of the question ("JCB", "Honolulu", "押金") found in a passage is strong evidence of its topic.
On the help-centre tune split this put the right article first for 74 of 93 Chinese and 61-66 of 92
English questions, against 67 and 55 by the sentence encoder alone. The returned scores stay the
sentence encoder's, which the relevance threshold (min_score) is set on.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from services.common.knowledge.index import Hit, KnowledgeIndex
from services.common.knowledge.repo import KnowledgeRepo
from services.common.ml.embeddings import RankingEncoder, SentenceEncoder
from services.common.platform.pii import PLACEHOLDER_RE
from services.generator.grounding import terms
from services.generator.ranking import LanguageView, Query, Ranked, language_views, rank


@dataclass(frozen=True)
class RetrievalSettings:
    """k: passages put in the prompt; min_score: cosine below which a passage is not about the question."""

    k: int = 3
    min_score: float = 0.3
    refresh_s: float = 10.0
    word_weight: float = 0.3  # the share of the question's (idf-weighted) words, added to the ranking score


MAX_TENANT_INDEXES = 256  # tenants whose knowledge index a generator keeps in memory


@dataclass
class _Cached:
    index: KnowledgeIndex
    checked_at: float
    words: WordIndex | None = None
    views: dict[str, LanguageView] | None = None


def topic_of(query: str) -> str:
    """The query without masked personal data ("[PHONE]"), which says nothing of what it is about."""
    return " ".join(PLACEHOLDER_RE.sub(" ", query).split()) or query


@dataclass
class WordIndex:
    """Each passage's words (grounding.terms of title and text) and every word's idf over the passages."""

    passage_terms: list[frozenset[str]]
    idf: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, index: KnowledgeIndex) -> WordIndex:
        passage_terms = [frozenset(terms(f"{p.title} {p.text}")) for p in index.passages]
        df = Counter(t for ts in passage_terms for t in ts)
        n = len(passage_terms)
        return cls(passage_terms, {t: math.log(n / c) for t, c in df.items()})

    def shares(self, question: str) -> np.ndarray:
        """Per passage, the idf-weighted share of the question's words it holds (0 when none)."""
        wanted = terms(question)
        unseen = math.log(max(len(self.passage_terms), 1) + 1)  # a word no passage has weighs most
        total = sum(self.idf.get(t, unseen) for t in wanted)
        if not total:
            return np.zeros(len(self.passage_terms), dtype=np.float32)
        return np.array([sum(self.idf[t] for t in wanted & ts) / total for ts in self.passage_terms], dtype=np.float32)


class Retriever:
    def __init__(
        self,
        repo: KnowledgeRepo,
        encoder: SentenceEncoder,
        settings: RetrievalSettings | None = None,
        ranker: RankingEncoder | None = None,
    ) -> None:
        self.repo = repo
        self.encoder = encoder
        self.ranker = ranker  # None: passages ordered by the sentence encoder alone
        self.settings = settings or RetrievalSettings()
        self._rank_queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache: OrderedDict[str, _Cached] = OrderedDict()  # least recently asked first
        self._locks: dict[str, asyncio.Lock] = {}

    async def index(self, tenant_id: str) -> KnowledgeIndex:
        """The tenant's index, reloaded when its revision moved (checked at most every refresh_s)."""
        cached = self._cache.get(tenant_id)
        now = time.monotonic()
        if cached is not None:
            self._cache.move_to_end(tenant_id)
            if now - cached.checked_at < self.settings.refresh_s:
                return cached.index
        async with self._locks.setdefault(tenant_id, asyncio.Lock()):
            cached = self._cache.get(tenant_id)
            if cached is not None and now - cached.checked_at < self.settings.refresh_s:
                return cached.index
            revision = await self.repo.revision(tenant_id)
            if cached is None or cached.index.revision != revision:
                index = KnowledgeIndex.from_records(await self.repo.chunks(tenant_id), revision)
            else:
                index = cached.index
            self._cache[tenant_id] = _Cached(index, time.monotonic())
            self._cache.move_to_end(tenant_id)
            self._forget_beyond(MAX_TENANT_INDEXES)
            return index

    def _forget_beyond(self, size: int) -> None:
        """Drop the least recently asked tenants' indexes (reloaded from the database when asked again)."""
        while len(self._cache) > size:
            tenant, _ = self._cache.popitem(last=False)
            lock = self._locks.get(tenant)
            if lock is not None and not lock.locked():
                del self._locks[tenant]

    async def search(self, tenant_id: str, query: str, k: int | None = None, language: str | None = None) -> list[Hit]:
        """The best k (default settings.k) passages for the query, best first, without a relevance cut.

        `language`: the customer's. Passages in another language are ordered by the sentence encoder's
        score: the ranking encoder tells a Chinese question's English passages apart poorly (all near
        0.83 on the ABCD guidelines), the sentence encoder was trained across languages. Masked personal
        data ("[PHONE]") is no word of the question: "my phone is ..." must not rank the article on
        changing phone numbers first."""
        index = await self.index(tenant_id)
        if not len(index):
            return []
        k = k or self.settings.k
        vector = await asyncio.to_thread(self.encoder.encode_one, query)
        topic = topic_of(query)
        rank_query = await self.rank_query(topic)
        if rank_query is None or not index.ranked:
            return index.search(vector, k)
        cached = self._cache.get(tenant_id)
        if cached is None or cached.index is not index:  # evicted or reloaded meanwhile: words of this index
            words = WordIndex.of(index)
        else:
            words = cached.words = cached.words or WordIndex.of(index)
        hits = index.search(vector, len(index), rank_query)
        shares = words.shares(topic)
        position = {id(p): i for i, p in enumerate(index.passages)}
        boosted = []
        for h in hits:
            own = language is None or h.passage.language == language
            base = (h.rank_score or 0.0) if own else h.score
            boosted.append(
                replace(h, rank_score=base + self.settings.word_weight * float(shares[position[id(h.passage)]]))
            )
        boosted.sort(key=lambda h: -(h.rank_score or 0.0))
        return boosted[:k]

    async def rank(self, tenant_id: str, queries: list[str], language: str) -> Ranked | None:
        """The tenant's passages in the customer's language ranked for a question by the fitted scorer
        (ranking.py), with the gate's probability that the best one answers it; `queries`: the question,
        and for a follow-up also the question with the message before it. None when the knowledge was
        ingested without the ranking encoder, or has no passage in that language (the scorer and the gate
        were fitted on questions and passages of one language, so `search` and the sentence selection,
        with their own thresholds, answer those, through a translation), or is written for staff
        (LanguageView.for_customers), checked before the question is encoded."""
        index = await self.index(tenant_id)
        if not len(index) or not index.ranked or self.ranker is None or not queries:
            return None
        cached = self._cache.get(tenant_id)
        if cached is not None and cached.index is index:
            views = cached.views = cached.views or await asyncio.to_thread(language_views, index)
        else:  # evicted or reloaded meanwhile: views of this index
            views = await asyncio.to_thread(language_views, index)
        view = views.get(language)
        if view is None or not view.for_customers:  # no passage in the language: the other path translates;
            return None  # agent guidelines: not an answer as they stand, their sentences are selected
        encoded = []
        for query in queries:
            topic = topic_of(query)
            vector = await asyncio.to_thread(self.encoder.encode_one, topic)
            rank_vector = await self.rank_query(topic)
            if rank_vector is None:
                return None
            encoded.append(Query(frozenset(terms(topic)), vector, rank_vector))
        return await asyncio.to_thread(rank, view, encoded)

    async def rank_query(self, query: str) -> np.ndarray | None:
        """The ranking encoder's vector of a query (the last few are remembered), None without one."""
        if self.ranker is None:
            return None
        vector = self._rank_queries.get(query)
        if vector is None:
            vector = await asyncio.to_thread(self.ranker.query, query)
            self._rank_queries[query] = vector
            while len(self._rank_queries) > 256:
                self._rank_queries.popitem(last=False)
        return vector

    def relevant(self, hits: list[Hit]) -> list[Hit]:
        return [h for h in hits if h.score >= self.settings.min_score]

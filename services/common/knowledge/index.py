"""Ranking a tenant's passages for a question, in memory.

The stored embeddings come from the shared multilingual encoder (services/common/ml/embeddings.py), so
a Chinese question lands near the English passage that answers it; ranking is cosine similarity
(the vectors are unit length, so a matrix product). At a few hundred or thousand passages per tenant
that product is cheap; FerretDB has no vector search, and none is needed at this size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from services.common.ml.embeddings import DIM, MODEL_NAME, RANKING_DIM, RANKING_MODEL_NAME

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    doc_id: str
    title: str
    text: str
    language: str = "en"
    # The ranking encoder's vectors of its clauses (documents.clauses(title, text)), one row each, when
    # the passage was ingested with them: the sentence selection ranks a passage's sentences by them.
    rank_clauses: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float  # the sentence encoder's: what relevance thresholds are set on
    rank_score: float | None = None  # the ranking encoder's, when the hits were ordered by it


class KnowledgeIndex:
    """Passages scored by the mean of two cosines: with the whole passage (its topic) and with its best
    clause (the one line that answers). The mean ranks the answering passage first more often than the
    whole passage alone, and separates answerable from unanswerable questions better than either cosine
    alone (bench/eval_answers.py measures both).

    Two encoders: the sentence encoder's mean is the passage's score, which relevance thresholds are set
    on; when every passage also carries the ranking encoder's vectors (ingested since it exists), the
    same mean by the ranking encoder orders the passages (it puts the answering one first more often;
    embeddings.RankingEncoder). Without them the sentence encoder's score orders them too."""

    def __init__(
        self,
        passages: Sequence[Passage],
        vectors: np.ndarray,
        clause_vectors: np.ndarray | None = None,
        clause_owner: np.ndarray | None = None,
        revision: int = 0,
        rank_vectors: np.ndarray | None = None,
        rank_clause_vectors: np.ndarray | None = None,
        rank_clause_owner: np.ndarray | None = None,
    ) -> None:
        if len(passages) != len(vectors):
            raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
        self.passages = list(passages)
        self.vectors = np.asarray(vectors, dtype=np.float32).reshape(len(passages), DIM)
        if clause_vectors is None or clause_owner is None:  # no clauses: each passage is its own only clause
            clause_vectors, clause_owner = self.vectors, np.arange(len(passages))
        self.clause_vectors = np.asarray(clause_vectors, dtype=np.float32).reshape(-1, DIM)
        self.clause_owner = np.asarray(clause_owner, dtype=np.int64)
        self.revision = revision
        self.rank_vectors: np.ndarray | None = None
        if rank_vectors is not None and rank_clause_vectors is not None and rank_clause_owner is not None:
            self.rank_vectors = np.asarray(rank_vectors, dtype=np.float32).reshape(len(passages), RANKING_DIM)
            self.rank_clause_vectors = np.asarray(rank_clause_vectors, dtype=np.float32).reshape(-1, RANKING_DIM)
            self.rank_clause_owner = np.asarray(rank_clause_owner, dtype=np.int64)

    @classmethod
    def from_records(cls, records: Sequence[dict], revision: int = 0) -> KnowledgeIndex:
        """From `KnowledgeRepo.chunks` documents; passages embedded by another encoder are left out."""
        passages: list[Passage] = []
        vectors: list[np.ndarray] = []
        clause_rows: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        rank_rows: list[np.ndarray] = []
        rank_clause_rows: list[np.ndarray] = []
        foreign = 0
        for r in records:
            if r.get("encoder") != MODEL_NAME or len(r.get("embedding", b"")) != DIM * 4:
                foreign += 1
                continue
            vector = np.frombuffer(bytes(r["embedding"]), dtype=np.float32)
            clause = np.frombuffer(bytes(r.get("clause_embeddings") or b""), dtype=np.float32).reshape(-1, DIM)
            clause_rows.append(clause if len(clause) else vector.reshape(1, DIM))
            owners.append(np.full(len(clause_rows[-1]), len(passages)))
            rank_clauses = None
            if r.get("rank_encoder") == RANKING_MODEL_NAME and len(r.get("rank_embedding", b"")) == RANKING_DIM * 4:
                rank_rows.append(np.frombuffer(bytes(r["rank_embedding"]), dtype=np.float32))
                rank_clauses = np.frombuffer(bytes(r.get("rank_clause_embeddings") or b""), dtype=np.float32).reshape(
                    -1, RANKING_DIM
                )
                rank_clause_rows.append(rank_clauses if len(rank_clauses) else rank_rows[-1].reshape(1, RANKING_DIM))
            passages.append(
                Passage(
                    r["chunk_id"],
                    r["doc_id"],
                    r.get("title", ""),
                    r["text"],
                    r.get("language", "en"),
                    rank_clauses if rank_clauses is not None and len(rank_clauses) else None,
                )
            )
            vectors.append(vector)
        if foreign:
            log.warning(
                "knowledge passages embedded by another encoder were skipped; re-ingest the knowledge base",
                extra={"skipped": foreign, "encoder": MODEL_NAME},
            )
        if not passages:
            return cls([], np.zeros((0, DIM), np.float32), revision=revision)
        ranked: dict[str, np.ndarray] = {}
        if len(rank_rows) == len(passages):
            ranked = {
                "rank_vectors": np.vstack(rank_rows),
                "rank_clause_vectors": np.vstack(rank_clause_rows),
                "rank_clause_owner": np.concatenate([np.full(len(c), i) for i, c in enumerate(rank_clause_rows)]),
            }
        else:
            log.warning(
                "knowledge passages without the ranking encoder's vectors: ranked by the sentence encoder; "
                "re-ingest the knowledge base (cs kb ingest) to rank them better",
                extra={"without": len(passages) - len(rank_rows), "encoder": RANKING_MODEL_NAME},
            )
        return cls(passages, np.vstack(vectors), np.vstack(clause_rows), np.concatenate(owners), revision, **ranked)

    def __len__(self) -> int:
        return len(self.passages)

    @property
    def ranked(self) -> bool:
        """Whether the ranking encoder orders the passages (every passage carries its vectors)."""
        return self.rank_vectors is not None

    def scores(self, query_vector: np.ndarray) -> np.ndarray:
        return _mean_of_passage_and_best_clause(self.vectors, self.clause_vectors, self.clause_owner, query_vector)

    def rank_scores(self, rank_query: np.ndarray) -> np.ndarray:
        if self.rank_vectors is None:
            raise ValueError("this index has no ranking vectors (see ranked)")
        return _mean_of_passage_and_best_clause(
            self.rank_vectors, self.rank_clause_vectors, self.rank_clause_owner, rank_query
        )

    def search(self, query_vector: np.ndarray, k: int = 3, rank_query: np.ndarray | None = None) -> list[Hit]:
        """The k passages closest to the (unit) query vector, best first: ordered by the ranking encoder's
        score when the index has its vectors and `rank_query` is given, else by the sentence encoder's."""
        if not self.passages or k <= 0:
            return []
        scores = self.scores(query_vector)
        if rank_query is None or self.rank_vectors is None:
            top = np.argsort(-scores)[:k]
            return [Hit(self.passages[i], float(scores[i])) for i in top]
        rank = self.rank_scores(rank_query)
        top = np.argsort(-rank)[:k]
        return [Hit(self.passages[i], float(scores[i]), float(rank[i])) for i in top]


def _mean_of_passage_and_best_clause(
    vectors: np.ndarray, clause_vectors: np.ndarray, owner: np.ndarray, query_vector: np.ndarray
) -> np.ndarray:
    query = np.asarray(query_vector, dtype=np.float32)
    best_clause = np.full(len(vectors), -1.0, dtype=np.float32)
    np.maximum.at(best_clause, owner, clause_vectors @ query)
    return 0.5 * (vectors @ query) + 0.5 * best_clause

"""Ranking a tenant's passages for a question, in memory.

The stored embeddings come from the shared multilingual encoder (services/common/ml/embeddings.py), so
a Chinese question lands near the English passage that answers it; ranking is cosine similarity
(the vectors are unit length, so a matrix product). At a few hundred or thousand passages per tenant
that product is cheap; FerretDB has no vector search, and none is needed at this size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.common.ml.embeddings import DIM, MODEL_NAME

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    doc_id: str
    title: str
    text: str
    language: str = "en"


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


class KnowledgeIndex:
    """Passages ranked by the mean of two cosines: with the whole passage (its topic) and with its best
    clause (the one line that answers). The mean ranks the answering passage first more often than the
    whole passage alone, and separates answerable from unanswerable questions better than either cosine
    alone (bench/eval_answers.py measures both)."""

    def __init__(
        self,
        passages: Sequence[Passage],
        vectors: np.ndarray,
        clause_vectors: np.ndarray | None = None,
        clause_owner: np.ndarray | None = None,
        revision: int = 0,
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

    @classmethod
    def from_records(cls, records: Sequence[dict], revision: int = 0) -> KnowledgeIndex:
        """From `KnowledgeRepo.chunks` documents; passages embedded by another encoder are left out."""
        passages: list[Passage] = []
        vectors: list[np.ndarray] = []
        clause_rows: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        foreign = 0
        for r in records:
            if r.get("encoder") != MODEL_NAME or len(r.get("embedding", b"")) != DIM * 4:
                foreign += 1
                continue
            vector = np.frombuffer(bytes(r["embedding"]), dtype=np.float32)
            clause = np.frombuffer(bytes(r.get("clause_embeddings") or b""), dtype=np.float32).reshape(-1, DIM)
            clause_rows.append(clause if len(clause) else vector.reshape(1, DIM))
            owners.append(np.full(len(clause_rows[-1]), len(passages)))
            passages.append(Passage(r["chunk_id"], r["doc_id"], r.get("title", ""), r["text"], r.get("language", "en")))
            vectors.append(vector)
        if foreign:
            log.warning(
                "knowledge passages embedded by another encoder were skipped; re-ingest the knowledge base",
                extra={"skipped": foreign, "encoder": MODEL_NAME},
            )
        if not passages:
            return cls([], np.zeros((0, DIM), np.float32), revision=revision)
        return cls(passages, np.vstack(vectors), np.vstack(clause_rows), np.concatenate(owners), revision)

    def __len__(self) -> int:
        return len(self.passages)

    def scores(self, query_vector: np.ndarray) -> np.ndarray:
        query = np.asarray(query_vector, dtype=np.float32)
        best_clause = np.full(len(self.passages), -1.0, dtype=np.float32)
        np.maximum.at(best_clause, self.clause_owner, self.clause_vectors @ query)
        return 0.5 * (self.vectors @ query) + 0.5 * best_clause

    def search(self, query_vector: np.ndarray, k: int = 3) -> list[Hit]:
        """The k passages closest to the (unit) query vector, best first."""
        if not self.passages or k <= 0:
            return []
        scores = self.scores(query_vector)
        top = np.argsort(-scores)[:k]
        return [Hit(self.passages[i], float(scores[i])) for i in top]

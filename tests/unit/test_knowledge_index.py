"""The in-memory knowledge index with two encoders: the sentence encoder's scores, the ranking encoder's order."""

from __future__ import annotations

import numpy as np

from services.common.knowledge.index import KnowledgeIndex, Passage
from services.common.ml.embeddings import DIM, MODEL_NAME, RANKING_DIM, RANKING_MODEL_NAME


def unit(dim: int, *hot: int) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[list(hot)] = 1.0
    return v / np.linalg.norm(v)


def record(i: int, vector: np.ndarray, rank: np.ndarray | None) -> dict:
    doc = {
        "chunk_id": f"d{i}#0",
        "doc_id": f"d{i}",
        "title": "",
        "text": f"passage {i}.",
        "language": "en",
        "embedding": vector.tobytes(),
        "clause_embeddings": vector.reshape(1, DIM).tobytes(),
        "encoder": MODEL_NAME,
    }
    if rank is not None:
        doc |= {
            "rank_embedding": rank.tobytes(),
            "rank_clause_embeddings": rank.reshape(1, RANKING_DIM).tobytes(),
            "rank_encoder": RANKING_MODEL_NAME,
        }
    return doc


def test_the_ranking_encoder_orders_and_the_sentence_encoders_score_is_kept():
    # The sentence encoder prefers passage 0, the ranking encoder passage 1.
    records = [record(0, unit(DIM, 0), unit(RANKING_DIM, 5)), record(1, unit(DIM, 0, 1), unit(RANKING_DIM, 4))]
    index = KnowledgeIndex.from_records(records)
    assert index.ranked
    query, rank_query = unit(DIM, 0), unit(RANKING_DIM, 4)
    by_sentence = index.search(query, 2)
    assert [h.passage.doc_id for h in by_sentence] == ["d0", "d1"] and by_sentence[0].rank_score is None
    ranked = index.search(query, 2, rank_query)
    assert [h.passage.doc_id for h in ranked] == ["d1", "d0"]
    assert ranked[0].score == next(h.score for h in by_sentence if h.passage.doc_id == "d1")
    assert ranked[0].rank_score is not None and ranked[0].rank_score > (ranked[1].rank_score or 0)
    assert ranked[0].passage.rank_clauses is not None and ranked[0].passage.rank_clauses.shape == (1, RANKING_DIM)


def test_one_passage_without_ranking_vectors_leaves_the_whole_index_to_the_sentence_encoder():
    records = [record(0, unit(DIM, 0), None), record(1, unit(DIM, 0, 1), unit(RANKING_DIM, 4))]
    index = KnowledgeIndex.from_records(records)
    assert not index.ranked
    hits = index.search(unit(DIM, 0), 2, unit(RANKING_DIM, 4))
    assert [h.passage.doc_id for h in hits] == ["d0", "d1"] and all(h.rank_score is None for h in hits)


def test_passages_compare_equal_whatever_their_vectors():
    a = Passage("c", "d", "t", "x", "en", np.ones((1, RANKING_DIM), np.float32))
    b = Passage("c", "d", "t", "x", "en", None)
    assert a == b and hash(a) == hash(b)

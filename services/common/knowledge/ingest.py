"""Loading knowledge files into a tenant's knowledge base (`cs kb ingest`).

A source file is the truth for the documents it holds: re-ingesting it stores new documents, replaces
changed ones (their passages re-embedded), skips unchanged ones, and removes documents that came from
that file before but are no longer in it. Documents from other files are left alone (unless the
ingest is `only`: then the files given are the whole knowledge base). A document
embedded by other encoders than today's (stored before the ranking encoder existed) counts as changed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from services.common.knowledge.documents import Document, chunk_document
from services.common.knowledge.repo import KnowledgeRepo
from services.common.ml.embeddings import MODEL_NAME, RANKING_MODEL_NAME, RankingEncoder, SentenceEncoder, shared_ranker


@dataclass(frozen=True)
class IngestReport:
    tenant_id: str
    added: int
    updated: int
    unchanged: int
    removed: int
    passages: int
    revision: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"tenant {self.tenant_id}: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed; {self.passages} passages embedded; revision {self.revision}; {self.seconds:.1f} s"
        )


async def ingest_documents(
    db: AsyncDatabase,
    encoder: SentenceEncoder,
    tenant_id: str,
    documents: Sequence[Document],
    ranker: RankingEncoder | None = None,
    only: bool = False,
) -> IngestReport:
    """Store the documents; `only`: they are the tenant's whole knowledge base, so documents that came
    from other files are removed too (switching a tenant to another help centre)."""
    started = time.perf_counter()
    ranker = ranker or shared_ranker()
    repo = KnowledgeRepo(db)
    stored = await repo.document_hashes(tenant_id)
    stale = await repo.embedded_otherwise(tenant_id, f"{MODEL_NAME}+{RANKING_MODEL_NAME}")
    stored_sources = {d["doc_id"]: d.get("source", "") for d in await repo.documents(tenant_id)}
    changed = [d for d in documents if stored.get(d.doc_id) != d.content_hash or d.doc_id in stale]
    passages = 0
    for doc in changed:
        chunks = chunk_document(doc)
        vectors = encoder.encode([c.embedding_text for c in chunks])
        clause_vectors = [encoder.encode(c.clauses).tobytes() for c in chunks]
        rank_vectors = ranker.passages([c.embedding_text for c in chunks])
        rank_clause_vectors = [ranker.passages(c.clauses).tobytes() for c in chunks]
        await repo.replace_document(
            tenant_id,
            doc,
            chunks,
            [v.tobytes() for v in vectors],
            clause_vectors,
            MODEL_NAME,
            [v.tobytes() for v in rank_vectors],
            rank_clause_vectors,
            RANKING_MODEL_NAME,
        )
        passages += len(chunks)
    sources = {d.source for d in documents}
    present = {d.doc_id for d in documents}
    gone = [
        doc_id for doc_id, source in stored_sources.items() if (only or source in sources) and doc_id not in present
    ]
    for doc_id in gone:
        await repo.delete_document(tenant_id, doc_id)
    added = sum(1 for d in changed if d.doc_id not in stored)
    revision = await repo.bump_revision(tenant_id) if changed or gone else await repo.revision(tenant_id)
    return IngestReport(
        tenant_id,
        added,
        len(changed) - added,
        len(documents) - len(changed),
        len(gone),
        passages,
        revision,
        time.perf_counter() - started,
    )

"""The knowledge base in the database, per tenant.

Collections:
- ``knowledge_documents``: one per document (``<tenant>:<doc id>``) with its content hash and the ids
  of its passages: re-ingesting compares hashes, so an unchanged document is skipped and a changed
  one replaced, never duplicated;
- ``knowledge_chunks``: the passages with their embeddings (float32 bytes: the whole passage, and each
  of its clauses, see documents.clauses) by two encoders, the sentence encoder (relevance, grounding)
  and the ranking encoder (which passage and sentence answers best), and the names of both;
- ``knowledge_revisions``: a counter per tenant, raised after every change, so a generator holding
  the tenant's index in memory knows when to reload it.

No multi-document transactions (FerretDB has none): a document's passages are replaced first and its
record last, so an ingest that dies half-way leaves the old hash behind and the next ingest redoes
that document.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from services.common.knowledge.documents import Chunk, Document
from services.common.platform.clock import utcnow
from services.common.storage.repositories import upserted


class KnowledgeRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._docs = db["knowledge_documents"]
        self._chunks = db["knowledge_chunks"]
        self._revisions = db["knowledge_revisions"]

    async def document_hashes(self, tenant_id: str) -> dict[str, str]:
        """doc id -> content hash of every stored document of the tenant."""
        cursor = self._docs.find({"tenant_id": tenant_id}, {"doc_id": 1, "content_hash": 1})
        return {d["doc_id"]: d["content_hash"] async for d in cursor}

    async def embedded_otherwise(self, tenant_id: str, embedded_with: str) -> set[str]:
        """Ids of the tenant's documents whose passages were embedded by other encoders than
        `embedded_with` names (stored before an encoder was added or changed): re-embed them."""
        cursor = self._docs.find({"tenant_id": tenant_id}, {"doc_id": 1, "embedded_with": 1})
        return {d["doc_id"] async for d in cursor if d.get("embedded_with") != embedded_with}

    async def documents(self, tenant_id: str) -> list[dict]:
        cursor = self._docs.find({"tenant_id": tenant_id}, {"chunk_ids": 0}).sort("doc_id", ASCENDING)
        return await cursor.to_list()

    async def replace_document(
        self,
        tenant_id: str,
        doc: Document,
        chunks: Sequence[Chunk],
        vectors: Sequence[bytes],
        clause_vectors: Sequence[bytes],
        encoder: str,
        rank_vectors: Sequence[bytes],
        rank_clause_vectors: Sequence[bytes],
        rank_encoder: str,
    ) -> None:
        """Store a new or changed document with its passages, their embeddings and their clauses' embeddings,
        by the sentence encoder (relevance, grounding) and by the ranking encoder (the order of passages)."""
        if not len(chunks) == len(vectors) == len(clause_vectors) == len(rank_vectors) == len(rank_clause_vectors):
            raise ValueError(
                f"{len(chunks)} passages but {len(vectors)}/{len(clause_vectors)}/{len(rank_vectors)}/"
                f"{len(rank_clause_vectors)} embeddings for {doc.doc_id}"
            )
        await self._chunks.delete_many({"tenant_id": tenant_id, "doc_id": doc.doc_id})
        if chunks:
            await self._chunks.insert_many(
                [
                    {
                        "_id": f"{tenant_id}:{c.chunk_id}",
                        "tenant_id": tenant_id,
                        "doc_id": doc.doc_id,
                        "chunk_id": c.chunk_id,
                        "title": c.title,
                        "text": c.text,
                        "language": c.language,
                        "position": c.position,
                        "embedding": vector,
                        "clause_embeddings": clause_vector,
                        "encoder": encoder,
                        "rank_embedding": rank_vector,
                        "rank_clause_embeddings": rank_clause_vector,
                        "rank_encoder": rank_encoder,
                    }
                    for c, vector, clause_vector, rank_vector, rank_clause_vector in zip(
                        chunks, vectors, clause_vectors, rank_vectors, rank_clause_vectors
                    )
                ]
            )
        now = utcnow()
        await self._docs.update_one(
            {"_id": f"{tenant_id}:{doc.doc_id}"},
            {
                "$set": {
                    "tenant_id": tenant_id,
                    "doc_id": doc.doc_id,
                    "title": doc.title,
                    "source": doc.source,
                    "language": doc.language,
                    "metadata": dict(doc.metadata),
                    "content_hash": doc.content_hash,
                    "embedded_with": f"{encoder}+{rank_encoder}",
                    "chunk_ids": [c.chunk_id for c in chunks],
                    "updated_at": now,
                },
                "$setOnInsert": {"created_at": now},
            },
            upsert=True,
        )

    async def delete_document(self, tenant_id: str, doc_id: str) -> None:
        await self._chunks.delete_many({"tenant_id": tenant_id, "doc_id": doc_id})
        await self._docs.delete_one({"_id": f"{tenant_id}:{doc_id}", "tenant_id": tenant_id})

    async def chunks(self, tenant_id: str) -> list[dict]:
        """Every passage of the tenant with its embedding, in a stable order."""
        cursor = self._chunks.find({"tenant_id": tenant_id}).sort([("doc_id", ASCENDING), ("position", ASCENDING)])
        return await cursor.to_list()

    async def bump_revision(self, tenant_id: str) -> int:
        doc = await self._revisions.find_one_and_update(
            {"_id": tenant_id},
            {"$inc": {"revision": 1}, "$set": {"updated_at": utcnow()}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(upserted(doc, f"the knowledge revision of tenant {tenant_id}")["revision"])

    async def revision(self, tenant_id: str) -> int:
        """0 for a tenant that never had knowledge ingested."""
        doc = await self._revisions.find_one({"_id": tenant_id})
        return int(doc["revision"]) if doc else 0

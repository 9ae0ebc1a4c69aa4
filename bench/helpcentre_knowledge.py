"""The help-centre knowledge base (bench/data/helpcentre/kb) ingested into a scratch database, for the
benches that rank its passages through the generator's own Retriever without the services running."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

from eval_helpcentre import DATA

from services.common.knowledge.documents import load_source
from services.common.knowledge.ingest import ingest_documents
from services.common.knowledge.repo import KnowledgeRepo
from services.common.ml.embeddings import shared_encoder, shared_ranker
from services.common.storage.mongo import connect
from services.generator.retrieval import Retriever


@contextlib.asynccontextmanager
async def scratch_retriever(tenant: str, prefix: str) -> AsyncIterator[Retriever]:
    """A Retriever over the help centre ingested as `tenant` into a database named `prefix`_<random>, on
    the local stack (CS_MONGO_URI, default mongodb://127.0.0.1:27017/); the database is dropped afterwards.
    Ingesting embeds every passage with both encoders: most of a bench's time."""
    database = f"{prefix}_{uuid.uuid4().hex[:8]}"
    client, db = await connect(os.environ.get("CS_MONGO_URI", "mongodb://127.0.0.1:27017/"), database, 30)
    try:
        encoder = shared_encoder()
        documents = [d for path in sorted((DATA / "kb").rglob("*.json")) for d in load_source(path)]
        print(await ingest_documents(db, encoder, tenant, documents, shared_ranker()), flush=True)
        yield Retriever(KnowledgeRepo(db), encoder, ranker=shared_ranker())
    finally:
        await client.drop_database(database)
        await client.close()

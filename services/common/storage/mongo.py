"""MongoDB access through PyMongo's async API (AsyncMongoClient), and the indexes we rely on.

Only features FerretDB v1 (the local and CI database) also supports are used: no change streams,
no multi-document transactions. Atomic state changes use single-document findAndModify.
"""

from __future__ import annotations

import asyncio
import logging

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.common.platform import metrics
from services.common.platform.lifecycle import StartupError
from services.common.storage.repositories import STATE_QUEUED, ConversationRepo

log = logging.getLogger(__name__)

INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict]]] = {
    "conversations": [
        ([("tenant_id", ASCENDING), ("state", ASCENDING), ("queue", ASCENDING)], {}),
        ([("tenant_id", ASCENDING), ("state", ASCENDING), ("queue", ASCENDING), ("queued_at", ASCENDING)], {}),
        ([("tenant_id", ASCENDING), ("customer_id", ASCENDING), ("updated_at", DESCENDING)], {}),
    ],
    "messages": [
        ([("tenant_id", ASCENDING), ("conversation_id", ASCENDING), ("created_at", ASCENDING)], {}),
        ([("tenant_id", ASCENDING), ("client_message_id", ASCENDING)], {}),
    ],
    "conversation_transitions": [([("tenant_id", ASCENDING), ("conversation_id", ASCENDING)], {})],
    "customers": [([("tenant_id", ASCENDING), ("customer_id", ASCENDING)], {"unique": True})],
    "escalations": [
        ([("tenant_id", ASCENDING), ("queue", ASCENDING), ("created_at", ASCENDING)], {}),
        ([("tenant_id", ASCENDING), ("conversation_id", ASCENDING), ("created_at", DESCENDING)], {}),
    ],
    "feedback": [([("tenant_id", ASCENDING), ("reply_id", ASCENDING)], {})],
    "corrections": [([("tenant_id", ASCENDING), ("conversation_id", ASCENDING)], {})],
    "model_versions": [([("kind", ASCENDING), ("last_served_at", DESCENDING)], {})],
    "api_keys": [
        ([("tenant_id", ASCENDING), ("role", ASCENDING)], {}),
        ([("tenant_id", ASCENDING), ("account", ASCENDING)], {}),
    ],
    "event_log": [
        ([("event_key", ASCENDING)], {"unique": True}),
        ([("tenant_id", ASCENDING), ("stream", ASCENDING), ("seq", ASCENDING)], {}),
        ([("tenant_id", ASCENDING), ("stream", ASCENDING), ("at", ASCENDING)], {}),
    ],
    "knowledge_documents": [([("tenant_id", ASCENDING), ("doc_id", ASCENDING)], {})],
    "knowledge_chunks": [([("tenant_id", ASCENDING), ("doc_id", ASCENDING), ("position", ASCENDING)], {})],
}


# How long one database operation waits for an unreachable server before it fails: the gateway
# then answers UNAVAILABLE and a worker retries the event, instead of holding a request for the
# whole start-up grace period.
OPERATION_TIMEOUT_S = 5.0
# How long one reply from the server may take (CS_MONGO_OPERATION_TIMEOUT_S): a database that
# accepts the connection and then hangs fails the call with a NetworkTimeout (transient: retried)
# instead of blocking it forever.
REPLY_TIMEOUT_S = 15.0


class CommandCounter(monitoring.CommandListener):
    """Counts the commands a client sends (one per round trip) in cs_db_commands_total{service, command}:
    bench/bench_pipeline.py prints them per message and service."""

    def __init__(self, service: str) -> None:
        self.service = service

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        metrics.DB_COMMANDS.labels(service=self.service, command=event.command_name).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def client(
    uri: str, timeout_s: float = OPERATION_TIMEOUT_S, reply_timeout_s: float = REPLY_TIMEOUT_S, service: str = ""
) -> AsyncMongoClient:
    """A client; with `service`, its commands are counted (CommandCounter)."""
    ms = int(timeout_s * 1000)
    return AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        socketTimeoutMS=int(reply_timeout_s * 1000),
        tz_aware=True,
        event_listeners=[CommandCounter(service)] if service else [],
    )


async def connect(
    uri: str, database: str, timeout_s: float, reply_timeout_s: float = REPLY_TIMEOUT_S, service: str = ""
) -> tuple[AsyncMongoClient, AsyncDatabase]:
    """Connect (waiting up to timeout_s for the database to answer) and create the indexes.

    StartupError with the (redacted) URI when it does not answer in time. A service's commands are
    counted in its metrics (CommandCounter).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    operation_s = min(timeout_s, OPERATION_TIMEOUT_S)
    mongo = client(uri, operation_s, reply_timeout_s, service)
    while True:
        try:
            await asyncio.wait_for(mongo.admin.command("ping"), operation_s + 1)
            db = mongo[database]
            await ensure_indexes(db)
            return mongo, db
        except (TimeoutError, PyMongoError) as exc:
            if loop.time() + 0.5 >= deadline:
                await mongo.close()
                raise StartupError(
                    f"database at {_redact(uri)} did not answer within {timeout_s:.0f} s ({_first_line(exc)})"
                ) from None
            await asyncio.sleep(0.5)


async def ping(db: AsyncDatabase) -> None:
    """Raises when the database does not answer (the readiness probe)."""
    await db.command("ping")


async def ensure_indexes(db: AsyncDatabase) -> None:
    for collection, indexes in INDEXES.items():
        for keys, options in indexes:
            await db[collection].create_index(keys, **options)


async def migrate(db: AsyncDatabase) -> dict:
    """Bring documents stored by earlier versions up to what the code reads; a no-op once done.
    The gateway runs it at start (it reads what is migrated); tools that connect do not. Safe to
    run by several replicas at once, and a run cut short is finished by the next. Returns what it
    changed.

    - Conversations keyed by their id alone get their tenant-scoped key (`rekey_conversations`).
    - Queued conversations get `queued_at` (the queue's order) from their `updated_at`.
    """
    rekeyed = await rekey_conversations(db)
    conversations = db["conversations"]
    async for doc in conversations.find({"state": STATE_QUEUED, "queued_at": {"$exists": False}}, {"updated_at": 1}):
        await conversations.update_one(
            {"_id": doc["_id"], "queued_at": {"$exists": False}}, {"$set": {"queued_at": doc.get("updated_at")}}
        )
    return {"conversations_rekeyed": rekeyed}


async def rekey_conversations(db: AsyncDatabase) -> int:
    """Move each conversation stored under `_id` = conversation id (releases before tenant-scoped
    keys; such a document has no `conversation_id` field) to `_id` "<tenant>/<conversation>" with a
    `conversation_id` field; how many old documents went.

    No transactions, and FerretDB runs findAndModify as a read then a write, so each move is an
    insert of the new document, then the delete of the old one; a run that stops in between leaves
    both, and the next run's insert finds the new one and only deletes the old. The new key may
    also already hold a document the new code wrote for the same conversation before this run
    reached it (a worker or replica of the new release saw a message first). Both documents then
    follow the same transition log (its entries were always keyed by tenant, conversation and
    version), so the one with the higher version is the further along: the old one replaces the new
    one when its version is higher, or as high and the new one is not a migrated copy
    (`migrated_from`; the old one then has the original creation time and counters), guarded by the
    version the new one had, and a change in between leaves the old one for the next run. Otherwise
    the old one just goes.
    """
    conversations = db["conversations"]
    moved = 0
    async for old in conversations.find({"conversation_id": {"$exists": False}}):
        tenant_id, conversation_id = old.get("tenant_id"), old["_id"]
        if not isinstance(tenant_id, str) or not tenant_id or "/" in tenant_id or not isinstance(conversation_id, str):
            log.warning(
                "conversation without a usable tenant id left as it is", extra={"conversation_id": str(conversation_id)}
            )
            continue
        new_id = ConversationRepo.doc_id(tenant_id, conversation_id)
        copy = {**old, "_id": new_id, "conversation_id": conversation_id, "migrated_from": conversation_id}
        try:
            await conversations.insert_one(copy)
        except DuplicateKeyError:
            current = await conversations.find_one({"_id": new_id})
            if current is not None:
                version, old_version = current.get("version", 0), old.get("version", 0)
                if old_version > version or (old_version == version and "migrated_from" not in current):
                    replaced = await conversations.replace_one({"_id": new_id, "version": version}, copy)
                    if replaced.matched_count == 0:
                        continue  # it changed meanwhile: the next run compares again
        await conversations.delete_one({"_id": conversation_id, "conversation_id": {"$exists": False}})
        moved += 1
    if moved:
        log.info("conversations moved to tenant-scoped keys", extra={"count": moved})
    return moved


def _redact(uri: str) -> str:
    """Hide a password in a URI before it reaches a log line."""
    scheme, sep, rest = uri.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return uri


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]

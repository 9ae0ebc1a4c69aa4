"""Repositories over the MongoDB collections. Every query is scoped by tenant_id.

Writes are idempotent: documents are keyed by the ids the events carry (message_id, reply_id,
escalation_id, feedback_id), inserted with $setOnInsert, so a redelivered event never creates a
second record. Conversation state transitions are single-document findAndModify calls that only
match the states a transition may start from, so two agents can't both claim one conversation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from google.protobuf.json_format import MessageToDict, ParseDict
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.platform.clock import utcnow
from services.common.platform.errors import TransientError
from services.common.platform.ids import conversation_ref
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import understanding_pb2 as und

# A conversation's "state" as stored (who is answering it); not to be confused with the API key roles (ROLE_*).
STATE_BOT, STATE_QUEUED, STATE_AGENT, STATE_RESOLVED = "bot", "queued", "agent", "resolved"
STATE_TO_PROTO = {
    STATE_BOT: conv.CONVERSATION_STATE_BOT,
    STATE_QUEUED: conv.CONVERSATION_STATE_QUEUED,
    STATE_AGENT: conv.CONVERSATION_STATE_AGENT,
    STATE_RESOLVED: conv.CONVERSATION_STATE_RESOLVED,
}


def upserted(doc: dict | None, what: str) -> dict:
    """The document an upsert returned (ReturnDocument.AFTER always gives one); None is a database fault."""
    if doc is None:
        raise TransientError(f"the database returned no document after upserting {what}; retry")
    return doc


def to_doc(message) -> dict:
    return MessageToDict(message, preserving_proto_field_name=True)


def to_timestamp(value: dt.datetime | None):
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    if value is not None:
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        stamp.FromDatetime(value)
    return stamp


def conversation_proto(doc: dict) -> conv.Conversation:
    return conv.Conversation(
        tenant_id=doc["tenant_id"],
        conversation_id=doc["conversation_id"],
        customer_id=doc.get("customer_id", ""),
        channel=doc.get("channel", ""),
        state=STATE_TO_PROTO.get(doc.get("state", STATE_BOT), conv.CONVERSATION_STATE_UNSPECIFIED),
        queue=doc.get("queue") or "",
        agent_id=doc.get("agent_id") or "",
        created_at=to_timestamp(doc.get("created_at")),
        updated_at=to_timestamp(doc.get("updated_at")),
    )


def message_proto(doc: dict) -> conv.ConversationMessage:
    out = conv.ConversationMessage(
        message_id=doc["_id"],
        author=conv.Author.Value(f"AUTHOR_{doc['author'].upper()}"),
        text=doc.get("text", ""),
        created_at=to_timestamp(doc.get("created_at")),
        in_reply_to=doc.get("in_reply_to", ""),
        agent_id=doc.get("agent_id", ""),
        citations=doc.get("citations", []),
        model_version=doc.get("model_version", ""),
    )
    if doc.get("reply_kind"):
        out.reply_kind = conv.ReplyKind.Value(doc["reply_kind"])
    if doc.get("understanding"):
        ParseDict(doc["understanding"], out.understanding, ignore_unknown_fields=True)
    if doc.get("sentiment"):
        ParseDict(doc["sentiment"], out.sentiment, ignore_unknown_fields=True)
    return out


async def insert_once(collection, key: dict, fields: dict) -> bool:
    """Insert a document keyed by `key` unless it exists; True when this call inserted it.

    An upsert with only $setOnInsert, so a redelivered event changes nothing. Two concurrent first
    writes of one id (the gateway storing a message it just published while the generator stores
    it with its enrichment) can both try the insert: FerretDB then fails the slower one with a
    duplicate key (MongoDB can too), which means the document exists, all this call wanted. Raised
    as an error, it would make the generator dead-letter the message, and its customer get no reply.
    """
    try:
        result = await collection.update_one(key, {"$setOnInsert": fields}, upsert=True)
    except DuplicateKeyError:
        return False
    return result.upserted_id is not None


QUEUE_PAGE = 100


class ConversationRepo:
    """Conversations and their state machine (bot -> queued -> agent -> resolved).

    A conversation id is the adapter's own and only unique within its tenant, so a conversation is
    stored under `_id` "<tenant>/<conversation>" (`doc_id`) with `tenant_id` and `conversation_id`
    as fields: two tenants' conversations "c1" are two documents, and no lookup of one tenant can
    find, or tell anything about, another's. (Releases before stored `_id` = conversation id;
    `mongo.migrate` moves those documents.)

    Every state change is one entry in `conversation_transitions`, keyed
    "<tenant>/<conversation>/<version>". FerretDB (SQLite) runs findAndModify as a read and then a
    write, so two concurrent conditional updates can both match, and several agents could claim the
    same conversation. An insert with a taken _id fails on any backend, so the caller that
    inserts entry n+1 is the one that moves the conversation from version n; the others re-read
    and see the new state. A winner that dies between its insert and its update leaves an entry
    the next caller rolls forward, so a conversation never gets stuck.
    """

    ATTEMPTS = 20

    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["conversations"]
        self._log = db["conversation_transitions"]

    @staticmethod
    def doc_id(tenant_id: str, conversation_id: str) -> str:
        return conversation_ref(tenant_id, conversation_id)

    def _key(self, tenant_id: str, conversation_id: str) -> dict:
        return {"_id": self.doc_id(tenant_id, conversation_id), "tenant_id": tenant_id}

    async def ensure(self, tenant_id: str, conversation_id: str, customer_id: str, channel: str) -> dict:
        """The conversation, created in state `bot` on first sight."""
        for attempt in range(2):
            now = utcnow()
            try:
                return upserted(
                    await self._c.find_one_and_update(
                        self._key(tenant_id, conversation_id),
                        {
                            "$setOnInsert": {
                                "tenant_id": tenant_id,
                                "conversation_id": conversation_id,
                                "customer_id": customer_id,
                                "channel": channel,
                                "state": STATE_BOT,
                                "created_at": now,
                                "queue": "",
                                "agent_id": "",
                                "bot_turns": 0,
                                "version": 0,
                            },
                            "$set": {"updated_at": now},
                        },
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    ),
                    f"conversation {conversation_id}",
                )
            except DuplicateKeyError:  # a concurrent first sight inserted it: now it exists
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def get(self, tenant_id: str, conversation_id: str) -> dict | None:
        return await self._c.find_one(self._key(tenant_id, conversation_id))

    async def transition(
        self,
        tenant_id: str,
        conversation_id: str,
        from_states: tuple[str, ...],
        to_state: str,
        extra_filter: dict | None = None,
        op_id: str = "",
        **fields,
    ) -> dict | None:
        """Move to `to_state` if the conversation is in one of `from_states` (and matches extra_filter).

        Returns the conversation after the change, or None when it was not in such a state. Of
        concurrent callers at most one succeeds (see the class docstring).

        op_id makes a retried call idempotent: a caller that repeats the call with the same op_id
        after an error (the database died after taking its write but before answering) gets the
        conversation its first call produced, not None. Without it the retry finds its own change,
        rolled forward, and reads it as someone else's: the generator would then drop the escalation
        of a message in flight when the database dies, and its customer would never get a reply.
        """
        query = {**self._key(tenant_id, conversation_id), **(extra_filter or {})}
        for _ in range(self.ATTEMPTS):
            doc = await self._c.find_one(query)
            if doc is not None and op_id and doc.get("last_op") == op_id:
                return doc  # this operation's own change, made by an earlier try
            if doc is None or doc["state"] not in from_states:
                return None
            version = doc.get("version", 0)
            # Every change overwrites last_op, so only the latest change can ever match a retry.
            change = {"state": to_state, "updated_at": utcnow(), **fields, "last_op": op_id}
            try:
                await self._log.insert_one(
                    {
                        "_id": self._entry_id(tenant_id, conversation_id, version + 1),
                        "tenant_id": tenant_id,
                        "conversation_id": conversation_id,
                        "from_state": doc["state"],
                        "set": change,
                    }
                )
            except DuplicateKeyError:  # another caller took this version: apply theirs, look again
                await self._roll_forward(tenant_id, conversation_id, version + 1)
                continue
            after = await self._apply(tenant_id, conversation_id, version + 1, change)
            return after or await self.get(tenant_id, conversation_id)
        raise TransientError(f"conversation {conversation_id} is changing too fast to transition; retry")

    @classmethod
    def _entry_id(cls, tenant_id: str, conversation_id: str, version: int) -> str:
        return f"{cls.doc_id(tenant_id, conversation_id)}/{version}"

    async def _apply(self, tenant_id: str, conversation_id: str, version: int, change: dict) -> dict | None:
        return await self._c.find_one_and_update(
            {**self._key(tenant_id, conversation_id), "version": version - 1},
            {"$set": {**change, "version": version}},
            return_document=ReturnDocument.AFTER,
        )

    async def _roll_forward(self, tenant_id: str, conversation_id: str, version: int) -> None:
        entry = await self._log.find_one({"_id": self._entry_id(tenant_id, conversation_id, version)})
        if entry is not None:
            await self._apply(tenant_id, conversation_id, version, entry["set"])

    async def count_bot_turn(self, tenant_id: str, conversation_id: str) -> None:
        await self._c.update_one(self._key(tenant_id, conversation_id), {"$inc": {"bot_turns": 1}})

    async def queued(self, tenant_id: str, queue: str, page: int = QUEUE_PAGE) -> AsyncIterator[dict]:
        """Every conversation waiting in the queue, longest waiting first, read `page` at a time.

        Ordered by `queued_at`, when it entered the queue (escalation or transfer), which a customer's
        new messages do not move; none is left out however long the queue is.
        """
        query = {"tenant_id": tenant_id, "state": STATE_QUEUED, "queue": queue}
        done = 0
        while True:
            cursor = self._c.find(query).sort([("queued_at", ASCENDING), ("_id", ASCENDING)])
            docs = await cursor.skip(done).limit(page).to_list()
            for doc in docs:
                yield doc
            if len(docs) < page:
                return
            done += len(docs)


class MessageRepo:
    """Customer messages, bot replies and agent replies of a conversation, with their enrichment."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["messages"]

    async def record_customer(self, msg: ev.MessageReceived, client_message_id: str = "") -> bool:
        """Store a customer message once; True when this call created it."""
        return await insert_once(
            self._c, {"_id": msg.message_id, "tenant_id": msg.tenant_id}, self._customer_fields(msg, client_message_id)
        )

    @staticmethod
    def _customer_fields(msg: ev.MessageReceived, client_message_id: str = "") -> dict:
        received = msg.received_at.ToDatetime(dt.UTC) if msg.HasField("received_at") else utcnow()
        return {
            "tenant_id": msg.tenant_id,
            "conversation_id": msg.conversation_id,
            "author": "customer",
            "customer_id": msg.customer_id,
            "channel": msg.channel,
            "text": msg.text,
            "created_at": received,
            "client_message_id": client_message_id or msg.message_id,
        }

    async def find_by_client_id(self, tenant_id: str, client_message_id: str) -> dict | None:
        return await self._c.find_one({"tenant_id": tenant_id, "client_message_id": client_message_id})

    async def attach_enrichment(
        self, msg: ev.MessageReceived, understanding: und.Understanding, sentiment: und.Sentiment
    ) -> None:
        """Store the customer message (once, as record_customer) with its enrichment, in one round trip."""
        key = {"_id": msg.message_id, "tenant_id": msg.tenant_id}
        enrichment = {
            "$set": {
                "understanding": to_doc(understanding),
                "sentiment": to_doc(sentiment),
                "model_versions": {"intent": understanding.model_version, "sentiment": sentiment.model_version},
                "latencies": {"intent_s": understanding.latency_seconds, "sentiment_s": sentiment.latency_seconds},
                "enriched_at": utcnow(),
            }
        }
        try:
            await self._c.update_one(key, {**enrichment, "$setOnInsert": self._customer_fields(msg)}, upsert=True)
        except DuplicateKeyError:  # the gateway stored it at the same moment (see insert_once): it exists now
            await self._c.update_one(key, enrichment)

    async def record_reply(self, reply: ev.ReplyPublished, published: bool = True) -> bool:
        """Store a reply once (keyed by reply_id); True when this call created it.

        A writer that stores before it publishes (so a reply a customer sees is always in the
        history) passes published=False, keeps the event's bytes with it, and calls
        mark_published once Kafka has it: a redelivered event finds the unpublished reply and
        publishes that same reply instead of generating a second one.
        """
        created = reply.created_at.ToDatetime(dt.UTC) if reply.HasField("created_at") else utcnow()
        author = conv.Author.Name(reply.author).removeprefix("AUTHOR_").lower()
        return await insert_once(
            self._c,
            {"_id": reply.reply_id, "tenant_id": reply.tenant_id},
            {
                "tenant_id": reply.tenant_id,
                "conversation_id": reply.conversation_id,
                "author": author,
                "text": reply.text,
                "created_at": created,
                "in_reply_to": reply.in_reply_to,
                "agent_id": reply.agent_id,
                "reply_kind": conv.ReplyKind.Name(reply.kind),
                "language": reply.language,
                "citations": list(reply.citations),
                "model_version": reply.model_version,
                "latencies": {"first_token_s": reply.first_token_seconds, "generation_s": reply.generation_seconds},
                "published": published,
                **({} if published else {"event": reply.SerializeToString()}),
            },
        )

    async def mark_published(self, tenant_id: str, reply_id: str) -> None:
        await self._c.update_one(
            {"_id": reply_id, "tenant_id": tenant_id}, {"$set": {"published": True}, "$unset": {"event": ""}}
        )

    @staticmethod
    def unpublished_event(doc: dict) -> ev.ReplyPublished | None:
        """The stored event of a reply not yet confirmed published (see record_reply), else None."""
        if doc.get("published", True) or "event" not in doc:
            return None
        return ev.ReplyPublished.FromString(bytes(doc["event"]))

    async def get_reply(self, tenant_id: str, reply_id: str) -> dict | None:
        return await self._c.find_one({"_id": reply_id, "tenant_id": tenant_id, "author": {"$ne": "customer"}})

    async def get_customer_message(self, tenant_id: str, message_id: str) -> dict | None:
        return await self._c.find_one({"_id": message_id, "tenant_id": tenant_id, "author": "customer"})

    async def get_many(self, tenant_id: str, message_ids: list[str]) -> dict[str, dict]:
        """The tenant's stored messages and replies among `message_ids`, by id (erased ones are absent)."""
        cursor = self._c.find({"tenant_id": tenant_id, "_id": {"$in": message_ids}})
        return {doc["_id"]: doc async for doc in cursor}

    async def history(self, tenant_id: str, conversation_id: str, limit: int = 200) -> list[dict]:
        cursor = self._c.find({"tenant_id": tenant_id, "conversation_id": conversation_id})
        docs = await cursor.sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit).to_list()
        return list(reversed(docs))


class CustomerRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["customers"]

    async def upsert(self, tenant_id: str, customer_id: str, profile: conv.CustomerProfile | None) -> dict:
        fields = {k: v for k, v in (to_doc(profile) if profile else {}).items() if v}
        for attempt in range(2):
            try:
                return upserted(
                    await self._c.find_one_and_update(
                        {"_id": f"{tenant_id}:{customer_id}"},
                        {
                            "$setOnInsert": {
                                "tenant_id": tenant_id,
                                "customer_id": customer_id,
                                "created_at": utcnow(),
                            },
                            "$set": {"updated_at": utcnow(), **{f"profile.{k}": v for k, v in fields.items()}},
                        },
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    ),
                    f"customer {customer_id}",
                )
            except DuplicateKeyError:  # the gateway and the generator both saw the customer first: now it exists
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def get(self, tenant_id: str, customer_id: str) -> dict | None:
        return await self._c.find_one({"_id": f"{tenant_id}:{customer_id}", "tenant_id": tenant_id})


class EscalationRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["escalations"]

    async def record(self, esc: ev.EscalationRaised, payload: bytes) -> bool:
        return await insert_once(
            self._c,
            {"_id": esc.escalation_id, "tenant_id": esc.tenant_id},
            {
                "tenant_id": esc.tenant_id,
                "conversation_id": esc.conversation_id,
                "queue": esc.queue,
                "created_at": esc.created_at.ToDatetime(dt.UTC),
                "event": payload,
            },
        )

    async def latest_for(self, tenant_id: str, conversation_id: str) -> ev.EscalationRaised | None:
        cursor = self._c.find({"tenant_id": tenant_id, "conversation_id": conversation_id}).sort(
            "created_at", DESCENDING
        )
        docs = await cursor.limit(1).to_list()
        if not docs:
            return None
        out = ev.EscalationRaised()
        out.ParseFromString(docs[0]["event"])
        return out


class FeedbackRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["feedback"]

    async def record(self, fb: ev.FeedbackSubmitted) -> None:
        await insert_once(
            self._c,
            {"_id": fb.feedback_id, "tenant_id": fb.tenant_id},
            {**to_doc(fb), "created_at": fb.created_at.ToDatetime(dt.UTC)},
        )

    async def thumbs_down(self, tenant_id: str | None = None) -> list[dict]:
        """Thumbs-down feedback (of one tenant, or all), oldest first: what retraining should look at."""
        query = {"rating": ev.Rating.Name(ev.RATING_THUMBS_DOWN), **({"tenant_id": tenant_id} if tenant_id else {})}
        return await self._c.find(query).sort("created_at", ASCENDING).to_list()


def correction_proto(doc: dict) -> und.Correction:
    return und.Correction(
        intent=doc.get("intent", ""),
        polarity=und.Polarity.Value(doc.get("polarity") or "POLARITY_UNSPECIFIED"),
        agent_id=doc.get("agent_id", ""),
        corrected_at=to_timestamp(doc.get("corrected_at")),
        model_intent=doc.get("model_intent", ""),
        model_version=doc.get("model_version", ""),
    )


class CorrectionRepo:
    """Agents' relabellings of customer messages, for retraining: one record per message.

    Keyed "<tenant>/<message_id>": repeating a correction changes nothing, a different one replaces
    the fields it names. Records hold labels and ids, never the text: the retrain commands read the
    text from `messages`, so erasing a customer's messages also takes their words out of every
    later model version.
    """

    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["corrections"]

    async def record(
        self,
        tenant_id: str,
        conversation_id: str,
        message_id: str,
        agent_id: str,
        intent: str,
        polarity: str,
        model_intent: str,
        model_version: str,
    ) -> dict:
        """Store the correction (intent and/or polarity name; empty: leave as is); the record after it."""
        key = {"_id": f"{tenant_id}/{message_id}", "tenant_id": tenant_id}
        wanted = {k: v for k, v in (("intent", intent), ("polarity", polarity)) if v}
        existing = await self._c.find_one(key)
        if existing is not None and all(existing.get(k) == v for k, v in wanted.items()):
            return existing
        change = {
            **wanted,
            "agent_id": agent_id,
            "corrected_at": utcnow(),
            "model_intent": model_intent,
            "model_version": model_version,
        }
        for attempt in range(2):
            try:
                return upserted(
                    await self._c.find_one_and_update(
                        key,
                        {
                            "$set": change,
                            "$setOnInsert": {"conversation_id": conversation_id, "message_id": message_id},
                        },
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    ),
                    f"the correction of message {message_id}",
                )
            except DuplicateKeyError:  # a concurrent first correction inserted it: update that one
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def for_conversation(self, tenant_id: str, conversation_id: str) -> dict[str, dict]:
        """The conversation's corrections by message id."""
        cursor = self._c.find({"tenant_id": tenant_id, "conversation_id": conversation_id})
        return {doc["message_id"]: doc async for doc in cursor}

    async def all(self, tenant_id: str | None = None) -> list[dict]:
        """Every correction (of one tenant, or all), oldest first."""
        query = {"tenant_id": tenant_id} if tenant_id else {}
        return await self._c.find(query).sort([("corrected_at", ASCENDING), ("_id", ASCENDING)]).to_list()


class ModelVersionRepo:
    """The model versions workers have put into service, with the labels each can produce.

    A worker announces a version when it starts serving it (at start and after a hot reload), so a
    service without the model files (the gateway) can check an agent's intent label against what
    the model in service knows. Not scoped by tenant: one model version serves every tenant.
    """

    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["model_versions"]

    async def announce(self, kind: str, version: str, labels: list[str]) -> None:
        now = utcnow()
        await self._c.update_one(
            {"_id": version},
            {"$setOnInsert": {"kind": kind, "labels": labels, "first_served_at": now}, "$set": {"last_served_at": now}},
            upsert=True,
        )

    async def latest(self, kind: str, skipping_prefix: str = "") -> dict | None:
        """The version of `kind` most recently put into service, or None before any was; `skipping_prefix`:
        not one whose name starts with it (a tenant's own intent models label only that tenant's messages)."""
        async for doc in self._c.find({"kind": kind}).sort("last_served_at", DESCENDING):
            if not skipping_prefix or not str(doc["_id"]).startswith(skipping_prefix):
                return doc
        return None

    async def get(self, kind: str, version: str) -> dict | None:
        """One announced version of `kind` with its labels, or None when no worker has served it."""
        return await self._c.find_one({"_id": version, "kind": kind}) if version else None


# An API key's "role" as stored (who is calling); ROLE_AGENT is a person, STATE_AGENT a conversation state.
# A supervisor is an agent who may also transfer or resolve conversations other agents have claimed.
ROLE_ADAPTER, ROLE_AGENT, ROLE_SUPERVISOR = "adapter", "agent", "supervisor"
# A public channel's backend (web chat): calls the customer API on behalf of visitors a widget key admits.
ROLE_CHANNEL = "channel"
ROLES = (ROLE_ADAPTER, ROLE_AGENT, ROLE_SUPERVISOR, ROLE_CHANNEL)
PEOPLE = (ROLE_AGENT, ROLE_SUPERVISOR)  # roles that work conversations in the agent API
# A tenant id is part of every key the platform builds ("<tenant>/<conversation>"), so it never holds a "/".
TENANT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    role: str  # "adapter" or "agent"
    agent_id: str = ""
    key_id: str = ""
    expires_at: float = 0.0  # POSIX time a sign-in credential stops working; 0: a key that does not expire


def hash_key(key: str) -> str:
    """API keys are random 256-bit secrets, so one SHA-256 is enough; only the hash is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["api_keys"]

    async def create(self, tenant_id: str, role: str, agent_id: str = "") -> str:
        if not TENANT_ID.fullmatch(tenant_id):
            raise ValueError(f"tenant id {tenant_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if role in PEOPLE and not agent_id:
            raise ValueError(f"a {role} key needs an agent id")
        key = f"cs_{role[:2]}_{secrets.token_urlsafe(32)}"
        await self._c.insert_one(
            {
                "_id": hash_key(key),
                "tenant_id": tenant_id,
                "role": role,
                "agent_id": agent_id,
                "created_at": utcnow(),
                "revoked": False,
            }
        )
        return key

    async def lookup(self, key: str) -> Principal | None:
        digest = hash_key(key)
        doc = await self._c.find_one({"_id": digest, "revoked": False})
        if not doc:
            return None
        expires = doc.get("expires_at")
        if expires is not None and expires <= utcnow():
            return None
        return Principal(
            doc["tenant_id"], doc["role"], doc.get("agent_id", ""), digest[:12], expires.timestamp() if expires else 0.0
        )

    async def revoke(self, key: str) -> bool:
        result = await self._c.update_one({"_id": hash_key(key)}, {"$set": {"revoked": True}})
        return result.modified_count == 1


class StreamRouteRepo:
    """Which gateway replica holds a conversation's reply stream, for token streaming.

    Keyed by tenant and conversation: a client may open a stream before its conversation exists,
    so two tenants can hold a stream on the same id, and one must not overwrite the other's route.
    """

    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["stream_routes"]

    @staticmethod
    def _id(tenant_id: str, conversation_id: str) -> str:
        return conversation_ref(tenant_id, conversation_id)

    async def set(self, tenant_id: str, conversation_id: str, address: str) -> None:
        await self._c.update_one(
            {"_id": self._id(tenant_id, conversation_id)},
            {
                "$set": {
                    "tenant_id": tenant_id,
                    "conversation_id": conversation_id,
                    "address": address,
                    "updated_at": utcnow(),
                }
            },
            upsert=True,
        )

    async def get(self, tenant_id: str, conversation_id: str) -> str | None:
        doc = await self._c.find_one({"_id": self._id(tenant_id, conversation_id), "tenant_id": tenant_id})
        return doc["address"] if doc else None

    async def clear(self, tenant_id: str, conversation_id: str, address: str) -> None:
        await self._c.delete_one({"_id": self._id(tenant_id, conversation_id), "address": address})

    async def clear_address(self, address: str) -> int:
        """Drop every route naming `address` (a replica starting there holds no stream yet); how many."""
        result = await self._c.delete_many({"address": address})
        return result.deleted_count

    async def count(self, tenant_id: str) -> int:
        return await self._c.count_documents({"tenant_id": tenant_id})


@dataclass
class Repositories:
    conversations: ConversationRepo
    messages: MessageRepo
    customers: CustomerRepo
    escalations: EscalationRepo
    feedback: FeedbackRepo
    api_keys: ApiKeyRepo
    stream_routes: StreamRouteRepo
    corrections: CorrectionRepo
    model_versions: ModelVersionRepo

    @classmethod
    def of(cls, db: AsyncDatabase) -> Repositories:
        return cls(
            ConversationRepo(db),
            MessageRepo(db),
            CustomerRepo(db),
            EscalationRepo(db),
            FeedbackRepo(db),
            ApiKeyRepo(db),
            StreamRouteRepo(db),
            CorrectionRepo(db),
            ModelVersionRepo(db),
        )

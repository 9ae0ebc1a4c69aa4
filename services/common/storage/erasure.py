"""Right to erasure: delete everything the database holds about one customer of one tenant.

What goes: every document of the tenant that names the customer (`customer_id`: the profile, the
conversations, their customer messages) or one of the customer's conversations (`conversation_id`:
messages and replies with their enrichment, escalations with their summaries, feedback, state
transitions, stream routes, sentiment scores, agents' corrections). The sweep covers every
collection rather than a list of them, so a collection added later that keys its records by
conversation or customer is erased too.

Conversation ids are only unique within a tenant, so every match is scoped by the tenant: another
tenant's conversation with the same id, and everything of it, stays.

The conversations go last: they are how the customer's conversation ids are found, so an erasure
cut short (the database went away) is finished by running it again. Running it twice is harmless.
Not covered: events still in Kafka topics (they expire with the topics' retention), and a message
of the customer still in flight, which the workers store when they process it.
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from services.common.platform.settings import Env
from services.common.storage.mongo import connect

CONVERSATIONS = "conversations"


async def erase_customer(env: Env, tenant_id: str, customer_id: str) -> dict:
    """Connect with the service settings, erase, and report how many documents went from where."""
    mongo, db = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), 10)
    try:
        return await erase(db, tenant_id, customer_id)
    finally:
        await mongo.close()


async def erase(db: AsyncDatabase, tenant_id: str, customer_id: str) -> dict:
    conversation_ids = [
        # A conversation stored by a release before tenant-scoped keys (not migrated yet) has its id as _id.
        doc.get("conversation_id", doc["_id"])
        async for doc in db[CONVERSATIONS].find(
            {"tenant_id": tenant_id, "customer_id": customer_id}, {"_id": 1, "conversation_id": 1}
        )
    ]
    names = sorted(name for name in await db.list_collection_names() if name != CONVERSATIONS)
    deleted = {}
    for name in [*names, CONVERSATIONS]:
        result = await db[name].delete_many(_about(tenant_id, customer_id, conversation_ids))
        if result.deleted_count:
            deleted[name] = result.deleted_count
    return {
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "conversations": len(conversation_ids),
        "deleted": deleted,
    }


def _about(tenant_id: str, customer_id: str, conversation_ids: list[str]) -> dict:
    """The tenant's documents that name the customer or one of their conversations."""
    return {
        "tenant_id": tenant_id,
        "$or": [{"customer_id": customer_id}, {"conversation_id": {"$in": conversation_ids}}],
    }

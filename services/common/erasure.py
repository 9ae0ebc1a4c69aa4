"""Right to erasure: delete one customer's profile, conversations, messages, escalations, feedback."""

from __future__ import annotations

from services.common.mongo import connect
from services.common.repositories import Repositories
from services.common.settings import Env


async def erase_customer(env: Env, tenant_id: str, customer_id: str) -> dict:
    mongo, db = await connect(env.str("CS_MONGO_URI"), env.str("CS_MONGO_DATABASE"), 10)
    try:
        repos = Repositories.of(db)
        conversation_ids = await repos.conversations.delete_for_customer(tenant_id, customer_id)
        return {
            "tenant_id": tenant_id,
            "customer_id": customer_id,
            "conversations": len(conversation_ids),
            "messages": await repos.messages.delete_conversations(tenant_id, conversation_ids),
            "escalations": await repos.escalations.delete_conversations(tenant_id, conversation_ids),
            "feedback": await repos.feedback.delete_conversations(tenant_id, conversation_ids),
            "profiles": await repos.customers.delete(tenant_id, customer_id),
        }
    finally:
        await mongo.close()

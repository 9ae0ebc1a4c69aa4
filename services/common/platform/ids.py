"""Deterministic ids: the same inputs give the same id, so a retried call or a redelivered event
repeats its ids (message ids from an adapter's idempotency key, reply and escalation ids from the
message id) and every write keyed by them stays idempotent.

A conversation is named by its tenant and the id its adapter gave it: two tenants may both have a
conversation "c1". `conversation_ref` is the one string for that pair, used as the conversation's
document `_id` and as the Kafka record key of its events.
"""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("b5d0c7f2-1e0a-4e52-8a3f-5f2a7d9c4e61")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def conversation_ref(tenant_id: str, conversation_id: str) -> str:
    """The pair as "<tenant>/<conversation>", unambiguous because a tenant id never contains "/" (API keys are
    created only for ids of letters, digits, ".", "_" and "-", and the event codec refuses an event
    whose tenant id has one), so the first "/" always ends the tenant id."""
    if "/" in tenant_id:
        raise ValueError(f"tenant id {tenant_id!r} contains '/'")
    return f"{tenant_id}/{conversation_id}"

"""Deterministic ids: the same inputs give the same id, so a retried call or a redelivered event
repeats its ids (message ids from an adapter's idempotency key, reply and escalation ids from the
message id) and every write keyed by them stays idempotent.
"""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("b5d0c7f2-1e0a-4e52-8a3f-5f2a7d9c4e61")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))

"""The conversations this gateway replica has seen lately: whose each is, and its last known state.

SendMessage must know, before it publishes, that the conversation is the caller's (a customer never posts
into another's), and whether it is resolved (a new message reopens it). Reading the conversation for that
on every message was most of the accept time left under load (bench/load_test.py, N=16: conversation
stage p99 up to 250 ms on FerretDB). Who a conversation belongs to never changes once it exists, so it
is remembered here; its state is remembered too, and kept current by every state change this replica
reads from Kafka (the topic feed reads them all, services/gateway/hub.py) and by its own reads.

A remembered state can lag behind (an agent resolved the conversation a moment ago and the event is
still on its way): the only decision made from it is whether to reopen a resolved conversation, and
the generator reopens one it finds resolved when the message reaches it (services/generator/worker.py),
so a lagging state here delays the reopen's event by one hop, nothing else. Entries older than `ttl_s`
are read again, and at most `size` conversations are kept (least recently used go first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.repositories import STATE_TO_PROTO

PROTO_TO_STATE = {proto: name for name, proto in STATE_TO_PROTO.items()}


@dataclass(frozen=True)
class Known:
    customer_id: str
    state: str


class KnownConversations:
    def __init__(self, ttl_s: float = 300.0, size: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._seen: OrderedDict[tuple[str, str], tuple[Known, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def get(self, tenant_id: str, conversation_id: str) -> Known | None:
        """The conversation as last seen, unless that is more than ttl_s ago or it was never seen."""
        key = (tenant_id, conversation_id)
        entry = self._seen.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[1] >= self.ttl_s:
            del self._seen[key]
            return None
        self._seen.move_to_end(key)
        return entry[0]

    def saw(self, doc: dict) -> Known:
        """Remember a conversation document as read or written (tenant_id, conversation_id, customer_id, state)."""
        known = Known(doc.get("customer_id", ""), doc["state"])
        self._put((doc["tenant_id"], doc["conversation_id"]), known)
        return known

    def state_changed(self, event: ev.ConversationStateChanged) -> None:
        """A state change read from Kafka: the new state of a conversation already remembered."""
        key = (event.tenant_id, event.conversation_id)
        entry = self._seen.get(key)
        state = PROTO_TO_STATE.get(event.to_state)
        if entry is not None and state is not None:
            self._seen[key] = (Known(entry[0].customer_id, state), entry[1])

    def _put(self, key: tuple[str, str], known: Known) -> None:
        self._seen[key] = (known, time.monotonic())
        self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

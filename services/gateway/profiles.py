"""The customer profiles this gateway replica wrote lately, so a conversation's every message does not
rewrite an unchanged profile on the acknowledgement's path (issue 17: ack latency waits on each database
round trip). A channel adapter sends the profile with every message; the gateway stores it at receipt
(GetConversation and the console show it at once) and the generator upserts it again with the message
anyway, so skipping a repeat within `ttl_s` loses nothing: a changed profile is always written, and a
profile changed meanwhile by another writer is rewritten at the latest `ttl_s` later."""

from __future__ import annotations

import time
from collections import OrderedDict

from services.common.proto.cs.v1 import conversation_pb2 as conv


class RecentProfiles:
    """(tenant, customer) -> the serialised profile last written and when; the `size` most recent kept."""

    def __init__(self, ttl_s: float = 60.0, size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._written: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()

    def unchanged(self, tenant_id: str, customer_id: str, profile: conv.CustomerProfile) -> bool:
        """Whether this replica wrote exactly this profile for the customer less than ttl_s ago."""
        entry = self._written.get((tenant_id, customer_id))
        return (
            entry is not None
            and time.monotonic() - entry[1] < self.ttl_s
            and entry[0] == profile.SerializeToString(deterministic=True)
        )

    def wrote(self, tenant_id: str, customer_id: str, profile: conv.CustomerProfile) -> None:
        key = (tenant_id, customer_id)
        self._written[key] = (profile.SerializeToString(deterministic=True), time.monotonic())
        self._written.move_to_end(key)
        while len(self._written) > self.size:
            self._written.popitem(last=False)

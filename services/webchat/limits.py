"""Rate limits on visitors: per client address and per visitor token, each a token bucket.

The address is checked first, before anything costs the gateway a call (a widget key check, a new
session): so one address can neither mint visitor tokens to escape the per-token limit nor make the
gateway look up made-up widget keys faster than its limit. Tables are bounded (LRU), so a flood of
addresses or tokens costs bounded memory.
"""

from __future__ import annotations

from services.common.platform.ratelimit import Lru, TokenBucket

TABLE_SIZE = 50_000


class VisitorLimits:
    def __init__(self, per_visitor_per_minute: int, per_address_per_minute: int) -> None:
        self._visitor_rate = per_visitor_per_minute
        self._address_rate = per_address_per_minute
        self._visitors: Lru[str, TokenBucket] = Lru(TABLE_SIZE)
        self._addresses: Lru[str, TokenBucket] = Lru(TABLE_SIZE)

    def address(self, address: str) -> float:
        """0 when the address may make a request now (counted); else seconds to wait."""
        bucket = self._addresses.get(address) or self._addresses.put(address, TokenBucket(self._address_rate))
        return bucket.take()

    def visitor(self, customer_id: str) -> float:
        """0 when the visitor may make a request now (counted); else seconds to wait."""
        bucket = self._visitors.get(customer_id) or self._visitors.put(customer_id, TokenBucket(self._visitor_rate))
        return bucket.take()

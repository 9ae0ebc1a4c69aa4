"""Rate limits on visitors: per visitor token and per client address, each a token bucket.

The address limit also bounds how fast one address can mint new visitor tokens, which would
otherwise escape the per-token limit. Tables are bounded (LRU), so a flood of addresses or tokens
costs bounded memory.
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

    def check(self, address: str, customer_id: str = "") -> tuple[str, float] | None:
        """None when allowed (and counted); else which limit ("address" or "visitor") and seconds to wait."""
        address_bucket = self._addresses.get(address) or self._addresses.put(address, TokenBucket(self._address_rate))
        if wait := address_bucket.wait():
            return "address", wait
        if customer_id:
            visitor_bucket = self._visitors.get(customer_id) or self._visitors.put(
                customer_id, TokenBucket(self._visitor_rate)
            )
            if wait := visitor_bucket.take():
                return "visitor", wait
        address_bucket.take()
        return None

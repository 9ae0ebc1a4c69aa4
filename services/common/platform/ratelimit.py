"""Rate limiting and bounded tables, for whoever faces callers (the gateway, the web-chat service).

A token bucket per caller, kept in an LRU table so that a flood of new callers evicts old buckets
instead of growing memory without bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar


class TokenBucket:
    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def wait(self) -> float:
        """0 when a request would be allowed now; otherwise seconds until one would be."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> float:
        """0 when allowed (and counted); otherwise seconds until a request would be allowed."""
        wait = self.wait()
        if not wait:
            self.tokens -= 1
        return wait


K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A dict that forgets its least recently used entry beyond `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

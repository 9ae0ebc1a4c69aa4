"""Caller authentication and per-key rate limiting.

Callers send "authorization: Bearer <key>". Keys are looked up by their SHA-256 hash (only hashes
are stored) and cached briefly, so a revoked key stops working within `cache_ttl_s`. Adapter keys
and agent keys are distinct roles: an adapter can't act as an agent or the reverse.
"""

from __future__ import annotations

import time

import grpc

from services.common.storage.repositories import ApiKeyRepo, Principal


class RequestError(Exception):
    """Ends a call with a gRPC status and a message that tells the caller what to fix."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TokenBucket:
    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float:
        """0 when allowed; otherwise seconds until a request would be allowed."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Authenticator:
    def __init__(self, keys: ApiKeyRepo, rate_per_minute: int, cache_ttl_s: float = 30.0) -> None:
        self._keys = keys
        self._rate = rate_per_minute
        self._ttl = cache_ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._buckets: dict[str, TokenBucket] = {}

    async def authenticate(self, context: grpc.aio.ServicerContext, role: str) -> Principal:
        key = _bearer(context.invocation_metadata() or ())
        if not key:
            raise RequestError(
                grpc.StatusCode.UNAUTHENTICATED, "missing API key: send metadata 'authorization: Bearer <key>'"
            )
        principal = await self._lookup(key)
        if principal is None:
            raise RequestError(grpc.StatusCode.UNAUTHENTICATED, "invalid or revoked API key")
        if principal.role != role:
            raise RequestError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"this call needs an {role} key; the key given is an {principal.role} key",
            )
        bucket = self._buckets.setdefault(principal.key_id, TokenBucket(self._rate))
        wait = bucket.take()
        if wait:
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"rate limit of {self._rate} requests/minute for this key exceeded; retry in {wait:.1f} s",
            )
        return principal

    async def _lookup(self, key: str) -> Principal | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        principal = await self._keys.lookup(key)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now, principal)
        return principal


def _bearer(metadata) -> str:
    for name, value in metadata:
        if name == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""

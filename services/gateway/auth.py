"""Caller authentication and rate limiting.

Callers send "authorization: Bearer <key>". Keys are looked up by their SHA-256 hash (only hashes
are stored) and cached briefly, so a revoked key stops working within `cache_ttl_s`. Adapter keys
and agent keys are distinct roles: an adapter can't act as an agent or the reverse.

Known keys are rate-limited per key. Unknown keys cost a database read each, so failed
authentications are limited per client address: once an address has used its failures for the
minute, its unknown keys are refused (RESOURCE_EXHAUSTED) without a lookup, while known keys from the
same address (customers behind one proxy) keep working. Every table here is bounded (LRU), and
unknown keys are cached apart from known ones, so a flood of random keys evicts no real key.
"""

from __future__ import annotations

import time

import grpc

from services.common.platform.ratelimit import Lru, TokenBucket
from services.common.storage.repositories import ROLE_CHANNEL, ApiKeyRepo, Principal


class RequestError(Exception):
    """Ends a call with a gRPC status and a message that tells the caller what to fix."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


KNOWN_KEYS = 10_000
UNKNOWN_KEYS = 2_000
PEERS = 10_000


class Authenticator:
    def __init__(
        self, keys: ApiKeyRepo, rate_per_minute: int, failures_per_minute: int = 30, cache_ttl_s: float = 30.0
    ) -> None:
        self._keys = keys
        self._rate = rate_per_minute
        self._failures_per_minute = failures_per_minute
        self._ttl = cache_ttl_s
        self._known: Lru[str, tuple[float, Principal]] = Lru(KNOWN_KEYS)
        self._unknown: Lru[str, float] = Lru(UNKNOWN_KEYS)
        self._buckets: Lru[str, TokenBucket] = Lru(KNOWN_KEYS)
        self._failures: Lru[str, TokenBucket] = Lru(PEERS)

    async def authenticate(
        self, context: grpc.aio.ServicerContext, role: str | tuple[str, ...], bucket: str = ""
    ) -> Principal:
        """The caller, when its key is valid, has one of the roles `role` names, and is within its rate.

        `bucket` splits the key's rate: a channel key speaks for many visitors, so each visitor gets
        the rate of its own (the channel service also limits visitors before they reach the gateway).
        """
        roles = (role,) if isinstance(role, str) else role
        key = _bearer(context.invocation_metadata() or ())
        if not key:
            raise RequestError(
                grpc.StatusCode.UNAUTHENTICATED, "missing API key: send metadata 'authorization: Bearer <key>'"
            )
        principal = await self._lookup(key, _peer_address(context))
        if principal is None:
            raise RequestError(grpc.StatusCode.UNAUTHENTICATED, "invalid or revoked API key")
        if principal.role not in roles:
            raise RequestError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"this call needs {_a(roles[0])} key; the key given is {_a(principal.role)} key",
            )
        name = f"{principal.key_id}/{bucket}" if bucket and principal.role == ROLE_CHANNEL else principal.key_id
        wait = (self._buckets.get(name) or self._buckets.put(name, TokenBucket(self._rate))).take()
        if wait:
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"rate limit of {self._rate} requests/minute for this key exceeded; retry in {wait:.1f} s",
            )
        return principal

    async def _lookup(self, key: str, peer: str) -> Principal | None:
        now = time.monotonic()
        known = self._known.get(key)
        if known and now - known[0] < self._ttl:
            if known[1].expires_at and time.time() >= known[1].expires_at:
                return None  # a sign-in credential past its expiry, even while cached
            return known[1]
        unknown = self._unknown.get(key)
        if unknown is not None and now - unknown < self._ttl:
            return None
        failures = self._failures.get(peer) or self._failures.put(peer, TokenBucket(self._failures_per_minute))
        if wait := failures.wait():
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many failed authentications from this address ({self._failures_per_minute}/minute); "
                f"check the API key and retry in {wait:.0f} s",
            )
        principal = await self._keys.lookup(key)
        if principal is None:
            self._unknown.put(key, now)
            failures.take()
        else:
            self._known.put(key, (now, principal))
        return principal


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _peer_address(context: grpc.aio.ServicerContext) -> str:
    """The client's address without its port ("ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7")."""
    peer = context.peer() or ""
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() else peer


def _bearer(metadata) -> str:
    for name, value in metadata:
        if name == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""

"""Visitor tokens: what a browser holds instead of any gateway credential.

A token binds one visitor (a customer id of its own) to one widget key (hence one tenant) and one
page origin, until it expires. It is signed here with HMAC-SHA256 and checked here on every request;
the gateway never sees it, only the customer id it vouches for. Stateless, so any replica sharing
CS_WEBCHAT_TOKEN_SECRET accepts it, and nothing is stored per visitor.

Format: base64url(JSON claims) "." base64url(HMAC-SHA256(secret, first part)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

VERSION = 1


class TokenError(Exception):
    """The token is malformed, forged, expired or for another key or page; `reason` says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "invalid_token" or "expired_token"
        self.message = message


@dataclass(frozen=True)
class Visitor:
    customer_id: str
    widget_key: str
    origin: str
    expires_at: int  # unix seconds


def new_customer_id() -> str:
    """A customer id nobody can guess (the gateway pins the visitor's calls to it)."""
    return f"web-{secrets.token_urlsafe(18)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def sign(secret: bytes, visitor: Visitor) -> str:
    claims = {
        "v": VERSION,
        "c": visitor.customer_id,
        "k": visitor.widget_key,
        "o": visitor.origin,
        "exp": visitor.expires_at,
    }
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def issue(
    secret: bytes, widget_key: str, origin: str, ttl_s: int, customer_id: str | None = None, now: float | None = None
) -> tuple[str, Visitor]:
    """A new token (a new visitor, or `customer_id` renewed) valid for `ttl_s` from `now`."""
    now = time.time() if now is None else now
    visitor = Visitor(customer_id or new_customer_id(), widget_key, origin, int(now) + ttl_s)
    return sign(secret, visitor), visitor


def verify(secret: bytes, token: str, widget_key: str, origin: str, now: float | None = None) -> Visitor:
    """The visitor `token` vouches for, on this widget key and page origin; TokenError otherwise."""
    payload, dot, mac = token.partition(".")
    if not dot or not payload or not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        raise TokenError("invalid_token", "the visitor token is not valid; start a new session")
    try:
        claims = json.loads(_unb64(payload))
        visitor = Visitor(str(claims["c"]), str(claims["k"]), str(claims["o"]), int(claims["exp"]))
    except (ValueError, KeyError, TypeError):
        raise TokenError("invalid_token", "the visitor token is not valid; start a new session") from None
    if claims.get("v") != VERSION or visitor.widget_key != widget_key or visitor.origin != origin:
        raise TokenError("invalid_token", "the visitor token belongs to another widget or page; start a new session")
    if (time.time() if now is None else now) >= visitor.expires_at:
        raise TokenError("expired_token", "the visitor token has expired; start a new session")
    return visitor

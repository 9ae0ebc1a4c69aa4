"""Stateless sessions: a signed, expiring cookie that holds the gateway credential, and CSRF tokens.

The cookie is `<base64url(json)>.<base64url(hmac-sha256)>`; the JSON holds the agent id, role,
tenant, the gateway credential SignIn issued and its expiry. Nothing is stored on the server, so
any console replica with the same CS_CONSOLE_SECRET reads it. The CSRF token is an HMAC of the
credential: a page gets it with the session, every POST must send it back (form field or
X-CSRF-Token header), and another site can neither read nor compute it. The cookie is also
SameSite=Strict and HttpOnly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass

COOKIE = "cs_session"


@dataclass(frozen=True)
class Session:
    agent_id: str
    role: str
    tenant_id: str
    credential: str
    expires_at: float  # POSIX seconds

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, data: bytes) -> bytes:
    return hmac.new(secret, purpose.encode() + b"\0" + data, hashlib.sha256).digest()


def sign(session: Session, secret: bytes) -> str:
    body = json.dumps(asdict(session), separators=(",", ":")).encode()
    return f"{_b64(body)}.{_b64(_mac(secret, 'session', body))}"


def verify(cookie: str | None, secret: bytes, now: float | None = None) -> Session | None:
    """The session when the cookie is intact, signed with `secret` and not expired; None otherwise."""
    if not cookie or cookie.count(".") != 1:
        return None
    body_b64, mac_b64 = cookie.split(".")
    try:
        body, mac = _unb64(body_b64), _unb64(mac_b64)
    except (ValueError, TypeError):
        return None
    if not hmac.compare_digest(mac, _mac(secret, "session", body)):
        return None
    try:
        session = Session(**json.loads(body))
    except (ValueError, TypeError):
        return None
    if session.expires_at <= (time.time() if now is None else now):
        return None
    return session


def csrf_token(session: Session, secret: bytes) -> str:
    return _b64(_mac(secret, "csrf", session.credential.encode()))


def csrf_ok(session: Session, secret: bytes, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(str(given), csrf_token(session, secret))


def safe_next(target: str | None) -> str:
    """A local path to go to after sign-in; anything else (another site, //host) is "/"."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target

"""People's accounts (agents and supervisors) and the short-lived credentials a sign-in issues.

Passwords are stored as scrypt hashes with a random salt per account (`hash_password`), never in
clear. A sign-in credential is an agent-API key like the ones `cs keys create` makes (stored as its
SHA-256, in `api_keys`), with an `expires_at` and the `account` it belongs to, so the gateway's
ordinary key check accepts it until it expires; disabling the account revokes every credential it
holds.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.platform.clock import utcnow
from services.common.storage.repositories import PEOPLE, TENANT_ID, hash_key

# scrypt cost: 2^15 x 8 x 1 takes ~0.1 s and 32 MiB per check, which makes guessing slow.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
MIN_PASSWORD = 8


def hash_password(password: str, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    """`scrypt$n$r$p$<salt>$<hash>` (base64): what is stored instead of the password."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM)
    b64 = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` hashes to `stored` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), maxmem=SCRYPT_MAXMEM
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# A hash of a password nobody has: checked when the name is unknown, so an unknown name takes as
# long to refuse as a wrong password (the timing tells nothing about which names exist).
_DECOY = hash_password(secrets.token_urlsafe(16))


class AccountRepo:
    def __init__(self, db: AsyncDatabase) -> None:
        self._c = db["accounts"]
        self._keys = db["api_keys"]

    @staticmethod
    def _id(tenant_id: str, name: str) -> str:
        return f"{tenant_id}/{name}"

    async def add(self, tenant_id: str, name: str, role: str, password: str) -> None:
        """A new account; ValueError naming what is wrong (bad name, role, short password, name taken)."""
        if not TENANT_ID.fullmatch(tenant_id):
            raise ValueError(f"tenant id {tenant_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if not NAME.fullmatch(name):
            raise ValueError(f"name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if role not in PEOPLE:
            raise ValueError(f"role must be one of {', '.join(PEOPLE)}, not {role!r}")
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
        try:
            await self._c.insert_one(
                {
                    "_id": self._id(tenant_id, name),
                    "tenant_id": tenant_id,
                    "name": name,
                    "role": role,
                    "password": hash_password(password),
                    "disabled": False,
                    "created_at": utcnow(),
                }
            )
        except DuplicateKeyError:
            raise ValueError(f"tenant {tenant_id} already has an account {name!r}") from None

    async def get(self, tenant_id: str, name: str) -> dict | None:
        return await self._c.find_one({"_id": self._id(tenant_id, name), "tenant_id": tenant_id})

    async def check(self, tenant_id: str, name: str, password: str) -> dict | None:
        """The account when it exists, is enabled and `password` is its password; None otherwise.
        Slow on purpose (scrypt), so the hash is checked in a thread, off the event loop."""
        account = await self.get(tenant_id, name) if NAME.fullmatch(name) else None
        ok = await asyncio.to_thread(verify_password, password, account["password"] if account else _DECOY)
        if account is None or account.get("disabled") or not ok:
            return None
        return account

    async def disable(self, tenant_id: str, name: str) -> int:
        """Disables the account and revokes its credentials; how many were revoked. KeyError when unknown."""
        result = await self._c.update_one({"_id": self._id(tenant_id, name)}, {"$set": {"disabled": True}})
        if result.matched_count == 0:
            raise KeyError(f"tenant {tenant_id} has no account {name!r}")
        revoked = await self._keys.update_many(
            {"tenant_id": tenant_id, "account": name, "revoked": False}, {"$set": {"revoked": True}}
        )
        return revoked.modified_count

    async def issue(self, account: dict, ttl_s: float) -> tuple[str, dt.datetime]:
        """A new credential for the account and when it expires."""
        key = f"cs_se_{secrets.token_urlsafe(32)}"
        expires = utcnow() + dt.timedelta(seconds=ttl_s)
        await self._keys.insert_one(
            {
                "_id": hash_key(key),
                "tenant_id": account["tenant_id"],
                "role": account["role"],
                "agent_id": account["name"],
                "account": account["name"],
                "created_at": utcnow(),
                "expires_at": expires,
                "revoked": False,
            }
        )
        return key, expires

    async def revoke(self, key: str) -> None:
        await self._keys.update_one({"_id": hash_key(key)}, {"$set": {"revoked": True}})

    async def signed_in(self, tenant_id: str) -> set[str]:
        """Names holding an unexpired, unrevoked credential now."""
        cursor = self._keys.find(
            {"tenant_id": tenant_id, "account": {"$exists": True}, "revoked": False, "expires_at": {"$gt": utcnow()}},
            {"account": 1},
        )
        return {doc["account"] async for doc in cursor}

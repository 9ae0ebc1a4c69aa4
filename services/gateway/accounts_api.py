"""AccountService: people sign in with a name and a password and get a short-lived credential.

Every failure answers the same UNAUTHENTICATED "wrong name or password" (no hint which was wrong, or
whether the account is disabled), and an unknown name costs as much time as a wrong password.
Failed sign-ins are limited per (tenant, name) and per client address: beyond the limit the call
answers RESOURCE_EXHAUSTED without checking the password, so guessing is slow even from many
addresses at one name, or at many names from one address.
"""

from __future__ import annotations

import datetime as dt
import logging

import grpc

from services.common.proto.cs.v1 import account_service_pb2 as pb
from services.common.proto.cs.v1 import account_service_pb2_grpc as pb_grpc
from services.common.storage.accounts import AccountRepo
from services.common.storage.repositories import PEOPLE
from services.gateway.auth import PEERS, Lru, RequestError, TokenBucket, _bearer, _peer_address
from services.gateway.context import Gateway, unary
from services.gateway.validation import invalid

log = logging.getLogger(__name__)

WRONG = "wrong name or password"
ADDRESS_FACTOR = 4  # an address may fail for this many names' worth (an office behind one proxy)


class SignInLimiter:
    """Failed sign-ins per name and per address (token buckets, bounded tables)."""

    def __init__(self, failures_per_minute: int) -> None:
        self.per_name = failures_per_minute
        self._names: Lru[str, TokenBucket] = Lru(PEERS)
        self._peers: Lru[str, TokenBucket] = Lru(PEERS)

    def _buckets(self, name: str, peer: str) -> tuple[TokenBucket, TokenBucket]:
        by_name = self._names.get(name) or self._names.put(name, TokenBucket(self.per_name))
        by_peer = self._peers.get(peer) or self._peers.put(peer, TokenBucket(self.per_name * ADDRESS_FACTOR))
        return by_name, by_peer

    def wait(self, name: str, peer: str) -> float:
        """Seconds until this name and address may try again; 0 now."""
        return max(bucket.wait() for bucket in self._buckets(name, peer))

    def failed(self, name: str, peer: str) -> None:
        for bucket in self._buckets(name, peer):
            bucket.take()


class AccountApi(pb_grpc.AccountServiceServicer):
    def __init__(self, gw: Gateway, accounts: AccountRepo, limiter: SignInLimiter, session_ttl_s: float) -> None:
        self.gw = gw
        self.accounts = accounts
        self.limiter = limiter
        self.ttl = session_ttl_s

    @unary
    async def SignIn(self, request: pb.SignInRequest, context) -> pb.SignInResponse:
        if not request.tenant_id or not request.name or not request.password:
            raise invalid("give tenant_id, name and password")
        who, peer = f"{request.tenant_id}/{request.name[:64]}", _peer_address(context)
        wait = self.limiter.wait(who, peer)
        if wait:
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"too many failed sign-ins; try again in {wait:.0f} s"
            )
        account = await self.accounts.check(request.tenant_id, request.name, request.password[:1024])
        if account is None or account["role"] not in PEOPLE:
            self.limiter.failed(who, peer)
            log.info("sign-in refused", extra={"tenant_id": request.tenant_id})
            raise RequestError(grpc.StatusCode.UNAUTHENTICATED, WRONG)
        credential, expires = await self.accounts.issue(account, self.ttl)
        log.info("signed in", extra={"tenant_id": account["tenant_id"], "agent_id": account["name"]})
        out = pb.SignInResponse(credential=credential, role=account["role"], agent_id=account["name"])
        out.expires_at.FromDatetime(expires.astimezone(dt.UTC))
        return out

    @unary
    async def SignOut(self, request: pb.SignOutRequest, context) -> pb.SignOutResponse:
        await self.gw.auth.authenticate(context, PEOPLE)
        await self.accounts.revoke(_bearer(context.invocation_metadata() or ()))
        return pb.SignOutResponse()

"""Authentication stays cheap under a flood of made-up keys, and never throttles known callers for it."""

from __future__ import annotations

import uuid

import grpc
import pytest

from services.common.storage.repositories import ROLE_ADAPTER, Principal
from services.gateway.auth import KNOWN_KEYS, Authenticator, RequestError

GOOD = "good-key"


class Keys:
    """The key store as the gateway sees it, counting the lookups (database reads) it is asked for."""

    def __init__(self) -> None:
        self.lookups = 0

    async def lookup(self, key: str) -> Principal | None:
        self.lookups += 1
        return Principal(key_id="k1", tenant_id="acme", role=ROLE_ADAPTER, agent_id="") if key == GOOD else None


class Call:
    def __init__(self, key: str, peer: str = "ipv4:10.0.0.7:51234") -> None:
        self._metadata = (("authorization", f"Bearer {key}"),)
        self._peer = peer

    def invocation_metadata(self):
        return self._metadata

    def peer(self) -> str:
        return self._peer


async def test_a_flood_of_random_keys_evicts_no_known_key_and_is_cut_off_by_address():
    keys = Keys()
    auth = Authenticator(keys, rate_per_minute=10**6, failures_per_minute=20)
    await auth.authenticate(Call(GOOD), ROLE_ADAPTER)
    codes = []
    for _ in range(KNOWN_KEYS + 500):
        with pytest.raises(RequestError) as refused:
            await auth.authenticate(Call(uuid.uuid4().hex, peer=f"ipv4:10.0.0.7:{40000 + _ % 20000}"), ROLE_ADAPTER)
        codes.append(refused.value.code)
    assert codes[:20] == [grpc.StatusCode.UNAUTHENTICATED] * 20
    assert set(codes[20:]) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert keys.lookups == 1 + 20, "every made-up key beyond the budget cost a database read"
    principal = await auth.authenticate(Call(GOOD), ROLE_ADAPTER)  # same address, known key: still served
    assert principal.tenant_id == "acme" and keys.lookups == 21, "the known key was evicted by the flood"


async def test_failures_from_one_address_do_not_limit_another():
    auth = Authenticator(Keys(), rate_per_minute=100, failures_per_minute=2)
    for _ in range(2):
        with pytest.raises(RequestError):
            await auth.authenticate(Call("nope-1", peer="ipv4:10.0.0.1:1"), ROLE_ADAPTER)
        with pytest.raises(RequestError):
            await auth.authenticate(Call(uuid.uuid4().hex, peer="ipv4:10.0.0.1:1"), ROLE_ADAPTER)
    with pytest.raises(RequestError) as other:
        await auth.authenticate(Call("nope-2", peer="ipv4:10.0.0.2:1"), ROLE_ADAPTER)
    assert other.value.code == grpc.StatusCode.UNAUTHENTICATED

"""Who a CustomerService call speaks for: an adapter's tenant, or one web-chat visitor.

An adapter key is trusted with its tenant's whole customer side. A channel key (the web-chat
service) is trusted with nothing of its own: every call names, in metadata, the page's widget key,
the page's origin and the visitor's customer id (from the visitor token the channel service signed
and checked). The widget key decides the tenant, the origin must be one the key lists, and the call
is pinned to that customer: it posts only as them and sees only their conversations. Another
customer's conversation answers NOT_FOUND, exactly like one that does not exist, so a guessed id
tells a visitor nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc

from services.common.platform.origins import origin_allowed
from services.common.platform.ratelimit import Lru
from services.common.storage.repositories import ROLE_ADAPTER, ROLE_CHANNEL
from services.common.storage.widget_keys import WidgetKey, WidgetKeyRepo
from services.gateway.auth import Authenticator, RequestError
from services.gateway.validation import check_id

WIDGET_KEY_HEADER = "x-cs-widget-key"
ORIGIN_HEADER = "x-cs-origin"
CUSTOMER_HEADER = "x-cs-customer-id"
WIDGET_KEYS_CACHED = 10_000


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    customer_id: str = ""  # a visitor's: every call is pinned to this customer; "" for an adapter

    def customer(self, requested: str) -> str:
        """The customer a SendMessage posts as: the visitor's own (whatever the request names), or the
        adapter's choice."""
        return self.customer_id or check_id(requested, "customer_id")

    def may_see(self, conversation: dict | None) -> bool:
        return conversation is not None and (
            not self.customer_id or conversation.get("customer_id") == self.customer_id
        )


class WidgetKeys:
    """Widget key lookups, cached like API keys (a revoked key stops working within `ttl_s`)."""

    def __init__(self, repo: WidgetKeyRepo, ttl_s: float = 30.0) -> None:
        self._repo = repo
        self._ttl = ttl_s
        self._cache: Lru[str, tuple[float, WidgetKey | None]] = Lru(WIDGET_KEYS_CACHED)

    async def resolve(self, key: str, origin: str) -> WidgetKey:
        """The key, when it is valid and allows `origin`; UNAUTHENTICATED or PERMISSION_DENIED otherwise."""
        if not key:
            raise RequestError(grpc.StatusCode.UNAUTHENTICATED, "missing widget key")
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is None or now - cached[0] >= self._ttl:
            cached = self._cache.put(key, (now, await self._repo.lookup(key)))
        widget = cached[1]
        if widget is None:
            raise RequestError(grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked widget key")
        if not origin_allowed(origin, widget.origins):
            raise RequestError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"origin {origin[:100]!r} may not use this widget key; add it with cs widget-keys create --origin",
            )
        return widget


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {name: value for name, value in (context.invocation_metadata() or ()) if isinstance(value, str)}


async def customer_caller(auth: Authenticator, widgets: WidgetKeys, context: grpc.aio.ServicerContext) -> Caller:
    """The tenant (and, for a visitor, the customer) a CustomerService call acts for."""
    metadata = _metadata(context)
    principal = await auth.authenticate(context, (ROLE_ADAPTER, ROLE_CHANNEL), bucket=metadata.get(CUSTOMER_HEADER, ""))
    if principal.role == ROLE_ADAPTER:
        return Caller(principal.tenant_id)
    widget = await widgets.resolve(metadata.get(WIDGET_KEY_HEADER, ""), metadata.get(ORIGIN_HEADER, ""))
    customer_id = check_id(metadata.get(CUSTOMER_HEADER, ""), f"{CUSTOMER_HEADER} metadata")
    return Caller(widget.tenant_id, customer_id)

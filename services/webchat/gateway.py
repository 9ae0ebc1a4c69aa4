"""The web-chat service's only dependency: the gateway's public gRPC API, called with the channel key.

Each call on a visitor's behalf carries the widget key, the page origin and the visitor's customer
id in metadata (services/gateway/visitors.py says what the gateway does with them). gRPC statuses
become GatewayError with the HTTP status and the stable reason word the widget understands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc

from services.common.platform import tls
from services.common.platform.health import check
from services.common.platform.ratelimit import Lru
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.proto.cs.v1 import widget_service_pb2 as wpb
from services.common.proto.cs.v1 import widget_service_pb2_grpc as wgrpc
from services.webchat.tokens import Visitor

CALL_TIMEOUT_S = 10.0
WIDGET_CACHE_TTL_S = 30.0
WIDGET_CACHE_SIZE = 10_000

_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unknown_widget_key"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "forbidden_origin"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "rate_limited"),
    grpc.StatusCode.UNAVAILABLE: (503, "unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (503, "unavailable"),
}


class GatewayError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def gateway_error(exc: grpc.aio.AioRpcError) -> GatewayError:
    status, reason = _HTTP.get(exc.code(), (502, "gateway_error"))
    if status == 503:
        return GatewayError(503, reason, "the chat service is unavailable right now; retrying")
    return GatewayError(status, reason, exc.details() or reason)


@dataclass(frozen=True)
class Page:
    """Where a request comes from: the widget key in the page and the page's origin (checked)."""

    widget_key: str
    origin: str


class GatewayClient:
    def __init__(self, target: str, channel_key: str, ca: bytes | None = None) -> None:
        self.target, self._ca = target, ca
        self._channel = tls.channel(target, ca)
        self._customers = cgrpc.CustomerServiceStub(self._channel)
        self._widgets = wgrpc.WidgetServiceStub(self._channel)
        self._auth = ("authorization", f"Bearer {channel_key}")
        self._resolved: Lru[Page, tuple[float, GatewayError | None]] = Lru(WIDGET_CACHE_SIZE)

    async def close(self) -> None:
        await self._channel.close()

    async def ready(self) -> bool:
        try:
            return await check(self.target, timeout=2, ca=self._ca) == "SERVING"
        except Exception:
            return False

    def _metadata(self, page: Page, visitor: Visitor | None = None) -> tuple[tuple[str, str], ...]:
        md = [self._auth, ("x-cs-widget-key", page.widget_key), ("x-cs-origin", page.origin)]
        if visitor is not None:
            md.append(("x-cs-customer-id", visitor.customer_id))
        return tuple(md)

    async def check_page(self, page: Page) -> None:
        """GatewayError unless the widget key is valid and allows the origin; answers cached briefly
        (a refusal too, so a foreign page hammering the service costs the gateway one call per TTL)."""
        now = time.monotonic()
        cached = self._resolved.get(page)
        if cached is None or now - cached[0] >= WIDGET_CACHE_TTL_S:
            try:
                await self._widgets.ResolveWidgetKey(
                    wpb.ResolveWidgetKeyRequest(widget_key=page.widget_key, origin=page.origin),
                    metadata=(self._auth,),
                    timeout=CALL_TIMEOUT_S,
                )
                cached = (now, None)
            except grpc.aio.AioRpcError as exc:
                error = gateway_error(exc)
                if error.status >= 500:
                    raise error from None
                cached = (now, error)
            self._resolved.put(page, cached)
        if cached[1] is not None:
            raise cached[1]

    async def send(
        self, page: Page, visitor: Visitor, conversation_id: str, text: str, client_message_id: str
    ) -> cpb.SendMessageResponse:
        request = cpb.SendMessageRequest(
            conversation_id=conversation_id,
            customer_id=visitor.customer_id,
            channel="web",
            text=text,
            client_message_id=client_message_id,
        )
        return await self._unary(self._customers.SendMessage, request, page, visitor)

    async def conversation(self, page: Page, visitor: Visitor, conversation_id: str) -> cpb.GetConversationResponse:
        request = cpb.GetConversationRequest(conversation_id=conversation_id)
        return await self._unary(self._customers.GetConversation, request, page, visitor)

    async def feedback(
        self, page: Page, visitor: Visitor, conversation_id: str, reply_id: str, up: bool | None, csat: int
    ) -> cpb.SubmitFeedbackResponse:
        rating = ev.RATING_UNSPECIFIED if up is None else (ev.RATING_THUMBS_UP if up else ev.RATING_THUMBS_DOWN)
        request = cpb.SubmitFeedbackRequest(
            conversation_id=conversation_id, reply_id=reply_id, rating=rating, csat=csat
        )
        return await self._unary(self._customers.SubmitFeedback, request, page, visitor)

    def stream(self, page: Page, visitor: Visitor, conversation_id: str) -> grpc.aio.UnaryStreamCall:
        """The conversation's replies, stored ones first (replay); iterate it, cancel it when done."""
        return self._customers.StreamReplies(
            cpb.StreamRepliesRequest(conversation_id=conversation_id, replay=True),
            metadata=self._metadata(page, visitor),
        )

    async def _unary(self, method, request, page: Page, visitor: Visitor):
        try:
            return await method(request, metadata=self._metadata(page, visitor), timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            raise gateway_error(exc) from None

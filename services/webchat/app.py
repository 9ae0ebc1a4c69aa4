"""The web-chat HTTP service: widget.js, the visitor API the widget calls, health.

Every /api request names the page's widget key in its path and must come with the page's Origin:
the origin is checked against the key (through the gateway) before anything else, also for CORS
preflights, and only an allowed origin is echoed in Access-Control-Allow-Origin. Everything but
session creation needs a visitor token (Authorization: Bearer, or ?token= for EventSource, which
can't send headers). Refusals are JSON {"error": reason, "message": text} with 400/401/403/404/413/
429/503; the reasons are stable words the widget maps to its texts.

Routes (all under /api/{widget_key}):
  POST session                          a visitor token (new visitor, or the same one renewed)
  POST messages                         send {text, client_message_id, conversation_id?}
  GET  conversations/{id}               the conversation's history, for a reloaded page
  GET  conversations/{id}/events        SSE: tokens, final replies (id = reply id), state changes
  POST feedback                         {conversation_id, reply_id, rating: "up"|"down", csat: 0-5}
"""

from __future__ import annotations

import html
import json
import logging
import pathlib
import re
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from services.common.platform.origins import OriginError, normalize_origin
from services.webchat import sse, tokens, views
from services.webchat.gateway import GatewayClient, GatewayError, Page
from services.webchat.limits import VisitorLimits
from services.webchat.messages import MessageError, check_client_id, check_message
from services.webchat.metrics import REFUSALS, REQUEST_SECONDS, REQUESTS
from services.webchat.settings import WebchatSettings

log = logging.getLogger(__name__)

STATIC = pathlib.Path(__file__).parent / "static"
MAX_BODY_BYTES = 64 * 1024
PREFLIGHT_MAX_AGE_S = 600
MAX_STREAMS_PER_VISITOR = 5  # open event streams (tabs) per visitor token; each holds a gateway stream
_WIDGET_KEY = re.compile(r"cs_wk_[A-Za-z0-9_-]{16,64}")


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, retry_after: float = 0) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.retry_after = status, reason, message, retry_after

    def response(self) -> JSONResponse:
        headers = {"Retry-After": f"{max(1, round(self.retry_after))}"} if self.retry_after else {}
        return JSONResponse({"error": self.reason, "message": self.message}, self.status, headers=headers)


def _cors(response: Response, origin: str) -> Response:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    return response


class Visit:
    """One checked request: the page it comes from and, when it needs one, its visitor."""

    def __init__(self, request: Request, page: Page, visitor: tokens.Visitor | None) -> None:
        self.request, self.page, self.visitor = request, page, visitor


Handler = Callable[[Visit], Awaitable[Response]]


class WebchatApp:
    def __init__(self, settings: WebchatSettings, gateway: GatewayClient) -> None:
        self.settings = settings
        self.gateway = gateway
        self.limits = VisitorLimits(settings.visitor_rate_per_minute, settings.address_rate_per_minute)
        self.streams: Counter[str] = Counter()  # open event streams per customer id
        self._widget_js = (STATIC / "widget.js").read_bytes()

    # --- checks every request passes --------------------------------------------------------------

    async def _page(self, request: Request) -> Page:
        address = request.client.host if request.client else "unknown"
        if wait := self.limits.address(address):
            raise ApiError(429, "rate_limited", f"too many requests from this address; retry in {wait:.0f} s", wait)
        if not _WIDGET_KEY.fullmatch(request.path_params["widget_key"]):
            raise ApiError(401, "unknown_widget_key", "this is not a widget key (cs widget-keys create)")
        raw = request.headers.get("origin", "")
        try:
            origin = normalize_origin(raw)
        except OriginError:
            raise ApiError(
                403, "forbidden_origin", "requests must come from a web page that may use this widget key"
            ) from None
        page = Page(request.path_params["widget_key"], origin)
        try:
            await self.gateway.check_page(page)
        except GatewayError as exc:
            raise ApiError(exc.status, exc.reason, exc.message) from None
        return page

    def _visitor(self, request: Request, page: Page) -> tokens.Visitor:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.query_params.get("token", "")
        if not token:
            raise ApiError(401, "invalid_token", "a visitor token is needed: POST /session first")
        try:
            return tokens.verify(self.settings.token_secret, token, page.widget_key, page.origin)
        except tokens.TokenError as exc:
            raise ApiError(401, exc.reason, exc.message) from None

    def _limit(self, visitor: tokens.Visitor | None) -> None:
        if visitor is not None and (wait := self.limits.visitor(visitor.customer_id)):
            raise ApiError(429, "rate_limited", f"too many requests from this visitor; retry in {wait:.0f} s", wait)

    def api(self, route: str, handler: Handler, needs_visitor: bool = True):
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            origin = ""
            try:
                page = await self._page(request)
                origin = page.origin
                visitor = self._visitor(request, page) if needs_visitor else None
                self._limit(visitor)
                response = await handler(Visit(request, page, visitor))
            except ApiError as exc:
                REFUSALS.labels(service="webchat", reason=exc.reason).inc()
                response = exc.response()
            except GatewayError as exc:
                if exc.status < 500:
                    REFUSALS.labels(service="webchat", reason=exc.reason).inc()
                response = ApiError(exc.status, exc.reason, exc.message).response()
            if origin:
                _cors(response, origin)
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers["X-Content-Type-Options"] = "nosniff"
            REQUESTS.labels(service="webchat", route=route, code=str(response.status_code)).inc()
            REQUEST_SECONDS.labels(service="webchat", route=route).observe(time.perf_counter() - started)
            return response

        return endpoint

    async def preflight(self, request: Request) -> Response:
        try:
            page = await self._page(request)
        except ApiError as exc:
            REFUSALS.labels(service="webchat", reason=exc.reason).inc()
            return exc.response()
        response = Response(status_code=204)
        response.headers.update(
            {
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "authorization, content-type, last-event-id",
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
            }
        )
        return _cors(response, page.origin)

    # --- the visitor API --------------------------------------------------------------------------

    async def session(self, visit: Visit) -> Response:
        body = await _json(visit.request, required=False)
        previous = body.get("token") if isinstance(body.get("token"), str) else ""
        customer_id = None
        if previous:
            try:
                customer_id = tokens.verify(
                    self.settings.token_secret, previous, visit.page.widget_key, visit.page.origin
                ).customer_id
            except tokens.TokenError:
                customer_id = None  # expired or foreign: a new visitor
        token, _ = tokens.issue(
            self.settings.token_secret, visit.page.widget_key, visit.page.origin, self.settings.token_ttl_s, customer_id
        )
        return JSONResponse(
            {
                "token": token,
                "expires_in": self.settings.token_ttl_s,
                "renewed": customer_id is not None,
                "max_message_chars": self.settings.max_message_chars,
            }
        )

    async def send(self, visit: Visit) -> Response:
        assert visit.visitor is not None
        body = await _json(visit.request)
        try:
            text = check_message(body.get("text"), self.settings.max_message_chars)
            conversation_id = check_client_id(body.get("conversation_id"), "conversation_id")
            client_id = check_client_id(body.get("client_message_id"), "client_message_id")
        except MessageError as exc:
            raise ApiError(413 if exc.reason == "message_too_long" else 400, exc.reason, exc.message) from None
        sent = await self.gateway.send(visit.page, visit.visitor, conversation_id, text, client_id)
        log.info(
            "visitor message accepted",
            extra={"conversation_id": sent.conversation_id, "message_id": sent.message_id},
        )
        return JSONResponse({"conversation_id": sent.conversation_id, "message_id": sent.message_id})

    async def conversation(self, visit: Visit) -> Response:
        assert visit.visitor is not None
        conversation_id = _path_id(visit.request)
        found = await self.gateway.conversation(visit.page, visit.visitor, conversation_id)
        return JSONResponse(views.conversation_view(found))

    async def events(self, visit: Visit) -> Response:
        assert visit.visitor is not None
        conversation_id = _path_id(visit.request)
        last = visit.request.headers.get("last-event-id") or visit.request.query_params.get("last_event_id", "")
        # The history says where the client stopped (and fails here, as an HTTP status, when the
        # conversation is not the visitor's or the gateway is down) before the stream starts.
        customer_id = visit.visitor.customer_id
        if self.streams[customer_id] >= MAX_STREAMS_PER_VISITOR:
            raise ApiError(429, "rate_limited", f"{MAX_STREAMS_PER_VISITOR} event streams are open for this visitor")
        found = views.conversation_view(await self.gateway.conversation(visit.page, visit.visitor, conversation_id))
        call = self.gateway.stream(visit.page, visit.visitor, conversation_id)
        initial = {"state": found["state"], "agent": found["agent"]}
        return StreamingResponse(
            self._counted(customer_id, sse.stream_events(call, initial, sse.seen_until(found["messages"], last))),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _counted(self, customer_id: str, frames: AsyncGenerator[str]) -> AsyncGenerator[str]:
        self.streams[customer_id] += 1
        try:
            async for frame in frames:
                yield frame
        finally:
            await frames.aclose()  # now, not when the garbage collector gets to it: it holds a gateway stream
            self.streams[customer_id] -= 1
            if self.streams[customer_id] <= 0:
                del self.streams[customer_id]

    async def feedback(self, visit: Visit) -> Response:
        assert visit.visitor is not None
        body = await _json(visit.request)
        rating, csat = body.get("rating"), body.get("csat", 0)
        if rating not in ("up", "down", None) or not isinstance(csat, int) or not 0 <= csat <= 5:
            raise ApiError(400, "invalid_request", 'rating is "up" or "down"; csat 1-5 (0: none)')
        try:
            conversation_id = check_client_id(body.get("conversation_id"), "conversation_id")
            reply_id = check_client_id(body.get("reply_id"), "reply_id")
        except MessageError as exc:
            raise ApiError(400, exc.reason, exc.message) from None
        up = None if rating is None else rating == "up"
        saved = await self.gateway.feedback(visit.page, visit.visitor, conversation_id, reply_id, up, csat)
        return JSONResponse({"feedback_id": saved.feedback_id})

    # --- everything else ----------------------------------------------------------------------------

    async def widget_js(self, request: Request) -> Response:
        return Response(
            self._widget_js,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, request: Request) -> Response:
        if await self.gateway.ready():
            return PlainTextResponse("ready")
        return PlainTextResponse("gateway not SERVING", status_code=503)

    def routes(self) -> list[Route]:
        api = "/api/{widget_key}"
        return [
            Route("/widget.js", self.widget_js, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route(f"{api}/session", self.api("session", self.session, needs_visitor=False), methods=["POST"]),
            Route(f"{api}/messages", self.api("messages", self.send), methods=["POST"]),
            Route(f"{api}/feedback", self.api("feedback", self.feedback), methods=["POST"]),
            Route(
                f"{api}/conversations/{{conversation_id}}", self.api("conversation", self.conversation), methods=["GET"]
            ),
            Route(f"{api}/conversations/{{conversation_id}}/events", self.api("events", self.events), methods=["GET"]),
            Route(f"{api}/{{rest:path}}", self.preflight, methods=["OPTIONS"]),
        ]


def _path_id(request: Request) -> str:
    try:
        return check_client_id(request.path_params["conversation_id"], "conversation id") or "-"
    except MessageError as exc:
        raise ApiError(400, exc.reason, exc.message) from None


async def _json(request: Request, required: bool = True) -> dict:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "message_too_long", f"the request has {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    if not raw and not required:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_request", "the body must be a JSON object in UTF-8") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return body


def build_app(settings: WebchatSettings, gateway: GatewayClient) -> Starlette:
    return Starlette(routes=WebchatApp(settings, gateway).routes())


def build_demo_app(settings: WebchatSettings) -> Starlette:
    """The demo page: a shop page on an origin of its own that embeds the widget with one script tag."""
    template = (STATIC / "demo.html").read_text()

    async def page(request: Request) -> Response:
        lang = "zh" if request.query_params.get("lang") == "zh" else "en"
        body = (
            template.replace("{{lang}}", lang)
            .replace("{{widget_src}}", f"{settings.public_url}/widget.js")
            .replace("{{widget_key}}", html.escape(settings.demo_widget_key))
        )
        return Response(body, media_type="text/html; charset=utf-8")

    return Starlette(routes=[Route("/", page, methods=["GET"]), Route("/demo", page, methods=["GET"])])

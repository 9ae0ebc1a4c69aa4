"""The console's web app (Starlette): sign-in, inbox, conversation, wallboard, their actions and
their Server-Sent Events streams. It holds no data: the session is a signed cookie (session.py),
everything else comes from the gateway per request."""

from __future__ import annotations

import contextlib
import logging
import pathlib
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator

import grpc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.console import pages, streams
from services.console.gateway import (
    UNAVAILABLE,
    GatewayClient,
    bearer,
    conversation_view,
    escalation_view,
    message_view,
)
from services.console.session import COOKIE, Session, csrf_ok, csrf_token, safe_next, sign, verify
from services.console.settings import ConsoleSettings

log = logging.getLogger(__name__)
STATIC = pathlib.Path(__file__).parent / "static"
TIMEOUT_S = 10


class Expired(Exception):
    """The gateway refused the session's credential (expired, signed out, account disabled)."""


def create_app(settings: ConsoleSettings, gateway: GatewayClient | None = None) -> Starlette:
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state["gw"] = gateway or GatewayClient(settings.gateway)
        try:
            yield
        finally:
            await state["gw"].close()

    def gw() -> GatewayClient:
        return state["gw"]

    thresholds = {
        "amber_s": settings.wait_amber_s,
        "red_s": settings.wait_red_s,
        "sl_green": settings.sl_green,
        "sl_amber": settings.sl_amber,
    }

    def session_of(request: Request) -> Session | None:
        s = verify(request.cookies.get(COOKIE), settings.secret)
        return s if s is not None and s.tenant_id == settings.tenant_id else None

    def to_signin(request: Request, next_path: str | None = None) -> Response:
        target = next_path or request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = RedirectResponse(f"/signin?next={urllib.parse.quote(safe_next(target))}", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def html(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(
            body,
            status_code=status,
            headers={
                "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
                "Cache-Control": "no-store",
            },
        )

    async def call(session: Session, method: str, request_message):
        """An AgentService call with the session's credential; Expired when the gateway refuses it."""
        try:
            return await getattr(gw().agents, method)(
                request_message, metadata=bearer(session.credential), timeout=TIMEOUT_S
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise Expired() from None
            raise

    def page(handler):
        """A signed-in page: sign-in when there is no session or it expired, the unavailable page when
        the gateway does not answer."""

        async def wrapper(request: Request) -> Response:
            session = session_of(request)
            if session is None:
                return to_signin(request)
            try:
                return await handler(request, session)
            except Expired:
                return to_signin(request)
            except grpc.aio.AioRpcError as err:
                if err.code() in UNAVAILABLE:
                    return html(pages.unavailable_page(session, csrf_token(session, settings.secret)), 503)
                raise

        return wrapper

    def action(handler):
        """A POST from a signed-in page: checks the CSRF token and the origin, then redirects."""

        async def wrapper(request: Request) -> Response:
            session = session_of(request)
            back = _back(request)
            if session is None:
                return to_signin(request, back)
            form = await request.form()
            given = form.get("csrf") or request.headers.get("x-csrf-token")
            if not csrf_ok(session, settings.secret, str(given or "")) or not _same_origin(request):
                refused = "<h1>Refused</h1><p>This form is out of date: reload the page and try again.</p>"
                return html(pages.layout("Refused", refused, session, csrf_token(session, settings.secret)), 403)
            try:
                target, notice = await handler(request, session, form)
            except Expired:
                return to_signin(request, back)
            except grpc.aio.AioRpcError as err:
                if err.code() in UNAVAILABLE:
                    target, notice = back, "The gateway is unavailable; nothing was changed. Try again in a moment."
                else:
                    target, notice = back, err.details() or err.code().name
            sep = "&" if "?" in target else "?"
            return RedirectResponse(f"{target}{sep}notice={urllib.parse.quote(notice)}" if notice else target, 303)

        return wrapper

    async def signin_get(request: Request) -> Response:
        return html(pages.signin_page(settings.tenant_id, next_path=safe_next(request.query_params.get("next"))))

    async def signin_post(request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        next_path = safe_next(str(form.get("next", "/")))
        if not _same_origin(request):
            return html(
                pages.signin_page(settings.tenant_id, "This sign-in came from another site.", name, next_path), 403
            )
        if not name or not password:
            return html(pages.signin_page(settings.tenant_id, "Give your name and password.", name, next_path), 400)
        try:
            signed = await gw().sign_in(settings.tenant_id, name, password)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                message = "Too many failed sign-ins. Wait a minute and try again."
            elif err.code() in UNAVAILABLE:
                message = "The gateway is unavailable; try again in a moment."
            else:
                message = "Wrong name or password."
            status = 429 if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else 401
            return html(pages.signin_page(settings.tenant_id, message, name, next_path), status)
        session = Session(
            agent_id=signed.agent_id,
            role=signed.role,
            tenant_id=settings.tenant_id,
            credential=signed.credential,
            expires_at=_posix(signed.expires_at),
        )
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(
            COOKIE,
            sign(session, settings.secret),
            max_age=max(1, int(session.expires_at - time.time())),
            httponly=True,
            secure=settings.cookie_secure,
            samesite="strict",
            path="/",
        )
        return response

    async def signout(request: Request) -> Response:
        session = session_of(request)
        if session is not None:
            form = await request.form()
            if csrf_ok(session, settings.secret, str(form.get("csrf", ""))):
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await gw().sign_out(session.credential)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @page
    async def inbox(request: Request, session: Session) -> Response:
        queues = tuple((await call(session, "ListQueues", apb.ListQueuesRequest())).queues)
        csrf = csrf_token(session, settings.secret)
        return html(pages.inbox_page(session, csrf, queues, request.query_params.get("notice"), thresholds))

    @page
    async def conversation(request: Request, session: Session) -> Response:
        cid = request.path_params["cid"]
        try:
            read = await call(session, "ReadConversation", apb.ReadConversationRequest(conversation_id=cid))
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return RedirectResponse(f"/?notice={urllib.parse.quote(err.details() or 'not found')}", 303)
            raise
        queues = tuple((await call(session, "ListQueues", apb.ListQueuesRequest())).queues)
        view = conversation_view(read.conversation)
        escalation = escalation_view(read.escalation) if read.HasField("escalation") else None
        customer = {
            "customer": view["customer_id"],
            "name": read.customer.display_name,
            "tier": read.customer.tier,
            "locale": read.customer.locale,
            "channel": view["channel"],
        }
        if escalation:
            customer["escalated"] = ", ".join(r["code"] for r in escalation["reasons"])
            customer["summary"] = escalation["summary"]
            customer["priority"] = escalation["priority"]
        csrf = csrf_token(session, settings.secret)
        return html(
            pages.conversation_page(
                session,
                csrf,
                view,
                [message_view(m) for m in read.messages],
                customer,
                read.cursor,
                escalation["suggested_reply"] if escalation else "",
                str(uuid.uuid4()),
                queues,
                request.query_params.get("notice"),
            )
        )

    @page
    async def wallboard(request: Request, session: Session) -> Response:
        if not session.supervisor:
            return RedirectResponse("/?notice=" + urllib.parse.quote("The wallboard is for supervisors."), 303)
        csrf = csrf_token(session, settings.secret)
        return html(pages.wallboard_page(session, csrf, request.query_params.get("big") == "1", thresholds))

    @action
    async def claim(request: Request, session: Session, form) -> tuple[str, str]:
        cid = request.path_params["cid"]
        try:
            await call(session, "ClaimConversation", apb.ClaimConversationRequest(conversation_id=cid))
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            read = await call(session, "ReadConversation", apb.ReadConversationRequest(conversation_id=cid))
            owner = read.conversation.agent_id
            if owner:
                return f"/c/{cid}", f"Too late: {owner} already claimed this conversation."
            return f"/c/{cid}", f"This conversation can't be claimed now: {err.details()}"
        return f"/c/{cid}", ""

    @action
    async def takeover(request: Request, session: Session, form) -> tuple[str, str]:
        cid = request.path_params["cid"]
        try:
            await call(session, "TakeOverConversation", apb.TakeOverConversationRequest(conversation_id=cid))
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            return f"/c/{cid}", f"The bot no longer has this conversation: {err.details()}"
        return f"/c/{cid}", "You have this conversation now; the bot stays silent."

    @action
    async def reply(request: Request, session: Session, form) -> tuple[str, str]:
        cid = request.path_params["cid"]
        text = str(form.get("text", "")).strip()
        if not text:
            return f"/c/{cid}", "Write a reply before sending."
        await call(
            session,
            "SendAgentReply",
            apb.SendAgentReplyRequest(
                conversation_id=cid, text=text, client_reply_id=str(form.get("client_reply_id", ""))
            ),
        )
        return f"/c/{cid}?sent=1", ""

    @action
    async def transfer(request: Request, session: Session, form) -> tuple[str, str]:
        cid, queue = request.path_params["cid"], str(form.get("queue", ""))
        await call(
            session,
            "TransferConversation",
            apb.TransferConversationRequest(conversation_id=cid, queue=queue, note=str(form.get("note", ""))[:500]),
        )
        return "/", f"Conversation {cid} transferred to {queue}."

    @action
    async def resolve(request: Request, session: Session, form) -> tuple[str, str]:
        cid = request.path_params["cid"]
        await call(session, "ResolveConversation", apb.ResolveConversationRequest(conversation_id=cid))
        return "/", f"Conversation {cid} resolved."

    @action
    async def relabel(request: Request, session: Session, form) -> tuple[str, str]:
        cid = request.path_params["cid"]
        message_id, intent = str(form.get("message_id", "")), str(form.get("intent", "")).strip()
        if not intent:
            return f"/c/{cid}", "Give the intent the message should have had."
        await call(
            session,
            "CorrectUnderstanding",
            apb.CorrectUnderstandingRequest(conversation_id=cid, message_id=message_id, intent=intent),
        )
        return f"/c/{cid}", f"Relabelled as {intent}."

    def sse(make):
        async def endpoint(request: Request) -> Response:
            session = session_of(request)
            if session is None:
                return StreamingResponse(_once("expired", "{}"), media_type="text/event-stream")
            events: AsyncIterator[str] = make(request, session)
            return StreamingResponse(
                events, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
            )

        return endpoint

    async def healthz(request: Request) -> Response:
        return Response("ok", media_type="text/plain")

    routes = [
        Route("/signin", signin_get, methods=["GET"]),
        Route("/signin", signin_post, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/", inbox),
        Route("/c/{cid}", conversation),
        Route("/wallboard", wallboard),
        Route("/c/{cid}/claim", claim, methods=["POST"]),
        Route("/c/{cid}/takeover", takeover, methods=["POST"]),
        Route("/c/{cid}/reply", reply, methods=["POST"]),
        Route("/c/{cid}/transfer", transfer, methods=["POST"]),
        Route("/c/{cid}/resolve", resolve, methods=["POST"]),
        Route("/c/{cid}/relabel", relabel, methods=["POST"]),
        Route("/events/inbox", sse(lambda r, s: streams.inbox(r, s, gw(), settings))),
        Route("/events/c/{cid}", sse(lambda r, s: streams.conversation(r, s, gw(), settings))),
        Route("/events/wallboard", sse(lambda r, s: streams.wallboard(r, s, gw(), settings))),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _posix(stamp) -> float:
    return stamp.seconds + stamp.nanos / 1e9


def _back(request: Request) -> str:
    """The page a POST came from (its path), for redirects after it."""
    referer = request.headers.get("referer", "")
    parsed = urllib.parse.urlsplit(referer)
    if parsed.netloc and parsed.netloc != request.url.netloc:
        return "/"
    return safe_next(parsed.path or "/")


def _same_origin(request: Request) -> bool:
    """A browser's POST names its origin; one from another site is refused (with SameSite cookies and the token)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urllib.parse.urlsplit(origin).netloc == request.url.netloc


async def _once(event: str, data: str) -> AsyncIterator[str]:
    yield f"event: {event}\ndata: {data}\n\n"

"""What every gateway API handler needs, built once in server.py, plus the shared call wrappers."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field

import grpc
from aiokafka.errors import KafkaError
from google.protobuf.message import DecodeError
from pymongo.errors import PyMongoError

from services.common.platform import metrics
from services.common.platform.errors import TransientError
from services.common.platform.kafka import EventPublisher
from services.common.platform.topics import TopicSpec
from services.common.storage.accounts import AccountRepo
from services.common.storage.console_queries import ConsoleQueries
from services.common.storage.event_log import EventLog
from services.common.storage.repositories import Repositories
from services.gateway.auth import Authenticator, RequestError
from services.gateway.deferred import DeferredWrites
from services.gateway.hub import Hub
from services.gateway.known_conversations import KnownConversations
from services.gateway.profiles import RecentProfiles
from services.gateway.recorder import Recorder
from services.gateway.settings import GatewaySettings
from services.gateway.tenant_queues import TenantQueues
from services.gateway.visitors import WidgetKeys

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    settings: GatewaySettings
    repos: Repositories
    publisher: EventPublisher
    auth: Authenticator
    hub: Hub
    sink_addr: str  # where the generator reaches this replica's reply sink (the stream routes name it)
    widgets: WidgetKeys  # widget keys of web-chat visitors (services/gateway/visitors.py)
    # The console's side: people's accounts, the watch streams' event logs, the wallboard's queries.
    accounts: AccountRepo
    event_log: EventLog
    recorder: Recorder
    queries: ConsoleQueries
    tenant_queues: TenantQueues  # the platform's queues and each tenant file's (services/gateway/tenant_queues.py)
    # Customer profiles written lately, not rewritten unchanged on every message (services/gateway/profiles.py).
    profiles: RecentProfiles = field(default_factory=RecentProfiles)
    # Whose each conversation seen lately is, and its last known state (services/gateway/known_conversations.py).
    known: KnownConversations = field(default_factory=KnownConversations)
    # Writes done after the call answered: the customer message stored at receipt (services/gateway/deferred.py).
    deferred: DeferredWrites = field(default_factory=DeferredWrites)

    async def publish(self, spec: TopicSpec, event, *, topic: str | None = None) -> None:
        """Publish (keyed by the event's conversation) with acks=all within the configured bound;
        UNAVAILABLE when Kafka can't take it."""
        try:
            await asyncio.wait_for(self.publisher.publish(spec, event, topic=topic), self.settings.send_timeout_s)
        except (TimeoutError, KafkaError) as exc:
            log.warning(
                "publish failed",
                extra={"conversation_id": getattr(event, "conversation_id", ""), "error": type(exc).__name__},
            )
            raise RequestError(
                grpc.StatusCode.UNAVAILABLE,
                f"the event bus did not accept the event within {self.settings.send_timeout_s:.0f} s; retry later",
            ) from None


@dataclass(frozen=True)
class MalformedRequest:
    """What a request decodes to when its bytes are not a valid message (truncated, bad UTF-8)."""

    method: str
    error: str


class DecodeRequestsLeniently(grpc.aio.ServerInterceptor):
    """Lets the handlers answer INVALID_ARGUMENT for undecodable requests.

    grpc's server answers UNKNOWN when a request deserializer raises, which tells the caller
    nothing; this hands the handler a MalformedRequest instead. The `unary` and `streaming`
    wrappers check a unary request; a request-streaming handler (the internal ReplySink) calls
    `check_decoded` on every message it reads.
    """

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self._prefixes = prefixes

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(self._prefixes):
            return handler
        return handler._replace(request_deserializer=_lenient(handler.request_deserializer, method))


def _lenient(deserialize, method: str):
    def decode(data: bytes):
        try:
            return deserialize(data)
        except DecodeError as exc:
            return MalformedRequest(method, str(exc))

    return decode


def check_decoded(request) -> None:
    """INVALID_ARGUMENT (as a RequestError) when the request's bytes did not decode."""
    if isinstance(request, MalformedRequest):
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the request is not a valid protobuf message for {request.method} ({request.error}); "
            "send it with the generated stubs and UTF-8 text",
        )


def _finish(service: str, method: str, code: str, started: float) -> None:
    metrics.GRPC_REQUESTS.labels(service=service, method=method, code=code).inc()
    metrics.GRPC_SECONDS.labels(service=service, method=method).observe(time.perf_counter() - started)


def _status(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    if isinstance(exc, RequestError):
        return exc.code, exc.message
    if isinstance(exc, PyMongoError):
        return grpc.StatusCode.UNAVAILABLE, "the database is unavailable; retry later"
    if isinstance(exc, TransientError):
        return grpc.StatusCode.UNAVAILABLE, f"{exc}"
    if isinstance(exc, KafkaError):
        return grpc.StatusCode.UNAVAILABLE, "the event bus is unavailable; retry later"
    return None


def unary(fn):
    """Maps RequestError and dependency failures to gRPC statuses, and records call metrics."""

    @functools.wraps(fn)
    async def wrapper(self, request, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        try:
            check_decoded(request)
            response = await fn(self, request, context)
        except Exception as exc:
            status = _status(exc)
            if status is None:
                _finish("gateway", fn.__name__, "INTERNAL", started)
                log.exception("unexpected error", extra={"method": fn.__name__})
                await context.abort(grpc.StatusCode.INTERNAL, "internal error; it has been logged")
            else:
                _finish("gateway", fn.__name__, status[0].name, started)
                await context.abort(*status)
        _finish("gateway", fn.__name__, "OK", started)
        return response

    return wrapper


def streaming(kind: str):
    """Like `unary` for server-streaming calls; also tracks open streams."""

    def decorate(fn):
        @functools.wraps(fn)
        async def wrapper(self, request, context: grpc.aio.ServicerContext):
            started = time.perf_counter()
            gauge = metrics.ACTIVE_STREAMS.labels(service="gateway", kind=kind)
            gauge.inc()
            try:
                check_decoded(request)
                async for item in fn(self, request, context):
                    yield item
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                status = _status(exc)
                if status is None:
                    log.exception("unexpected error", extra={"method": fn.__name__})
                    status = (grpc.StatusCode.INTERNAL, "internal error; it has been logged")
                _finish("gateway", fn.__name__, status[0].name, started)
                await context.abort(*status)
            finally:
                gauge.dec()

        return wrapper

    return decorate

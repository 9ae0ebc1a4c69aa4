"""The gateway process: two gRPC servers and the live topic feed.

The public server (CS_GATEWAY_LISTEN) carries the customer and agent API and health; it is what the
ingress exposes. The internal ReplySinkService has a listener of its own (CS_GATEWAY_SINK_LISTEN):
PushReply carries no credentials, so on the public port anyone could push a forged bot reply into a
customer's stream. A port of its own lets the NetworkPolicy admit only the generator to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc

from services.common.platform import logs, tls
from services.common.platform.health import SERVER_OPTIONS, DependencyWatch, Health, bind
from services.common.platform.kafka import EventPublisher, kafka_probe, start_producer
from services.common.platform.metrics import start_metrics_server
from services.common.platform.topics import STATE, TopicSpec
from services.common.proto.cs.v1 import (
    account_service_pb2_grpc,
    agent_service_pb2_grpc,
    customer_service_pb2_grpc,
    reply_sink_service_pb2_grpc,
    widget_service_pb2_grpc,
)
from services.common.storage.accounts import AccountRepo
from services.common.storage.console_queries import ConsoleQueries
from services.common.storage.event_log import EventLog
from services.common.storage.mongo import connect, migrate, ping
from services.common.storage.repositories import Repositories
from services.common.storage.widget_keys import WidgetKeyRepo
from services.gateway.accounts_api import AccountApi, SignInLimiter
from services.gateway.agent_api import AgentApi
from services.gateway.auth import Authenticator
from services.gateway.context import DecodeRequestsLeniently, Gateway
from services.gateway.customer_api import CustomerApi
from services.gateway.hub import Hub, TopicFeed
from services.gateway.recorder import Recorder
from services.gateway.reflection import enable_reflection
from services.gateway.reply_sink import ReplySink
from services.gateway.settings import GatewaySettings, advertised_sink_addr
from services.gateway.tenant_queues import TenantQueues
from services.gateway.visitors import WidgetKeys
from services.gateway.widget_api import WidgetApi

log = logging.getLogger(__name__)

GRACE_S = 10
# After the public server drained there is no stream left to deliver to; a push still open ends soon.
SINK_GRACE_S = 2
MAX_RECEIVE_BYTES = 256 * 1024
# Methods whose undecodable requests answer INVALID_ARGUMENT (see DecodeRequestsLeniently).
PUBLIC_METHOD_PREFIXES = (
    "/cs.v1.CustomerService/",
    "/cs.v1.AgentService/",
    "/cs.v1.AccountService/",
    "/cs.v1.WidgetService/",
)
SINK_METHOD_PREFIXES = ("/cs.v1.ReplySinkService/",)


def grpc_server(decoded_prefixes: tuple[str, ...]) -> grpc.aio.Server:
    return grpc.aio.server(
        options=[("grpc.max_receive_message_length", MAX_RECEIVE_BYTES), *SERVER_OPTIONS],
        interceptors=[DecodeRequestsLeniently(decoded_prefixes)],
    )


def on_live_event(gw: Gateway, spec: TopicSpec, event) -> None:
    """Every live event the topic feed reads: to the recorder (event logs), state changes also to the
    conversations this replica remembers."""
    gw.recorder.offer(spec, event)
    if spec is STATE:
        gw.known.state_changed(event)


async def serve(stop: asyncio.Event, settings: GatewaySettings) -> None:
    common = settings.common
    logs.configure(common.service, common.instance_id, common.log_level)
    start_metrics_server(common.metrics_host, common.metrics_port)
    health = Health("cs.v1.CustomerService")
    producer = await start_producer(common.kafka_bootstrap, f"gateway-{common.instance_id}", common.startup_timeout_s)
    mongo = None
    feed = None
    server = None
    sink_server = None
    watching: asyncio.Task | None = None
    following: asyncio.Task | None = None
    recorder: Recorder | None = None
    try:
        mongo, db = await connect(
            common.mongo_uri,
            common.mongo_database,
            common.startup_timeout_s,
            common.mongo_operation_timeout_s,
            service=common.service,
        )
        await migrate(db)
        repos = Repositories.of(db)
        hub = Hub()
        credentials = (
            tls.server_credentials(settings.tls_cert, settings.tls_key)
            if settings.tls_cert and settings.tls_key
            else None
        )  # settings refuse one without the other
        # Handlers must be registered before the servers start, so they start once Kafka and the
        # database answered; Kubernetes' startupProbe covers the seconds before. The sink binds first:
        # the stream routes name the port it got.
        sink_server = grpc_server(SINK_METHOD_PREFIXES)
        reply_sink_service_pb2_grpc.add_ReplySinkServiceServicer_to_server(ReplySink(hub), sink_server)
        sink_port = bind(sink_server, settings.sink_listen, "CS_GATEWAY_SINK_LISTEN", credentials)
        sink_addr = advertised_sink_addr(settings.sink_advertised, settings.sink_listen, sink_port)
        # Routes left by an earlier process at this address (killed before its streams closed) name
        # streams that no longer exist.
        await repos.stream_routes.clear_address(sink_addr)
        tenant_queues = TenantQueues(db, common.escalation_queues, common.topic_prefix, common.tenant_reload_s)
        recorder = Recorder(EventLog(db), settings.event_log_retention_h)
        recorder.start()
        accounts = AccountRepo(db)
        gw = Gateway(
            settings=settings,
            repos=repos,
            publisher=EventPublisher(producer, common.topic_prefix, "gateway"),
            auth=Authenticator(
                repos.api_keys, settings.rate_per_minute, settings.auth_failures_per_minute, settings.auth_cache_s
            ),
            hub=hub,
            sink_addr=sink_addr,
            widgets=WidgetKeys(WidgetKeyRepo(db)),
            accounts=accounts,
            event_log=recorder.log,
            recorder=recorder,
            queries=ConsoleQueries(db),
            tenant_queues=tenant_queues,
        )
        server = grpc_server(PUBLIC_METHOD_PREFIXES)
        health.add_to(server)
        customer_service_pb2_grpc.add_CustomerServiceServicer_to_server(CustomerApi(gw), server)
        agent_service_pb2_grpc.add_AgentServiceServicer_to_server(AgentApi(gw), server)
        widget_service_pb2_grpc.add_WidgetServiceServicer_to_server(WidgetApi(gw), server)
        limiter = SignInLimiter(settings.signin_failures_per_minute)
        account_service_pb2_grpc.add_AccountServiceServicer_to_server(
            AccountApi(gw, accounts, limiter, settings.session_ttl_s), server
        )
        enable_reflection(server)
        bind(server, settings.listen, "CS_GATEWAY_LISTEN", credentials)
        feed = TopicFeed(
            hub,
            common.kafka_bootstrap,
            common.topic_prefix,
            common.escalation_queues,
            f"gateway-feed-{common.instance_id}",
            on_event=lambda spec, event: on_live_event(gw, spec, event),
            tenant_topics=tuple(await tenant_queues.tenant_topics()),
        )
        await feed.start()
        following = asyncio.create_task(tenant_queues.follow(feed), name="tenant-queues")
        await sink_server.start()
        await server.start()
        await health.start()
        await health.set_ready()
        watch = DependencyWatch(health, {"kafka": lambda: kafka_probe(producer), "database": lambda: ping(db)})
        watching = asyncio.create_task(watch.run(), name="dependency-watch")
        # The log filter masks IP addresses, so the bound port goes in a field of its own too.
        log.info(
            "gateway ready",
            extra={
                "listen": settings.listen,
                "sink_listen": settings.sink_listen,
                "sink_port": sink_port,
                "sink_advertised": sink_addr,
                "tls": credentials is not None,
            },
        )
        await stop.wait()
        log.info("shutting down: draining calls")
        await health.shutdown()
        await server.stop(GRACE_S)
        await gw.deferred.drain(GRACE_S)
        await sink_server.stop(SINK_GRACE_S)
    finally:
        for task in (watching, following):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if feed is not None:
            await feed.stop()
        if recorder is not None:
            await recorder.stop()
        await producer.stop()
        if mongo is not None:
            await mongo.close()
        for running in (server, sink_server):
            if running is not None:
                await running.stop(0)

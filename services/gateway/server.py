"""The gateway process: gRPC server (customer, agent, internal reply sink, health), live topic feed."""

from __future__ import annotations

import asyncio
import logging

import grpc

from services.common import logs, tls
from services.common.health import Health, bind
from services.common.kafka import EventPublisher, start_producer
from services.common.metrics import start_metrics_server
from services.common.mongo import connect
from services.common.proto.cs.v1 import agent_service_pb2_grpc, customer_service_pb2_grpc, reply_sink_service_pb2_grpc
from services.common.repositories import Repositories
from services.gateway.agent_api import AgentApi
from services.gateway.auth import Authenticator
from services.gateway.context import DecodeRequestsLeniently, Gateway
from services.gateway.customer_api import CustomerApi
from services.gateway.hub import Hub, TopicFeed
from services.gateway.reply_sink import ReplySink
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

GRACE_S = 10
MAX_RECEIVE_BYTES = 256 * 1024
# Methods whose undecodable requests answer INVALID_ARGUMENT (see DecodeRequestsLeniently).
DECODED_METHOD_PREFIXES = ("/cs.v1.CustomerService/", "/cs.v1.AgentService/", "/cs.v1.ReplySinkService/")


async def serve(stop: asyncio.Event, settings: GatewaySettings) -> None:
    common = settings.common
    logs.configure(common.service, common.instance_id, common.log_level)
    start_metrics_server(common.metrics_host, common.metrics_port)
    health = Health("cs.v1.CustomerService")
    producer = await start_producer(common.kafka_bootstrap, f"gateway-{common.instance_id}", common.startup_timeout_s)
    mongo = None
    feed = None
    server = None
    try:
        mongo, db = await connect(common.mongo_uri, common.mongo_database, common.startup_timeout_s)
        repos = Repositories.of(db)
        hub = Hub()
        gw = Gateway(
            settings=settings, repos=repos, publisher=EventPublisher(producer, common.topic_prefix, "gateway"),
            auth=Authenticator(repos.api_keys, settings.rate_per_minute), hub=hub,
        )
        # Handlers must be registered before the server starts, so it starts once Kafka and the
        # database answered; Kubernetes' startupProbe covers the seconds before.
        server = grpc.aio.server(
            options=[("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)],
            interceptors=[DecodeRequestsLeniently(DECODED_METHOD_PREFIXES)],
        )
        health.add_to(server)
        customer_service_pb2_grpc.add_CustomerServiceServicer_to_server(CustomerApi(gw), server)
        agent_service_pb2_grpc.add_AgentServiceServicer_to_server(AgentApi(gw), server)
        reply_sink_service_pb2_grpc.add_ReplySinkServiceServicer_to_server(ReplySink(hub), server)
        credentials = tls.server_credentials(settings.tls_cert, settings.tls_key) if settings.tls_cert else None
        bind(server, settings.listen, "CS_GATEWAY_LISTEN", credentials)
        feed = TopicFeed(hub, common.kafka_bootstrap, common.topic_prefix, common.escalation_queues, f"gateway-feed-{common.instance_id}")
        await feed.start()
        await server.start()
        await health.start()
        await health.set_ready()
        log.info("gateway ready", extra={"listen": settings.listen, "advertised": settings.advertised_addr, "tls": credentials is not None})
        await stop.wait()
        log.info("shutting down: draining calls")
        await health.shutdown()
        await server.stop(GRACE_S)
    finally:
        if feed is not None:
            await feed.stop()
        await producer.stop()
        if mongo is not None:
            await mongo.close()
        if server is not None:
            await server.stop(0)

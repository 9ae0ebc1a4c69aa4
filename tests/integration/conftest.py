"""Fixtures for integration tests: a real gateway process and API keys in the real database."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from tests.conftest import ServiceProcess, Stack, free_port, start_service, wait_serving


@contextlib.asynccontextmanager
async def read_from_start(stack: Stack, topic: str) -> AsyncIterator:
    """A started consumer of `topic` in a group of its own, from the earliest offset; stopped on exit."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka, group_id=f"it-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


@pytest.fixture
def one_partition_topic(stack: Stack) -> str:
    """A topic of its own with one partition, so the test knows every event's offset."""
    from services.common.platform.kafka import ensure_topics

    name = f"{stack.prefix}one-{uuid.uuid4().hex[:8]}"
    ensure_topics(stack.kafka, [name], partitions=1)
    return name


async def create_keys_async(stack: Stack, specs: list[tuple[str, str, str]]) -> list[str]:
    from services.common.storage.mongo import connect
    from services.common.storage.repositories import ApiKeyRepo

    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        return [await ApiKeyRepo(db).create(tenant, role, agent) for tenant, role, agent in specs]
    finally:
        await mongo.close()


def create_keys(stack: Stack, specs: list[tuple[str, str, str]]) -> list[str]:
    return asyncio.run(create_keys_async(stack, specs))


@pytest.fixture(scope="session")
def keys(stack: Stack) -> dict[str, str]:
    names = ["acme_adapter", "acme_agent", "globex_adapter", "globex_agent", "acme_agent2"]
    values = create_keys(
        stack,
        [
            ("acme", "adapter", ""),
            ("acme", "agent", "alice"),
            ("globex", "adapter", ""),
            ("globex", "agent", "gary"),
            ("acme", "agent", "bob"),
        ],
    )
    return dict(zip(names, values))


def start_gateway(stack: Stack, log_dir: pathlib.Path, ca: bytes | None = None, **env: str) -> ServiceProcess:
    """A gateway process on free ports, SERVING (checked over TLS when `ca` is given); env overrides settings."""
    port, metrics_port = free_port(), free_port()
    settings = {
        "CS_GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "CS_METRICS_PORT": str(metrics_port),
        "CS_GATEWAY_RATE_PER_MINUTE": "600",
    }
    proc = start_service("services.gateway.main", stack.env(**{**settings, **env}), log_dir, "gateway")
    proc.ports = {"grpc": port, "metrics": metrics_port}
    try:
        wait_serving(f"127.0.0.1:{port}", proc, 60, ca)
    except BaseException:
        proc.stop()
        raise
    return proc


@pytest.fixture(scope="session")
def gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory):
    proc = start_gateway(stack, tmp_path_factory.mktemp("gateway"))
    try:
        yield proc
    finally:
        proc.stop()


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def wait_stream_route(stack: Stack, tenant: str, conversation_id: str, timeout: float = 10) -> str:
    """The reply-sink address a gateway registered for the conversation's open reply stream: what the
    generator reads to stream tokens (the sink has its own, by default ephemeral, port)."""
    from services.common.storage.mongo import connect
    from services.common.storage.repositories import StreamRouteRepo

    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        routes = StreamRouteRepo(db)
        deadline = asyncio.get_running_loop().time() + timeout
        while (address := await routes.get(tenant, conversation_id)) is None:
            assert asyncio.get_running_loop().time() < deadline, (
                f"no stream route for {tenant}/{conversation_id} within {timeout} s"
            )
            await asyncio.sleep(0.1)
        return address
    finally:
        await mongo.close()


async def stored(db, tenant_id: str, message_id: str, timeout: float = 10) -> dict:
    """The customer message once the gateway has stored it: it stores a message after acknowledging it
    (services/gateway/deferred.py), so a test reading the database right after SendMessage waits here."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (doc := await db["messages"].find_one({"_id": message_id, "tenant_id": tenant_id})) is None:
        assert asyncio.get_running_loop().time() < deadline, f"message {message_id} not stored within {timeout} s"
        await asyncio.sleep(0.05)
    return doc


@pytest.fixture
async def channel(gateway):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.ports['grpc']}") as ch:
        yield ch


async def publish(stack: Stack, spec, event, topic: str | None = None) -> None:
    """`event` on its topic (or `topic`), keyed by its conversation as the services key it."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic or spec.name(stack.prefix), spec.encode(event), key=spec.key(event))
    finally:
        await producer.stop()


async def escalate_as_generator(stack: Stack, tenant: str, conversation_id: str, queue: str, **fields) -> str:
    """What the generator does when it hands a conversation to a person: the conversation moved from
    `bot` to `queued` in the database, the state event and the EscalationRaised on Kafka, the escalation
    stored; its id. `fields`: more of the escalation (summary, priority, suggested_reply, language)."""
    import datetime as dt

    from services.common.platform.topics import ESCALATIONS, STATE, escalation_topic
    from services.common.proto.cs.v1 import conversation_pb2 as conv
    from services.common.proto.cs.v1 import events_pb2 as ev
    from services.common.storage.mongo import connect
    from services.common.storage.repositories import STATE_BOT, STATE_QUEUED, Repositories

    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        repos = Repositories.of(db)
        doc = await repos.conversations.transition(
            tenant,
            conversation_id,
            (STATE_BOT,),
            STATE_QUEUED,
            queue=queue,
            agent_id="",
            queued_at=dt.datetime.now(dt.UTC),
        )
        assert doc is not None, f"conversation {conversation_id} was not with the bot"
        state = ev.ConversationStateChanged(
            tenant_id=tenant,
            conversation_id=conversation_id,
            from_state=conv.CONVERSATION_STATE_BOT,
            to_state=conv.CONVERSATION_STATE_QUEUED,
            queue=queue,
        )
        state.changed_at.GetCurrentTime()
        escalation = ev.EscalationRaised(
            escalation_id=f"e-{uuid.uuid4().hex}",
            tenant_id=tenant,
            conversation_id=conversation_id,
            customer_id=doc.get("customer_id", ""),
            queue=queue,
            **fields,
        )
        escalation.reasons.add(code=conv.REASON_CODE_HUMAN_REQUESTED, detail="asked for a person")
        escalation.created_at.GetCurrentTime()
        await publish(stack, STATE, state)
        await publish(stack, ESCALATIONS, escalation, topic=escalation_topic(stack.prefix, queue))
        await repos.escalations.record(escalation, ESCALATIONS.encode(escalation))
        return escalation.escalation_id
    finally:
        await mongo.close()


def tenant_served(tenant: str, queues: list[str]) -> dict:
    """A tenant_settings document as `cs tenants apply` leaves it (tenant_models.TenantModelRepo.activate),
    with these queues of the tenant's own and no other rule: for tests of what the gateway does with it."""
    return {
        "_id": tenant,
        "understanding": {
            "version": 1,
            "model_version": f"intent-tenant-{tenant}-v1",
            "labels": [],
            "rules": {"version": 1, "queues": [{"name": q, "hours": None} for q in queues]},
        },
    }

"""The whole pipeline as processes, for the benchmarks: stack, the four services, an adapter key.

Starts the local stack (idempotent), gives the run its own topic prefix and database (dropped at
the end), starts gateway, intent, sentiment and generator as processes on free loopback ports and
waits until each answers SERVING. The benchmarks drive it from their own process over gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from services.common.proto.cs.v1 import customer_service_pb2 as cpb  # noqa: E402
from tests.conftest import ServiceProcess, Stack, free_port, start_service, wait_serving  # noqa: E402

SERVICES = ("gateway", "intent", "sentiment", "generator")
# What the pipeline benchmarks' customers ask, zh and en, round-robin.
QUESTIONS = [
    "How do I change my shipping address?",
    "Can I return a jacket I bought last week?",
    "怎么修改收货地址？",
    "How long does a refund take?",
    "我的订单什么时候发货？",
    "Do you ship to Canada?",
    "How do I reset my password?",
    "退货需要多长时间？",
    "Which payment methods do you accept?",
    "How do I update my e-mail address?",
]
START_TIMEOUT_S = 300  # model loading on a 2-core machine


class ReplyStream:
    """One conversation's reply stream, read by a background task so a slow read never cancels the call;
    what arrives (StreamRepliesResponse items, or the AioRpcError that ended the stream) is in `items`."""

    def __init__(self, stub, key: str, prefix: str) -> None:
        self.id = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.meta = (("authorization", f"Bearer {key}"),)
        self.stub = stub
        self.items: asyncio.Queue = asyncio.Queue()
        self.call = stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=self.id), metadata=self.meta)
        self.pump = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for item in self.call:
                await self.items.put(item)
        except grpc.aio.AioRpcError as exc:
            await self.items.put(exc)

    def close(self) -> None:
        self.call.cancel()
        self.pump.cancel()


@dataclass
class Pipeline:
    stack: Stack
    target: str  # the gateway's host:port
    key: str  # an adapter key of the tenant "bench"
    processes: dict[str, ServiceProcess]
    log_dir: Path


def bench_stack(partitions: int) -> Stack:
    """The local stack with a run-private topic prefix and database, topics created."""
    subprocess.run(["bash", str(ROOT / "deploy/local/stack.sh"), "up"], check=True, capture_output=True)
    run_id = uuid.uuid4().hex[:8]
    stack = Stack(
        kafka=f"127.0.0.1:{os.environ.get('CS_KAFKA_PORT', '9092')}",
        mongo_uri=f"mongodb://127.0.0.1:{os.environ.get('CS_FERRETDB_PORT', '27017')}/",
        database=f"bench_{run_id}",
        prefix=f"b{run_id}.",
    )
    from services.common.platform.kafka import ensure_topics
    from services.common.platform.topics import all_topic_names

    ensure_topics(stack.kafka, all_topic_names(stack.prefix, stack.queues.split(",")), partitions=partitions)
    return stack


@contextlib.contextmanager
def running_pipeline(
    max_new_tokens: int, partitions: int = 6, per_service: dict[str, dict[str, str]] | None = None, **env: str
) -> Iterator[Pipeline]:
    """The four services running against a fresh bench stack; `env` overrides every service's settings,
    `per_service` one service's (e.g. {"generator": {"CS_LOG_LEVEL": "DEBUG"}}).

    Answers are ungrounded by default (CS_GENERATOR_REQUIRE_KNOWLEDGE=false): the bench tenant has no
    knowledge base, so the generator would hand every question over and the LLM would never run.
    """
    from tests.integration.conftest import create_keys

    stack = bench_stack(partitions)
    key = create_keys(stack, [("bench", "adapter", "")])[0]
    gateway_port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="cs-bench-"))
    processes: dict[str, ServiceProcess] = {}
    try:
        for name in SERVICES:
            health = gateway_port if name == "gateway" else free_port()
            defaults = {
                "CS_METRICS_PORT": str(free_port()),
                "CS_HEALTH_PORT": str(health),
                "CS_LOG_LEVEL": "WARNING",
                "CS_GATEWAY_LISTEN": f"127.0.0.1:{gateway_port}",
                "CS_GATEWAY_RATE_PER_MINUTE": "100000",
                "CS_GENERATOR_MAX_NEW_TOKENS": str(max_new_tokens),
                "CS_GENERATOR_REQUIRE_KNOWLEDGE": "false",
            }
            settings = stack.env(**{**defaults, **env, **(per_service or {}).get(name, {})})
            processes[name] = start_service(f"services.{name}.main", settings, log_dir, name)
            processes[name].ports = {"health": health}
        for proc in processes.values():
            wait_serving(f"127.0.0.1:{proc.ports['health']}", proc, START_TIMEOUT_S)
        yield Pipeline(stack, f"127.0.0.1:{gateway_port}", key, processes, log_dir)
    finally:
        for proc in processes.values():
            proc.stop()
        from pymongo import MongoClient

        MongoClient(stack.mongo_uri).drop_database(stack.database)

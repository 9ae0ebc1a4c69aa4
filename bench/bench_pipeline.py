"""End-to-end latency and throughput of the conversation pipeline on this machine.

Starts the local stack (idempotent) and the four services as processes on their own topic prefix
and database, sends customer messages through the gateway's gRPC API, and prints percentiles of:
- ack: SendMessage until the gateway answered (event durably in Kafka),
- first token: send until the first streamed token,
- final: send until the final reply,
plus throughput, and the pipeline's overhead: final-reply time minus the models' own compute
(intent + sentiment + LLM generation, as recorded with each message) for the same messages.

    .venv/bin/python bench/bench_pipeline.py [--conversations 8] [--concurrency 1,4] [--max-new-tokens 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid

import grpc
from pipeline_stack import QUESTIONS, running_pipeline  # bench/ is on sys.path when a script in it runs
from pymongo import AsyncMongoClient

from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.conftest import Stack


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def row(name: str, values: list[float]) -> str:
    return (
        f"  {name:<12} p50 {pct(values, 50):7.3f} s   p90 {pct(values, 90):7.3f} s   "
        f"max {max(values):7.3f} s   mean {statistics.mean(values):7.3f} s"
    )


async def one(stub, key: str, text: str) -> dict:
    cid = f"bench-{uuid.uuid4().hex[:10]}"
    meta = (("authorization", f"Bearer {key}"),)
    stream = stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid), metadata=meta)
    await asyncio.sleep(0.3)
    start = time.perf_counter()
    ack = await stub.SendMessage(
        cpb.SendMessageRequest(conversation_id=cid, customer_id="bench", text=text), metadata=meta
    )
    acked = time.perf_counter() - start
    first = None
    while True:
        item = await asyncio.wait_for(stream.read(), 600)
        if item.HasField("token") and first is None:
            first = time.perf_counter() - start
        if item.HasField("reply"):
            final = time.perf_counter() - start
            break
    stream.cancel()
    return {
        "cid": cid,
        "message_id": ack.message_id,
        "ack": acked,
        "first": first if first is not None else final,
        "final": final,
    }


async def model_seconds(stack: Stack, results: list[dict]) -> list[float]:
    client = AsyncMongoClient(stack.mongo_uri)
    db = client[stack.database]
    out = []
    for r in results:
        msg = await db.messages.find_one({"_id": r["message_id"]})
        reply = await db.messages.find_one({"in_reply_to": r["message_id"], "author": "bot"})
        lat = (msg or {}).get("latencies", {})
        gen = (reply or {}).get("latencies", {}).get("generation_s", 0.0)
        out.append(lat.get("intent_s", 0.0) + lat.get("sentiment_s", 0.0) + gen)
    await client.close()
    return out


async def run(stack: Stack, target: str, key: str, n: int, concurrency: int) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = cgrpc.CustomerServiceStub(channel)
        await one(stub, key, "hello")  # warm-up
        semaphore = asyncio.Semaphore(concurrency)

        async def bounded(i: int) -> dict:
            async with semaphore:
                return await one(stub, key, QUESTIONS[i % len(QUESTIONS)])

        started = time.perf_counter()
        results = await asyncio.gather(*(bounded(i) for i in range(n)))
        wall = time.perf_counter() - started
    compute = await model_seconds(stack, results)
    overhead = [r["final"] - c for r, c in zip(results, compute)]
    print(f"\nconcurrency {concurrency}: {n} conversations in {wall:.1f} s = {n / wall:.2f} replies/s")
    print(row("ack", [r["ack"] for r in results]))
    print(row("first token", [r["first"] for r in results]))
    print(row("final reply", [r["final"] for r in results]))
    print(row("model time", compute))
    print(row("overhead", overhead))
    print(
        f"  overhead share of final-reply time: {statistics.mean(overhead) / statistics.mean([r['final'] for r in results]):.1%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()

    with running_pipeline(args.max_new_tokens) as pipeline:
        print(
            f"pipeline benchmark: 2-core CPU machine, max_new_tokens={args.max_new_tokens}, logs in {pipeline.log_dir}"
        )
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            asyncio.run(run(pipeline.stack, pipeline.target, pipeline.key, args.conversations, concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())

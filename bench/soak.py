"""Soak: steady load for a long time; does anything a long-running process keeps per conversation or per key grow?

Customers send one message per new conversation (the worst case for per-conversation state: every
message opens a reply stream, a stream route, a hub subscription, a sentiment history), wait for
the final reply, and go again, for --minutes. Every --sample-s it samples, per service process, the
resident memory (VmRSS) and open file descriptors; the gateway's open streams and the stream routes
left in the database; the generator's channels to gateway replicas; and the replies and their p99
latency in the window. The table at the end says how the last sample compares with the first one
taken after warm-up (the model caches fill in the first minute).

    .venv/bin/python bench/soak.py [--minutes 10] [--customers 4] [--sample-s 30] [--max-new-tokens 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
import uuid
from dataclasses import dataclass, field

import grpc
from engine_busy import scrape_metrics
from pipeline_stack import QUESTIONS, SERVICES, Pipeline, running_pipeline  # bench/ is on sys.path

from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc

REPLY_TIMEOUT_S = 120


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class Sample:
    at_s: float
    rss_mb: dict[str, float]
    fds: dict[str, int]
    streams: float
    routes: int
    channels: float
    replies: int
    errors: int
    p99_s: float


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric(pipeline: Pipeline, service: str, name: str) -> float:
    body = scrape_metrics(f"127.0.0.1:{pipeline.processes[service].env['CS_METRICS_PORT']}")
    values = [float(m.group(1)) for m in re.finditer(rf"^{name}\{{[^}}]*\}} ([0-9.e+-]+)$", body, re.M)]
    return sum(values)


async def customer(stub, key: str, number: int, window: list[Window], stop: asyncio.Event) -> None:
    metadata = (("authorization", f"Bearer {key}"),)
    turn = 0
    while not stop.is_set():
        cid = f"soak-{number}-{uuid.uuid4().hex[:10]}"
        started = time.perf_counter()
        stream = stub.StreamReplies(cpb.StreamRepliesRequest(conversation_id=cid), metadata=metadata)
        try:
            await stub.SendMessage(
                cpb.SendMessageRequest(
                    conversation_id=cid, customer_id=f"c{number}", text=QUESTIONS[(number + turn) % len(QUESTIONS)]
                ),
                metadata=metadata,
                timeout=30,
            )
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                async for item in stream:
                    if item.HasField("reply"):
                        break
            window[0].latencies.append(time.perf_counter() - started)
        except (grpc.aio.AioRpcError, TimeoutError):
            window[0].errors += 1
        finally:
            stream.cancel()
        turn += 1


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def sample(pipeline: Pipeline, routes, started: float, window: Window) -> Sample:
    pids = {name: pipeline.processes[name].proc.pid for name in SERVICES}
    return Sample(
        at_s=time.monotonic() - started,
        rss_mb={name: rss_mb(pid) for name, pid in pids.items()},
        fds={name: fds(pid) for name, pid in pids.items()},
        streams=metric(pipeline, "gateway", "cs_gateway_active_streams"),
        routes=await routes.count_documents({}),
        channels=metric(pipeline, "generator", "cs_generator_push_channels"),
        replies=len(window.latencies),
        errors=window.errors,
        p99_s=p99(window.latencies),
    )


def report(samples: list[Sample], warm: Sample) -> None:
    names = list(SERVICES)
    print(
        "\n  t (s)  "
        + "  ".join(f"{n[:9]:>9} MB" for n in names)
        + "   fds(gw/gen)  streams  routes  channels  replies  err   p99 s"
    )
    for s in samples:
        print(
            f"{s.at_s:7.0f}  "
            + "  ".join(f"{s.rss_mb[n]:12.1f}" for n in names)
            + f"   {s.fds['gateway']:5d}/{s.fds['generator']:<5d} {s.streams:8.0f} {s.routes:7d} {s.channels:9.0f}"
            f" {s.replies:8d} {s.errors:4d} {s.p99_s:7.2f}"
        )
    last = samples[-1]
    print(f"\nlast sample vs the first after warm-up (t={warm.at_s:.0f} s):")
    for n in names:
        print(
            f"  {n:<10} RSS {warm.rss_mb[n]:7.1f} -> {last.rss_mb[n]:7.1f} MB ({last.rss_mb[n] / warm.rss_mb[n]:.2f}x), "
            f"fds {warm.fds[n]} -> {last.fds[n]}"
        )
    print(
        f"  stream routes left {last.routes}, open streams {last.streams:.0f}, generator channels {last.channels:.0f}"
    )


async def soak(pipeline: Pipeline, minutes: float, customers: int, sample_s: float) -> None:
    from pymongo import AsyncMongoClient

    mongo = AsyncMongoClient(pipeline.stack.mongo_uri)
    routes = mongo[pipeline.stack.database]["stream_routes"]
    stop = asyncio.Event()
    window = [Window()]
    async with grpc.aio.insecure_channel(pipeline.target) as channel:
        stub = cgrpc.CustomerServiceStub(channel)
        started = time.monotonic()
        tasks = [asyncio.create_task(customer(stub, pipeline.key, i, window, stop)) for i in range(customers)]
        samples: list[Sample] = []
        warm: Sample | None = None
        while time.monotonic() - started < minutes * 60:
            await asyncio.sleep(sample_s)
            done, window[0] = window[0], Window()
            samples.append(await sample(pipeline, routes, started, done))
            if warm is None and samples[-1].at_s >= 60:
                warm = samples[-1]
            print(
                f"t={samples[-1].at_s:.0f} s: {samples[-1].replies} replies, p99 {samples[-1].p99_s:.2f} s", flush=True
            )
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(3)
    samples.append(await sample(pipeline, routes, started, Window()))  # after the load: what is left
    await mongo.close()
    report(samples, warm or samples[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--customers", type=int, default=4)
    parser.add_argument("--sample-s", type=float, default=30)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args()
    with running_pipeline(args.max_new_tokens) as pipeline:
        asyncio.run(soak(pipeline, args.minutes, args.customers, args.sample_s))


if __name__ == "__main__":
    main()

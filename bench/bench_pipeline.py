"""End-to-end latency and throughput of the conversation pipeline on this machine.

Starts the local stack (idempotent) and the four services as processes on their own topic prefix
and database, sends customer messages through the gateway's gRPC API, and prints percentiles of:
- ack: SendMessage until the gateway answered (event durably in Kafka),
- first token: send until the first streamed token,
- final: send until the final reply,
plus throughput, and the pipeline's overhead: final-reply time minus the models' own compute
(intent + sentiment + LLM generation, as recorded with each message) for the same messages; and where a
message's time goes, per hop: the mean seconds per message of each stage the services export (read from
their /metrics before and after the step: the gateway's SendMessage, the intent and sentiment workers'
processing, the generator's stages from `cs_stage_seconds`), and what no stage accounts for (the Kafka
hops, the reply stream, the client) as the rest of the mean final-reply time; and the LLM engine's busy share,
its model-work seconds (`cs_engine_busy_seconds_total`) over the step's wall time (bench/engine_busy.py). Stages of one message can
overlap (generator queueing is spent while other conversations compute), so they need not add up.
One run here (--conversations 6 --concurrency 1 --max-new-tokens 8, 2026-12-03): final reply mean 0.97 s,
of which gateway 0.017, intent 0.013, sentiment 0.019, prefill 0.358, decode 0.524, checks 0.001, push
0.019 s; overhead (final minus model time) p50 0.085 s.

    .venv/bin/python bench/bench_pipeline.py [--conversations 8] [--concurrency 1,4] [--max-new-tokens 32]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict

import grpc
from engine_busy import busy_share, read_engine_busy, scrape_metrics
from percentiles import percentile
from pipeline_stack import QUESTIONS, Pipeline, running_pipeline  # bench/ is on sys.path when a script in it runs
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.conftest import Stack


def pct(values: list[float], q: float) -> float:
    value = percentile(values, q)
    if value is None:
        raise ValueError("no values")
    return value


def row(name: str, values: list[float]) -> str:
    return (
        f"  {name:<12} p50 {pct(values, 50):7.3f} s   p90 {pct(values, 90):7.3f} s   "
        f"max {max(values):7.3f} s   mean {statistics.mean(values):7.3f} s"
    )


# (service, histogram, label that names the stage or None, that label's value or None: every value) ->
# the stage's name in the breakdown, in the order a message meets them.
STAGES = (
    ("gateway", "cs_grpc_request_seconds", "method", "SendMessage", "gateway accept (SendMessage)"),
    ("gateway", "cs_stage_seconds", "stage", "auth", "  of which: key check"),
    ("gateway", "cs_stage_seconds", "stage", "conversation", "  of which: conversation read / created"),
    ("gateway", "cs_stage_seconds", "stage", "publish", "  of which: publish to Kafka"),
    ("gateway", "cs_stage_seconds", "stage", "store", "store at receipt (after the ack)"),
    ("intent", "cs_event_processing_seconds", None, None, "intent worker"),
    ("sentiment", "cs_event_processing_seconds", None, None, "sentiment worker"),
    ("generator", "cs_stage_seconds", "stage", "queueing", "generator queueing"),
    ("generator", "cs_stage_seconds", "stage", "intake", "intake (store, duplicate check)"),
    ("generator", "cs_stage_seconds", "stage", "history", "history read"),
    ("generator", "cs_stage_seconds", "stage", "route", "persona, stream route"),
    ("generator", "cs_stage_seconds", "stage", "retrieval", "retrieval"),
    ("generator", "cs_stage_seconds", "stage", "prefill", "prefill"),
    ("generator", "cs_stage_seconds", "stage", "decode", "decode"),
    ("generator", "cs_stage_seconds", "stage", "checks", "checks"),
    ("generator", "cs_stage_seconds", "stage", "push", "push (store, send)"),
    ("generator", "cs_event_processing_seconds", None, None, "generator, whole event"),
)


def histogram_totals(pipeline: Pipeline) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(service, histogram, stage label value or "") -> (sum of seconds, count) as each service exports them."""
    totals: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    wanted = {(service, name, label) for service, name, label, _, _ in STAGES}
    for service in {service for service, *_ in STAGES}:
        body = scrape_metrics(f"127.0.0.1:{pipeline.processes[service].env['CS_METRICS_PORT']}")
        for family in text_string_to_metric_families(body):
            for name, label in ((n, lab) for s, n, lab in wanted if s == service and n == family.name):
                for sample in family.samples:
                    key = (service, name, sample.labels.get(label, "") if label else "")
                    if sample.name == f"{name}_sum":
                        totals[key][0] += sample.value
                    elif sample.name == f"{name}_count":
                        totals[key][1] += sample.value
    return {key: (seconds, count) for key, (seconds, count) in totals.items()}


def db_commands(pipeline: Pipeline) -> Counter:
    """(service, command) -> database commands sent so far (cs_db_commands_total), for every service."""
    counts: Counter = Counter()
    for service, process in pipeline.processes.items():
        body = scrape_metrics(f"127.0.0.1:{process.env['CS_METRICS_PORT']}")
        for family in text_string_to_metric_families(body):
            if family.name in ("cs_db_commands", "cs_db_commands_total"):
                for sample in family.samples:
                    if sample.name == "cs_db_commands_total":
                        counts[(service, sample.labels["command"])] += sample.value
    return counts


def db_lines(before: Counter, after: Counter, messages: int) -> list[str]:
    """Database round trips per message of each service between two db_commands reads, by command."""
    lines = [f"  database round trips per message ({messages} messages):"]
    delta = Counter({key: after[key] - before.get(key, 0) for key in after if after[key] > before.get(key, 0)})
    for service in dict.fromkeys(service for service, _ in sorted(delta)):
        commands = {c: n for (s, c), n in delta.items() if s == service}
        detail = ", ".join(f"{c} {n / messages:.1f}" for c, n in sorted(commands.items(), key=lambda kv: -kv[1]))
        lines.append(f"    {service:<10} {sum(commands.values()) / messages:5.1f}   ({detail})")
    return lines


def breakdown(before: dict, after: dict, messages: int, final_mean: float) -> list[str]:
    """Mean seconds per message of each stage between two histogram_totals, and the rest of final_mean."""

    def delta(service: str, name: str, value: str | None) -> tuple[float, float]:
        (s0, c0), (s1, c1) = (t.get((service, name, value or ""), (0.0, 0.0)) for t in (before, after))
        return s1 - s0, c1 - c0

    lines = [f"  per hop (mean s per message, {messages} messages):"]
    for service, name, _label, value, title in STAGES:
        seconds, count = delta(service, name, value)
        if count:
            lines.append(
                f"    {title:<44} {seconds / messages:7.3f} s   ({count:.0f} observed, {seconds / count:.3f} s each)"
            )
    # The hops are the stages not inside the generator's event (its cs_stage_seconds are).
    hops = sum(delta(service, name, value)[0] for service, name, label, value, _ in STAGES if label != "stage")
    lines.append(
        f"    {'not in any service (Kafka, stream, client)':<44} {final_mean - hops / messages:7.3f} s   (final reply "
        "minus the four hops; below 0 when the generator's event outlasts the reply: it records the turn after sending)"
    )
    return lines


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


async def run(pipeline: Pipeline, n: int, concurrency: int) -> None:
    stack, target, key = pipeline.stack, pipeline.target, pipeline.key
    async with grpc.aio.insecure_channel(target) as channel:
        stub = cgrpc.CustomerServiceStub(channel)
        await one(stub, key, "hello")  # warm-up
        await asyncio.sleep(1)  # the warm-up's last metrics
        before = await asyncio.to_thread(histogram_totals, pipeline)
        commands_before = await asyncio.to_thread(db_commands, pipeline)
        generator_metrics = f"127.0.0.1:{pipeline.processes['generator'].env['CS_METRICS_PORT']}"
        busy_before = await asyncio.to_thread(read_engine_busy, generator_metrics)
        semaphore = asyncio.Semaphore(concurrency)

        async def bounded(i: int) -> dict:
            async with semaphore:
                return await one(stub, key, QUESTIONS[i % len(QUESTIONS)])

        started = time.perf_counter()
        results = await asyncio.gather(*(bounded(i) for i in range(n)))
        wall = time.perf_counter() - started
        busy_after = await asyncio.to_thread(read_engine_busy, generator_metrics)
        await asyncio.sleep(1)  # the generator observes its push stage after the reply went out
        after = await asyncio.to_thread(histogram_totals, pipeline)
        commands_after = await asyncio.to_thread(db_commands, pipeline)
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
    share = busy_share(busy_before, busy_after, wall)
    print(f"  LLM engine busy (model work / wall): {'-' if share is None else f'{share:.1%}'}")
    print("\n".join(breakdown(before, after, n, statistics.mean([r["final"] for r in results]))))
    print("\n".join(db_lines(commands_before, commands_after, n)))


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
            asyncio.run(run(pipeline, args.conversations, concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load test: N concurrent conversations for a fixed time, for a sweep of N; finds the knee and the bottleneck.

Each simulated customer holds one conversation: send a message, wait for the final reply, think,
send the next. It starts a new conversation after --turns messages, or at once after a handover (a
queued conversation gets no bot reply until an agent acts), so routing rules that watch long
conversations don't turn the load into escalations. For every step it reports:
- throughput: messages acknowledged per second, final replies per second (within the step's window);
- latency percentiles (p50/p90/p99) from send to: ack, first streamed token, final reply;
- errors by gRPC code (TIMEOUT: no final reply within --reply-timeout);
- CPU of each service process, of Kafka and FerretDB and of this load generator, from /proc (100 % is
  one core), and the whole machine's CPU;
- the LLM engine's busy share: its model-work seconds (`cs_engine_busy_seconds_total` on the generator's
  /metrics, bench/engine_busy.py) over the step's window.
The knee is the last N before p90 final-reply latency grows faster than throughput; the bottleneck
is the process using the most CPU at the largest N.

Runs in its own process against the four services as processes, over loopback. By default it starts
them (bench/pipeline_stack.py) with a small CS_GENERATOR_MAX_NEW_TOKENS, so the LLM doesn't dominate
everything; with --target and --key it drives a stack that is already running (service processes are
then found by their command lines).

With --engine-replay, after the steps (the services stopped) it sends each step's prompts, as the
generator gave them to the LLM, straight through the batched engine at the step's concurrency
(bench/engine_replay.py), and prints replies/s of the pipeline beside the engine's and their ratio.

    .venv/bin/python bench/load_test.py [--steps 1,2,4,8,16] [--duration 45] [--think 1] [--max-new-tokens 8]
                                        [--engine-replay]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from engine_busy import busy_share, cached_share, read_engine_busy, read_prompt_tokens
from engine_replay import Replay, load_engine, log_size, recorded_prompts, replay
from percentiles import percentile
from pipeline_stack import (  # bench/ is on sys.path when a script in it runs
    QUESTIONS,
    ROOT,
    SERVICES,
    ReplyStream,
    running_pipeline,
)
from stage_metrics import StageHistogram, read_stages, stage_lines

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc

CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCEPT_STAGES = ("auth", "conversation", "publish", "store")  # the gateway's, in SendMessage's order


@dataclass
class Sample:
    """One message's latencies from its send, in seconds (its ack is in StepResult.acks)."""

    first_token: float | None  # None: the reply came without streamed tokens (a handover notice)
    final: float
    finished_at: float  # monotonic time of the final reply
    kind: str


@dataclass
class StepResult:
    n: int
    duration: float
    samples: list[Sample] = field(default_factory=list)
    acks: list[tuple[float, float]] = field(default_factory=list)  # (monotonic time, latency) of each ack
    errors: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)  # process -> mean % of one core
    machine_cpu: float = 0.0  # % of all cores
    window_end: float = 0.0
    prompt_log: tuple[int, int] | None = None  # where this step's prompts are in the generator's log
    engine_busy: float | None = None  # share of the window the LLM engine did model work; None: not read
    prompt_cached: float | None = None  # share of the window's prompt tokens from the prefix cache; None: not read
    # the gateway's accept stages (cs_stage_seconds) at the window's start and end; None: not read
    gateway_stages: tuple[dict[str, StageHistogram] | None, dict[str, StageHistogram] | None] = (None, None)

    def in_window(self) -> list[Sample]:
        return [s for s in self.samples if s.finished_at <= self.window_end]

    @property
    def messages_per_s(self) -> float:
        return len([t for t, _ in self.acks if t <= self.window_end]) / self.duration

    @property
    def replies_per_s(self) -> float:
        return len(self.in_window()) / self.duration


class Conversation(ReplyStream):
    """One load customer: its reply stream, and where it is in the question list."""

    def __init__(self, stub: cgrpc.CustomerServiceStub, key: str) -> None:
        super().__init__(stub, key, "load")
        self.turns = 0
        self.first_question = random.randrange(len(QUESTIONS))


async def one_turn(
    stub, conversation: Conversation, text: str, reply_timeout: float, step: StepResult | None
) -> Sample:
    """Send one message and wait for its final reply; raises AioRpcError or asyncio.TimeoutError."""
    started = time.monotonic()
    request = cpb.SendMessageRequest(conversation_id=conversation.id, customer_id="load", channel="web", text=text)
    ack = await stub.SendMessage(request, metadata=conversation.meta, timeout=30)
    acked = time.monotonic() - started
    if step is not None:
        step.acks.append((started + acked, acked))
    first = None
    deadline = started + reply_timeout
    while True:
        item = await asyncio.wait_for(conversation.items.get(), max(0.01, deadline - time.monotonic()))
        if isinstance(item, grpc.aio.AioRpcError):
            raise item
        if item.HasField("token") and first is None:
            first = time.monotonic() - started
        elif item.HasField("reply") and item.reply.in_reply_to == ack.message_id:
            now = time.monotonic()
            kind = conv.ReplyKind.Name(item.reply.kind).removeprefix("REPLY_KIND_").lower()
            return Sample(first, now - started, now, kind)


OPENINGS = ("Hi, quick question.", "Hello there.", "Good morning!", "Hey.", "Hi team,", "Sorry to bother you.")
OPENINGS_ZH = ("你好，", "您好，请问", "麻烦问一下，", "早上好，", "打扰一下，", "在吗？")


def vary(question: str) -> str:
    """The question with one of several openings and a number that makes it unique (--vary): no two
    prompts are the same to their last block, as with real customers, while the topic stays the same."""
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in question)
    opening = random.choice(OPENINGS_ZH if chinese else OPENINGS)
    number = random.randrange(100, 1000)
    return f"{opening}第{number}个问题：{question}" if chinese else f"{opening} Question {number}: {question}"


async def customer(stub, key: str, step: StepResult, stop_at: float, args: argparse.Namespace) -> None:
    """One simulated customer: turns until the step's window closes (the last turn may finish after)."""
    conversation = Conversation(stub, key)
    await asyncio.sleep(0.3)  # the stream registers before the first message
    try:
        while time.monotonic() < stop_at:
            text = QUESTIONS[(conversation.first_question + conversation.turns) % len(QUESTIONS)]
            if args.vary:
                text = vary(text)
            try:
                sample = await one_turn(stub, conversation, text, args.reply_timeout, step)
                step.samples.append(sample)
                step.kinds[sample.kind] += 1
                renew = sample.kind == "handover" or conversation.turns + 1 >= args.turns
            except grpc.aio.AioRpcError as exc:
                step.errors[exc.code().name] += 1
                renew = True
            except TimeoutError:
                step.errors["TIMEOUT"] += 1
                renew = True
            conversation.turns += 1
            if renew:
                conversation.close()
                conversation = Conversation(stub, key)
            await asyncio.sleep(args.think * random.uniform(0.5, 1.5))
    finally:
        conversation.close()


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


async def sample_cpu(pids: dict[str, int], step: StepResult, stop: asyncio.Event) -> None:
    """Mean CPU of each process over the step, as % of one core (a multi-threaded process can pass 100)."""
    start = {name: cpu_ticks(pid) for name, pid in pids.items()}
    busy0, total0 = machine_ticks()
    started = time.monotonic()
    await stop.wait()
    elapsed = time.monotonic() - started
    for name, pid in pids.items():
        now = cpu_ticks(pid)
        if now is not None and start[name] is not None:
            step.cpu[name] = 100.0 * (now - start[name]) / CLK_TCK / elapsed
    busy1, total1 = machine_ticks()
    step.machine_cpu = 100.0 * (busy1 - busy0) / max(1, total1 - total0)


async def run_step(
    target: str, key: str, n: int, args: argparse.Namespace, pids: dict[str, int], prompt_log: Path | None
) -> StepResult:
    step = StepResult(n, args.duration)
    busy_before = await asyncio.to_thread(read_engine_busy, args.generator_metrics)
    prompts_before = await asyncio.to_thread(read_prompt_tokens, args.generator_metrics)
    stages_before = await asyncio.to_thread(read_stages, args.gateway_metrics) if args.gateway_metrics else None
    log_start = log_size(prompt_log) if prompt_log else 0
    async with grpc.aio.insecure_channel(target) as channel:
        stub = cgrpc.CustomerServiceStub(channel)
        stop = asyncio.Event()
        sampler = asyncio.ensure_future(sample_cpu(pids, step, stop))
        started = time.monotonic()
        step.window_end = started + args.duration
        customers = [asyncio.ensure_future(customer(stub, key, step, step.window_end, args)) for _ in range(n)]
        await asyncio.sleep(args.duration)
        stop.set()  # CPU over the window only; the drain below is not load
        busy_after = await asyncio.to_thread(read_engine_busy, args.generator_metrics)
        step.engine_busy = busy_share(busy_before, busy_after, time.monotonic() - started)
        step.prompt_cached = cached_share(
            prompts_before, await asyncio.to_thread(read_prompt_tokens, args.generator_metrics)
        )
        if args.gateway_metrics:
            step.gateway_stages = (stages_before, await asyncio.to_thread(read_stages, args.gateway_metrics))
        await sampler
        await asyncio.gather(*customers)
    if prompt_log:  # every message of the step has its reply (or timed out): its prompts are all logged
        step.prompt_log = (log_start, log_size(prompt_log))
    return step


async def warm_up(target: str, key: str, args: argparse.Namespace) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = cgrpc.CustomerServiceStub(channel)
        conversation = Conversation(stub, key)
        await asyncio.sleep(0.3)
        try:
            await one_turn(stub, conversation, "hello", args.reply_timeout, None)
        finally:
            conversation.close()


def knee(steps: list[StepResult]) -> tuple[int, str]:
    """The last N before p90 final-reply latency grows faster than throughput, and why."""
    for prev, cur in itertools.pairwise(steps):
        lat0, lat1 = p90_final(prev), p90_final(cur)
        if not (lat0 and lat1 and prev.replies_per_s and cur.replies_per_s):
            return prev.n, f"N={cur.n} completed no replies in its window"
        latency_growth, throughput_growth = lat1 / lat0, cur.replies_per_s / prev.replies_per_s
        if latency_growth > throughput_growth:
            return prev.n, (
                f"N={prev.n}->{cur.n}: p90 final x{latency_growth:.2f}, throughput x{throughput_growth:.2f}"
            )
    return steps[-1].n, "latency never grew faster than throughput in this sweep"


def p90_final(step: StepResult) -> float | None:
    return percentile([s.final for s in step.samples], 90)


def outside_load(step: StepResult) -> float:
    """Machine CPU (% of all cores) used by processes other than the measured ones: other work on the host."""
    return max(0.0, step.machine_cpu - sum(step.cpu.values()) / (os.cpu_count() or 1))


def bottleneck(steps: list[StepResult]) -> str:
    last = steps[-1]
    services = {k: v for k, v in last.cpu.items() if k != "load generator"}
    if not services:
        return "no CPU figures"
    name, busiest = max(services.items(), key=lambda kv: kv[1])
    cores = os.cpu_count() or 1
    state = "saturated" if last.machine_cpu >= 90 else "not saturated"
    return (
        f"{name} at {busiest:.0f} % of one core (N={last.n}); the machine's {cores} cores at "
        f"{last.machine_cpu:.0f} % ({state}; {outside_load(last):.0f} % by processes not measured here)"
    )


def fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.2f}"


def fmt_share(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def print_report(steps: list[StepResult], args: argparse.Namespace) -> None:
    print(
        f"\nload test: {os.cpu_count()} CPUs, {args.duration:.0f} s per step, think {args.think} s, "
        f"max_new_tokens {args.max_new_tokens}, new conversation every {args.turns} turns"
    )
    print(
        f"{'N':>3} {'msg/s':>6} {'rep/s':>6} | {'ack p50':>7} {'p90':>6} {'p99':>6} | {'1st p50':>7} {'p90':>6} "
        f"{'p99':>6} | {'final p50':>9} {'p90':>6} {'p99':>6} | errors, reply kinds"
    )
    for s in steps:
        acks = [latency for _, latency in s.acks]
        firsts = [x.first_token for x in s.samples if x.first_token is not None]
        finals = [x.final for x in s.samples]
        print(
            f"{s.n:>3} {s.messages_per_s:6.2f} {s.replies_per_s:6.2f} | "
            f"{fmt(percentile(acks, 50)):>7} {fmt(percentile(acks, 90))} {fmt(percentile(acks, 99))} | "
            f"{fmt(percentile(firsts, 50)):>7} {fmt(percentile(firsts, 90))} {fmt(percentile(firsts, 99))} | "
            f"{fmt(percentile(finals, 50)):>9} {fmt(percentile(finals, 90))} {fmt(percentile(finals, 99))} | "
            f"{dict(s.errors) or 'none'}, {dict(s.kinds)}"
        )
    print("\nCPU, mean over each step's window (% of one core):")
    names = list(steps[0].cpu)
    print(f"{'N':>3} " + " ".join(f"{n:>14}" for n in names) + f" {'machine (all)':>14} {'not ours':>9}")
    for s in steps:
        print(
            f"{s.n:>3} "
            + " ".join(f"{s.cpu.get(n, 0):>13.0f}%" for n in names)
            + f" {s.machine_cpu:>13.0f}% {outside_load(s):>8.0f}%"
        )
    print("\nLLM engine busy (model work / window): " + ", ".join(f"N={s.n} {fmt_share(s.engine_busy)}" for s in steps))
    print("prompt tokens from the prefix cache: " + ", ".join(f"N={s.n} {fmt_share(s.prompt_cached)}" for s in steps))
    if any(s.gateway_stages[1] for s in steps):
        print("\nGateway accept (SendMessage) by stage, over each step's window (cs_stage_seconds):")
        for s in steps:
            print(f" N={s.n}")
            for line in stage_lines(*s.gateway_stages, ACCEPT_STAGES):
                print(line)
    n, why = knee(steps)
    print(f"\nknee: N={n} ({why})")
    print(f"bottleneck: {bottleneck(steps)}")


def stack_pids() -> dict[str, int]:
    """Kafka's and FerretDB's pids from the local stack's pid files (absent when not started by it)."""
    stack_dir = Path(os.environ.get("CS_STACK_DIR", ROOT / "var" / "stack"))
    out = {}
    for name, pidfile in (("kafka", "kafka/kafka.pid"), ("ferretdb", "ferretdb/ferretdb.pid")):
        path = stack_dir / pidfile
        if path.exists():
            out[name] = int(path.read_text().strip())
    return out


def running_service_pids() -> dict[str, int]:
    """Pids of services already running, by their command lines (`python -m services.X.main` or `cs-X`)."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for name in SERVICES:
            if f"services.{name}.main".encode() in argv or any(a.endswith(f"cs-{name}".encode()) for a in argv):
                out.setdefault(name, int(proc.name))
    return out


async def sweep(
    target: str, key: str, pids: dict[str, int], args: argparse.Namespace, prompt_log: Path | None = None
) -> list[StepResult]:
    """All steps in one event loop (grpc.aio stays bound to the loop it first ran in); with `prompt_log`
    (the generator's log, at DEBUG) each step notes where its prompts are."""
    pids = {**pids, **stack_pids(), "load generator": os.getpid()}
    await warm_up(target, key, args)
    steps = []
    for n in [int(v) for v in args.steps.split(",")]:
        print(f"step N={n}: {args.duration:.0f} s ...", flush=True)
        steps.append(await run_step(target, key, n, args, pids, prompt_log))
    return steps


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1,2,4,8,16", help="concurrent conversations per step")
    parser.add_argument("--duration", type=float, default=45, help="seconds of load per step")
    parser.add_argument(
        "--think", type=float, default=1.0, help="mean think time between a reply and the next message (s)"
    )
    parser.add_argument("--turns", type=int, default=4, help="messages per conversation before a new one starts")
    parser.add_argument(
        "--vary",
        action="store_true",
        help="give every message an opening and a number of its own, so no two prompts are alike to the end "
        "(the questions are otherwise a list of 10: a conversation's first prompt repeats another's whole)",
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=8, help="CS_GENERATOR_MAX_NEW_TOKENS of the started generator"
    )
    parser.add_argument("--reply-timeout", type=float, default=120, help="seconds to wait for a final reply")
    parser.add_argument("--target", help="gateway host:port of a running stack (default: start one)")
    parser.add_argument("--key", help="adapter key for --target")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--generator-metrics",
        default="127.0.0.1:9104",
        help="host:port of the generator's /metrics with --target, for the engine's busy share",
    )
    parser.add_argument(
        "--gateway-metrics",
        default="127.0.0.1:9101",
        help="host:port of the gateway's /metrics with --target, for its accept stages (empty: not read)",
    )
    parser.add_argument(
        "--engine-replay",
        action="store_true",
        help="then replay each step's prompts straight through the batched engine (the generator logs them at DEBUG)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.target:
        if not args.key:
            print("--target needs --key (an adapter key: cs keys create --tenant T --role adapter)", file=sys.stderr)
            return 2
        if args.engine_replay:
            print("--engine-replay needs the generator's log: it cannot be used with --target", file=sys.stderr)
            return 2
        steps = asyncio.run(sweep(args.target, args.key, running_service_pids(), args))
    else:
        debug = {"generator": {"CS_LOG_LEVEL": "DEBUG"}} if args.engine_replay else {}
        with running_pipeline(args.max_new_tokens, per_service=debug) as pipeline:
            pids = {name: proc.proc.pid for name, proc in pipeline.processes.items()}
            args.generator_metrics = f"127.0.0.1:{pipeline.processes['generator'].env['CS_METRICS_PORT']}"
            args.gateway_metrics = f"127.0.0.1:{pipeline.processes['gateway'].env['CS_METRICS_PORT']}"
            prompt_log = pipeline.processes["generator"].log_path if args.engine_replay else None
            steps = asyncio.run(sweep(pipeline.target, pipeline.key, pids, args, prompt_log))
    print_report(steps, args)
    replays = replay_steps(steps, prompt_log, args) if args.engine_replay else []
    if replays:
        print_replays(steps, replays, args)
    if args.json:
        rows = [report_row(s) for s in steps]
        for row, r in zip(rows, replays):
            row["engine_replay"] = {
                "prompts": r.prompts,
                "replies_per_s": r.replies_per_s,
                "tokens_per_s": r.tokens_per_s,
            }
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def replay_steps(steps: list[StepResult], prompt_log: Path, args: argparse.Namespace) -> list[Replay]:
    """Each step's prompts through an engine of this process, one step after another, N in flight."""
    batched = load_engine(max(s.n for s in steps))
    try:
        replays = []
        for step in steps:
            prompts = recorded_prompts(prompt_log, *step.prompt_log)
            print(f"engine replay N={step.n}: {len(prompts)} prompts ...", flush=True)
            replays.append(asyncio.run(replay(batched, prompts, step.n, args.max_new_tokens)))
        return replays
    finally:
        batched.close(timeout=30)


def print_replays(steps: list[StepResult], replays: list[Replay], args: argparse.Namespace) -> None:
    print(
        f"\nengine replay: each step's prompts straight through the batched engine, N in flight, no think time, "
        f"max_new_tokens {args.max_new_tokens}; the pipeline's customers think {args.think} s between turns"
    )
    print(f"{'N':>3} {'prompts':>7} {'pipeline rep/s':>14} {'engine rep/s':>12} {'ratio':>6} {'engine tok/s':>12}")
    for step, r in zip(steps, replays):
        ratio = step.replies_per_s / r.replies_per_s if r.replies_per_s else 0.0
        print(
            f"{step.n:>3} {r.prompts:>7} {step.replies_per_s:>14.2f} {r.replies_per_s:>12.2f} {ratio:>6.2f} "
            f"{r.tokens_per_s:>12.1f}"
        )


def report_row(step: StepResult) -> dict:
    def pcts(values: list[float]) -> dict[str, float | None]:
        return {f"p{q}": percentile(values, q) for q in (50, 90, 99)}

    return {
        "n": step.n,
        "messages_per_s": step.messages_per_s,
        "replies_per_s": step.replies_per_s,
        "ack_s": pcts([latency for _, latency in step.acks]),
        "first_token_s": pcts([s.first_token for s in step.samples if s.first_token is not None]),
        "final_s": pcts([s.final for s in step.samples]),
        "errors": dict(step.errors),
        "reply_kinds": dict(step.kinds),
        "cpu_percent": step.cpu,
        "machine_cpu_percent": step.machine_cpu,
        "outside_cpu_percent": outside_load(step),
        "engine_busy_share": step.engine_busy,
        "prompt_tokens_cached_share": step.prompt_cached,
    }


if __name__ == "__main__":
    sys.exit(main())

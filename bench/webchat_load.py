"""Web-chat load: N concurrent visitors for a fixed time through the web-chat service, as browsers.

Each visitor does what the widget does, over HTTP on loopback: gets a visitor token (POST /session),
sends a message (POST /messages), opens the conversation's event stream after the first message
(SSE, GET .../events), and waits for the final reply; thinks, sends the next, and starts a new
conversation after --turns messages (at once after a handover: a queued conversation gets no bot
reply until an agent acts). Reported, from send to:
- first verified text: the first token event, or the final reply when none came first (the first
  message of a conversation can be answered before its event stream is open, as in the widget);
- final reply;
p50/p90/p99, messages and replies per second within the window, and errors by HTTP status and
reason (TIMEOUT: no final reply within --reply-timeout).

Starts the four services (bench/pipeline_stack.py: ungrounded answers, small CS_GENERATOR_MAX_NEW_TOKENS)
and the web-chat service in front of them, each as a process; the visitors run in this process.

    .venv/bin/python bench/webchat_load.py [--visitors 50] [--duration 60] [--think 1] [--max-new-tokens 8]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.percentiles import percentile  # noqa: E402
from bench.pipeline_stack import QUESTIONS, running_pipeline  # noqa: E402
from tests.browser.webchat_stack import Webchat, start_webchat  # noqa: E402

WIDGET = ROOT / "services" / "webchat" / "static" / "widget.js"


@dataclass
class Results:
    first_text: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    sent: int = 0
    replies: collections.Counter = field(default_factory=collections.Counter)
    errors: collections.Counter = field(default_factory=collections.Counter)


class EventStream:
    """One conversation's SSE stream, read by a background task into a queue of (event, data)."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self.items: asyncio.Queue = asyncio.Queue()
        self.task = asyncio.ensure_future(self._read(client, url, headers))

    async def _read(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        try:
            async with client.stream("GET", url, headers=headers, timeout=None) as response:
                if response.status_code != 200:
                    await self.items.put(("http", {"status": response.status_code}))
                    return
                name = ""
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        await self.items.put((name, json.loads(line[6:])))
        except (httpx.HTTPError, asyncio.CancelledError) as exc:
            await self.items.put(("http", {"status": type(exc).__name__}))

    def close(self) -> None:
        self.task.cancel()


@dataclass
class Conversation:
    conversation_id: str = ""
    stream: EventStream | None = None  # opened after the first message, as the widget does


async def visitor(client: httpx.AsyncClient, webchat: Webchat, results: Results, stop_at: float, args) -> None:
    api = f"{webchat.url}/api/{webchat.widget_key}"
    headers = {"origin": webchat.demo_origin}
    response = await client.post(f"{api}/session", json={}, headers=headers)
    if response.status_code != 200:
        results.errors[f"session {response.status_code}"] += 1
        return
    headers["authorization"] = f"Bearer {response.json()['token']}"
    question = random.randrange(len(QUESTIONS))
    while time.monotonic() < stop_at:
        conversation = Conversation()
        try:
            for _ in range(args.turns):
                if time.monotonic() >= stop_at:
                    break
                question += 1
                text = QUESTIONS[question % len(QUESTIONS)]
                kind = await one_turn(client, api, headers, conversation, text, results, args)
                if kind in ("handover", None):
                    break
                await asyncio.sleep(args.think)
        finally:
            if conversation.stream is not None:
                conversation.stream.close()


async def one_turn(client, api, headers, conversation: Conversation, text: str, results: Results, args) -> str | None:
    """Send, then wait for the final reply: its kind, or None after an error (counted)."""
    started = time.monotonic()
    body = {"conversation_id": conversation.conversation_id, "text": text, "client_message_id": uuid.uuid4().hex}
    try:
        response = await client.post(f"{api}/messages", json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        results.errors[type(exc).__name__] += 1
        return None
    if response.status_code != 200:
        results.errors[f"{response.status_code} {response.json().get('error', '')}"] += 1
        return None
    results.sent += 1
    sent = response.json()
    conversation.conversation_id = sent["conversation_id"]
    if conversation.stream is None:
        url = f"{api}/conversations/{conversation.conversation_id}/events"
        conversation.stream = EventStream(client, url, headers)
    first = None
    deadline = started + args.reply_timeout
    while True:
        try:
            name, data = await asyncio.wait_for(conversation.stream.items.get(), max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            results.errors["TIMEOUT"] += 1
            return None
        if name in ("http", "gone"):
            results.errors[f"stream {data.get('status', data.get('error'))}"] += 1
            return None
        if name == "token" and first is None:
            first = time.monotonic() - started
        elif name == "reply" and data["in_reply_to"] == sent["message_id"]:
            final = time.monotonic() - started
            results.first_text.append(first if first is not None else final)
            results.final.append(final)
            results.replies[data["kind"]] += 1
            return data["kind"]


async def run(webchat: Webchat, args) -> tuple[Results, float]:
    results = Results()
    limits = httpx.Limits(max_connections=args.visitors * 3, max_keepalive_connections=args.visitors * 2)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.monotonic()
        stop_at = started + args.duration
        await asyncio.gather(*(visitor(client, webchat, results, stop_at, args) for _ in range(args.visitors)))
        return results, time.monotonic() - started


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(results: Results, seconds: float, args) -> dict:
    figures = {
        "visitors": args.visitors,
        "duration_s": args.duration,
        "wall_s": round(seconds, 1),
        "messages": results.sent,
        "replies": sum(results.replies.values()),
        "replies_by_kind": dict(results.replies),
        "messages_per_s": round(results.sent / seconds, 2),
        "first_text_s": {f"p{q}": percentile(results.first_text, q) for q in (50, 90, 99)},
        "final_s": {f"p{q}": percentile(results.final, q) for q in (50, 90, 99)},
        "errors": dict(results.errors),
        "widget_js_bytes": WIDGET.stat().st_size,
    }
    print(f"web chat load: {args.visitors} visitors, {args.duration:.0f} s (+ last replies: {seconds:.0f} s in all)")
    print(
        f"  messages {results.sent}, final replies {figures['replies']} {dict(results.replies)}, {figures['messages_per_s']} msg/s"
    )
    for name, values in (("first verified text", results.first_text), ("final reply", results.final)):
        print(
            f"  {name:20s} p50 {fmt(percentile(values, 50))} s  p90 {fmt(percentile(values, 90))} s  p99 {fmt(percentile(values, 99))} s"
        )
    print(f"  errors {dict(results.errors) or 'none'}")
    print(f"  widget.js {figures['widget_js_bytes']} bytes")
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="seconds during which visitors send")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a reply and the next message")
    parser.add_argument("--turns", type=int, default=4, help="messages per conversation before a new one")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--reply-timeout", type=float, default=120)
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    with running_pipeline(args.max_new_tokens) as pipeline:
        webchat = start_webchat(
            pipeline.stack,
            Path(tempfile.mkdtemp(prefix="cs-bench-webchat-")),
            pipeline.target,
            "bench",
            CS_WEBCHAT_ADDRESS_RATE_PER_MINUTE="1000000",
            CS_LOG_LEVEL="WARNING",
        )
        try:
            results, seconds = asyncio.run(run(webchat, args))
        finally:
            webchat.process.stop()
    figures = report(results, seconds, args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The web console's latencies and page weights, against a real gateway and console (processes).

Prints, over --rounds escalations (default 30):
- escalation -> inbox: from the escalation event published (as the generator does) to the `added`
  event on a signed-in agent's inbox stream (/events/inbox, what the page's EventSource reads);
- agent send -> customer: from the agent's reply POST (/c/<id>/reply, as the form sends it) to the
  reply on the customer's gRPC StreamReplies;
and the bytes of each page and asset as the browser downloads them (uncompressed).

    .venv/bin/python bench/console_latency.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import queue
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline_stack import bench_stack  # noqa: E402
from services.common.proto.cs.v1 import customer_service_pb2 as cpb  # noqa: E402
from tests.browser.conftest import PASSWORD, World, _add_accounts, start_console  # noqa: E402
from tests.integration.conftest import create_keys_async, start_gateway  # noqa: E402


class Browser:
    """What the page does over HTTP: a session cookie, the CSRF token, form POSTs, an SSE stream."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port, self.cookie = host, port, ""

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers |= {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"http://{self.host}:{self.port}",
            }
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("cs_session="):
                self.cookie = value.split(";", 1)[0]
        return response.status, dict(response.getheaders()), payload

    def csrf(self, path: str = "/") -> str:
        _, _, page = self.request("GET", path)
        return re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()

    def events(self, path: str, sink: queue.Queue) -> None:
        """Read the SSE stream in a thread; (arrival time, event, data) into `sink`."""

        def read() -> None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            conn.request("GET", path, headers={"Cookie": self.cookie, "Accept": "text/event-stream"})
            response = conn.getresponse()
            event, data = "", ""
            while True:
                line = response.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif not line and event:
                    sink.put((time.perf_counter(), event, data))
                    event, data = "", ""

        threading.Thread(target=read, daemon=True).start()


def first_reply(call, sink: queue.Queue) -> None:
    """The arrival time of the stream's first final reply (the stream is cancelled afterwards)."""
    try:
        for item in call:
            if item.HasField("reply"):
                sink.put(time.perf_counter())
                return
    except Exception:  # cancelled at the end of the round
        return


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=10) if len(ordered) > 1 else [ordered[0]] * 9
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p90 {q[8] * 1000:.0f} ms (n={len(ordered)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    stack = bench_stack(partitions=3)
    tenant = f"bench-{uuid.uuid4().hex[:6]}"
    logs = Path(tempfile.mkdtemp(prefix="console-bench-"))
    [adapter] = asyncio.run(create_keys_async(stack, [(tenant, "adapter", "")]))
    asyncio.run(_add_accounts(stack, tenant, {"ava": "agent", "sam": "supervisor"}))
    gateway = start_gateway(stack, logs, CS_GATEWAY_RATE_PER_MINUTE="60000")
    console = start_console(stack, f"127.0.0.1:{gateway.ports['grpc']}", tenant, logs)
    world = World(stack, tenant, gateway, console, f"http://127.0.0.1:{console.ports['http']}", adapter, logs)
    try:
        agent = Browser("127.0.0.1", console.ports["http"])
        status, _, _ = agent.request("POST", "/signin", {"name": "ava", "password": PASSWORD, "next": "/"})
        assert status == 303 and agent.cookie, f"sign-in failed ({status})"
        inbox: queue.Queue = queue.Queue()
        agent.events("/events/inbox", inbox)
        time.sleep(1.0)  # the stream's backlog snapshots first
        to_inbox, to_customer, cids = [], [], []
        for _ in range(args.rounds):
            cid = world.send("I need a person, please")
            started = time.perf_counter()
            world.escalate(cid, "billing", summary="bench")
            while True:
                at, event, data = inbox.get(timeout=30)
                if event == "added" and cid in data:
                    to_inbox.append(at - started)
                    break
            cids.append(cid)
            token = agent.csrf(f"/c/{cid}")
            status, _, _ = agent.request("POST", f"/c/{cid}/claim", {"csrf": token})
            replies = world.customers().StreamReplies(
                cpb.StreamRepliesRequest(conversation_id=cid), metadata=(("authorization", f"Bearer {adapter}"),)
            )
            got: queue.Queue = queue.Queue()
            threading.Thread(target=first_reply, args=(replies, got), daemon=True).start()
            time.sleep(0.3)  # the customer's stream is registered
            sent = time.perf_counter()
            agent.request(
                "POST",
                f"/c/{cid}/reply",
                {"csrf": token, "text": "Hello from ava", "client_reply_id": uuid.uuid4().hex},
            )
            to_customer.append(got.get(timeout=30) - sent)
            replies.cancel()
        print(f"escalation -> inbox (SSE added event):   {percentiles(to_inbox)}")
        print(f"agent send -> customer (StreamReplies):  {percentiles(to_customer)}")
        supervisor = Browser("127.0.0.1", console.ports["http"])
        supervisor.request("POST", "/signin", {"name": "sam", "password": PASSWORD, "next": "/"})
        anonymous = Browser("127.0.0.1", console.ports["http"])
        weights = {
            "sign-in page": anonymous.request("GET", "/signin")[2],
            "inbox page": agent.request("GET", "/")[2],
            "conversation page": agent.request("GET", f"/c/{cids[0]}")[2],
            "wallboard page": supervisor.request("GET", "/wallboard")[2],
            "console.js": anonymous.request("GET", "/static/console.js")[2],
            "console.css": anonymous.request("GET", "/static/console.css")[2],
        }
        for name, body in weights.items():
            print(f"{name:<20} {len(body):>7} bytes")
        assets = len(weights["console.js"]) + len(weights["console.css"])
        print(f"{'inbox + assets':<20} {len(weights['inbox page']) + assets:>7} bytes (first visit; no other requests)")
    finally:
        console.stop()
        gateway.stop()
        from pymongo import MongoClient

        MongoClient(stack.mongo_uri).drop_database(stack.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())

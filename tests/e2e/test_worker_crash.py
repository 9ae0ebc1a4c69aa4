"""kill -9 a worker while conversations flow; after a restart every message has exactly one reply.

For each worker: send messages on several conversations, SIGKILL the worker while they are in
flight, send more while it is dead, start it again with the same settings. Every customer message
must end with exactly one final reply on its stream and exactly one stored customer message and one
stored bot reply: the consume side dedupes by message/reply id, producers are idempotent, offsets
are committed after the effects. The figures (sent, lost, duplicated, recovery time) are printed
for the closing note (pytest -s).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import pytest

from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.conftest import wait_serving
from tests.e2e.test_conversations import Replies, auth, stored

pytestmark = pytest.mark.stack

QUESTIONS = [
    "How do I reset my password?",
    "怎么修改收货地址？",
    "Do you ship to Canada?",
    "我的订单什么时候发货？",
    "How long does delivery take?",
    "Can I pay with PayPal?",
]
IN_FLIGHT = 3  # sent before the kill
WHILE_DEAD = 3  # sent while the worker is down
RECOVERY_TIMEOUT_S = 420


async def collect_finals(stream: Replies, until: float, first_only: bool = False) -> list:
    """Final replies the stream delivers before `until` (monotonic); with first_only, up to the first."""
    finals = []
    while (left := until - time.monotonic()) > 0:
        try:
            item = await asyncio.wait_for(stream.read(), left)
        except asyncio.TimeoutError:
            break
        if item is grpc.aio.EOF:
            break
        if item.HasField("reply"):
            finals.append(item.reply)
            if first_only:
                break
    return finals


@pytest.mark.parametrize("worker", ["intent", "sentiment", "generator"])
async def test_a_killed_worker_loses_and_duplicates_nothing(worker, system, stack, channel, e2e_keys):
    customers = cgrpc.CustomerServiceStub(channel)
    key = e2e_keys["adapter"]
    conversations = [f"crash-{worker}-{uuid.uuid4().hex[:8]}" for _ in QUESTIONS]
    streams = [Replies(customers.StreamReplies(cpb.StreamRepliesRequest(conversation_id=c), metadata=auth(key)))
               for c in conversations]
    await asyncio.sleep(0.5)

    async def send(i: int) -> str:
        ack = await customers.SendMessage(cpb.SendMessageRequest(
            conversation_id=conversations[i], customer_id=f"cust-{i}", channel="web", text=QUESTIONS[i]),
            metadata=auth(key), timeout=30)
        return ack.message_id

    process = system[worker]
    sent = [await send(i) for i in range(IN_FLIGHT)]
    await asyncio.sleep(0.3)  # in the topic, some of them in the worker's hands
    process.kill()
    killed_at = time.monotonic()
    sent += [await send(i) for i in range(IN_FLIGHT, IN_FLIGHT + WHILE_DEAD)]
    process.restart()
    await asyncio.to_thread(wait_serving, f"127.0.0.1:{process.ports['health']}", process, 300)

    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    first = await asyncio.gather(*(collect_finals(s, deadline, first_only=True) for s in streams))
    recovered_at = time.monotonic()
    # Anything more that turns up in the next seconds is a duplicate.
    later = await asyncio.gather(*(collect_finals(s, time.monotonic() + 10) for s in streams))
    for s in streams:
        s.cancel()

    finals = [a + b for a, b in zip(first, later)]
    lost = sum(1 for f in finals if not f)
    duplicated = sum(max(0, len(f) - 1) for f in finals)
    print(f"\nkill -9 {worker}: sent {len(sent)}, lost {lost}, duplicated {duplicated}, "
          f"all replied {recovered_at - killed_at:.1f} s after the kill")
    assert lost == 0, f"messages without a reply: {[c for c, f in zip(conversations, finals) if not f]}"
    for message_id, replies in zip(sent, finals):
        assert [r.in_reply_to for r in replies] == [message_id], "one final reply per message, to that message"

    for conversation_id, message_id in zip(conversations, sent):
        docs = await stored(stack, conversation_id)
        customer = [d for d in docs if d["author"] == "customer"]
        bot = [d for d in docs if d["author"] == "bot"]
        assert [d["_id"] for d in customer] == [message_id]
        assert len(bot) == 1 and bot[0]["in_reply_to"] == message_id
        assert "understanding" in customer[0] and "sentiment" in customer[0]


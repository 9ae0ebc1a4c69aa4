"""Exactly-once delivery checks shared by the fault tests: one final reply and one stored record per message."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc

from tests.e2e.test_conversations import Replies, stored

QUIET_S = 10  # after every conversation has its reply, anything arriving this long after is a duplicate


async def collect_finals(stream: Replies, until: float, first_only: bool = False) -> list:
    """Final replies the stream delivers before `until` (monotonic); with first_only, up to the first."""
    finals = []
    while (left := until - time.monotonic()) > 0:
        try:
            item = await asyncio.wait_for(stream.read(), left)
        except TimeoutError:
            break
        if item is grpc.aio.EOF:
            break
        if item.HasField("reply"):
            finals.append(item.reply)
            if first_only:
                break
    return finals


@dataclass
class Delivery:
    acked: dict[str, str]  # conversation id -> acknowledged message id
    finals: dict[str, list]  # conversation id -> final replies its stream delivered
    seconds: float  # from the call until every conversation had its first final reply (or the timeout)

    @property
    def lost(self) -> list[str]:
        return [c for c, f in self.finals.items() if not f]

    @property
    def duplicated(self) -> int:
        return sum(max(0, len(f) - 1) for f in self.finals.values())


async def await_replies(streams: dict[str, Replies], acked: dict[str, str], timeout: float) -> Delivery:
    """Wait for one final reply per acknowledged message, then QUIET_S more for duplicates; closes the streams."""
    started = time.monotonic()
    first = await asyncio.gather(*(collect_finals(streams[c], started + timeout, first_only=True) for c in acked))
    seconds = time.monotonic() - started
    later = await asyncio.gather(*(collect_finals(streams[c], time.monotonic() + QUIET_S) for c in acked))
    for stream in streams.values():
        stream.cancel()
    return Delivery(acked, {c: a + b for c, a, b in zip(acked, first, later)}, seconds)


async def assert_exactly_once(stack, delivery: Delivery) -> None:
    """Each message: one final reply to it on the stream, one stored customer record with its enrichment, one bot reply."""
    assert not delivery.lost, f"acknowledged messages without a reply: {delivery.lost}"
    for conversation_id, message_id in delivery.acked.items():
        assert [r.in_reply_to for r in delivery.finals[conversation_id]] == [message_id], (
            "one final reply per message, to that message"
        )
        docs = await stored(stack, conversation_id)
        customer = [d for d in docs if d["author"] == "customer"]
        bot = [d for d in docs if d["author"] == "bot"]
        assert [d["_id"] for d in customer] == [message_id]
        assert len(bot) == 1 and bot[0]["in_reply_to"] == message_id
        assert "understanding" in customer[0] and "sentiment" in customer[0]

"""Writes the gateway does after answering a call (services/gateway/deferred.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.gateway.deferred import DeferredWrites


class SlowWrite:
    """A write that finishes when released; records that it ran to the end."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.done = False

    async def __call__(self) -> None:
        await self.release.wait()
        self.done = True


async def test_the_write_runs_after_the_call_and_a_read_of_its_key_waits_for_it() -> None:
    writes = DeferredWrites()
    slow = SlowWrite()
    await writes.write(("acme", "c1"), slow, "message m1")
    assert not slow.done and len(writes) == 1, "write() returned before the write finished"

    reading = asyncio.ensure_future(writes.settled(("acme", "c1")))
    other = asyncio.ensure_future(writes.settled(("acme", "c2")))
    await asyncio.sleep(0.01)
    assert other.done(), "another conversation's read waits for nothing"
    assert not reading.done(), "a read of the conversation waits for its write"
    slow.release.set()
    await asyncio.wait_for(reading, 1)
    assert slow.done and len(writes) == 0


async def test_past_the_limit_the_call_writes_before_answering() -> None:
    writes = DeferredWrites(limit=1)
    first, second = SlowWrite(), SlowWrite()
    await writes.write("k", first, "first")
    second.release.set()
    await writes.write("k", second, "second")
    assert second.done, "the second write ran inline: one was already in flight"
    assert len(writes) == 1
    first.release.set()
    await writes.drain(1)
    assert first.done and len(writes) == 0


async def test_a_failed_write_is_logged_and_raises_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    writes = DeferredWrites()

    async def broken() -> None:
        raise ConnectionError("database went away")

    with caplog.at_level(logging.WARNING, logger="services.gateway.deferred"):
        await writes.write("k", broken, "message m1")
        await writes.settled("k")
        inline = DeferredWrites(limit=0)
        await inline.write("k", broken, "message m2")  # inline: must not raise into the call either
    failed = [r for r in caplog.records if r.getMessage() == "deferred write failed"]
    assert [r.write for r in failed] == ["message m1", "message m2"]
    assert len(writes) == 0


async def test_a_read_waits_at_most_its_timeout_and_drain_cancels_what_outlasts_it() -> None:
    writes = DeferredWrites()
    stuck = SlowWrite()
    await writes.write("k", stuck, "stuck")
    await asyncio.wait_for(writes.settled("k", timeout=0.05), 1)
    assert not stuck.done
    await writes.drain(0.05)
    assert len(writes) == 0 and not stuck.done


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        DeferredWrites(limit=-1)

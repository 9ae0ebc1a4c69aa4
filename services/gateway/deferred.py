"""Writes a call does after it has answered: storing a customer message at receipt.

SendMessage answers once the message is in Kafka (acks=all): that is what makes it durable, and the
generator stores the message with its enrichment from there whatever happens to this replica. Storing
it at receipt as well (so a console or a history read sees it before the workers are through) need not
hold up the ack: under load that one insert was most of the accept time (bench/load_test.py, N=16: mean
54 ms of 84, p99 up to 500 ms, on FerretDB whose SQLite writers wait on each other's locks).

So the write runs after the answer, here, with three guarantees:
- read your own writes on this replica: a history read of the conversation first waits (bounded) for
  that conversation's writes still running (`settled`), so a customer who sent a message and then asks
  for the conversation sees it;
- bounded: past `limit` writes in flight the call does its write before answering, as before, so a
  slow or unreachable database slows acks down instead of piling up tasks;
- drained: `drain` at shutdown waits for what is still running.
A write that fails is logged and dropped: the event is in Kafka and the generator stores the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 256  # writes in flight per replica before a call does its own write inline
SETTLE_TIMEOUT_S = 5.0  # how long a read waits for its conversation's writes


class DeferredWrites:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 0:
            raise ValueError(f"limit must be 0 (always inline) or more, got {limit}")
        self.limit = limit
        self._running: dict[Hashable, set[asyncio.Task]] = defaultdict(set)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    async def write(self, key: Hashable, make: Callable[[], Awaitable[object]], what: str) -> None:
        """Run make() after the caller answers (a task), or now when `limit` writes are in flight."""
        if self._count >= self.limit:
            await self._guarded(make, what)
            return
        task = asyncio.ensure_future(self._guarded(make, what))
        self._count += 1
        self._running[key].add(task)
        task.add_done_callback(lambda t: self._finished(key, t))

    def _finished(self, key: Hashable, task: asyncio.Task) -> None:
        self._count -= 1
        tasks = self._running.get(key)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._running[key]

    @staticmethod
    async def _guarded(make: Callable[[], Awaitable[object]], what: str) -> None:
        try:
            await make()
        except Exception as exc:
            log.warning("deferred write failed", extra={"write": what, "error": type(exc).__name__})

    async def settled(self, key: Hashable, timeout: float = SETTLE_TIMEOUT_S) -> None:
        """Returns when the key's writes started before this call have finished (or after timeout)."""
        tasks = set(self._running.get(key, ()))
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def drain(self, timeout: float) -> None:
        """Wait for every write in flight, at most timeout seconds; cancel what is left then."""
        tasks = {t for ts in self._running.values() for t in ts}
        if not tasks:
            return
        _, left = await asyncio.wait(tasks, timeout=timeout)
        for task in left:
            task.cancel()
        for task in left:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if left:
            log.warning("deferred writes cancelled at shutdown", extra={"writes": len(left)})

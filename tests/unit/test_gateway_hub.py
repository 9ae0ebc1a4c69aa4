"""The hub's route lock: a stream closing and one opening on the same conversation, on one replica."""

from __future__ import annotations

import asyncio

from services.gateway.hub import Hub


class SlowDeleteRoutes:
    """A route store whose deletes take longer than its writes, as two pooled connections may."""

    def __init__(self) -> None:
        self.routes: dict[str, str] = {}

    async def set(self, key: str, address: str) -> None:
        await asyncio.sleep(0.01)
        self.routes[key] = address

    async def clear(self, key: str, address: str) -> None:
        await asyncio.sleep(0.05)
        if self.routes.get(key) == address:
            del self.routes[key]


async def close_stream(hub: Hub, routes: SlowDeleteRoutes, locked: bool) -> None:
    async def clear_if_unheld() -> None:
        if not hub.has_conversation("t", "c"):
            await routes.clear("t/c", "here")

    if locked:
        async with hub.route_lock("t", "c"):
            await clear_if_unheld()
    else:
        await clear_if_unheld()


async def open_stream(hub: Hub, routes: SlowDeleteRoutes, locked: bool, opened: asyncio.Event) -> None:
    with hub.conversation("t", "c"):
        if locked:
            async with hub.route_lock("t", "c"):
                await routes.set("t/c", "here")
        else:
            await routes.set("t/c", "here")
        opened.set()
        await asyncio.sleep(0.2)  # the stream stays open while the check below runs


async def race(locked: bool) -> bool:
    """The first stream has closed and starts its clean-up; the second opens right after it checked."""
    hub, routes = Hub(), SlowDeleteRoutes()
    routes.routes["t/c"] = "here"
    opened = asyncio.Event()
    closing = asyncio.create_task(close_stream(hub, routes, locked))
    await asyncio.sleep(0)  # the closing stream has checked: nobody else holds the conversation yet
    opening = asyncio.create_task(open_stream(hub, routes, locked, opened))
    await opened.wait()
    await closing
    await asyncio.sleep(0.06)
    held = "t/c" in routes.routes
    await opening
    return held


async def test_without_the_lock_the_race_loses_the_open_streams_route():
    # Shows the fake reproduces the interleaving the lock exists for.
    assert not await race(locked=False)


async def test_with_the_lock_the_open_stream_keeps_its_route():
    assert await race(locked=True)


async def test_route_locks_are_dropped_when_nobody_holds_them():
    hub = Hub()
    async with hub.route_lock("t", "a"), hub.route_lock("t", "b"):
        assert hub.route_locks_held() == 2
    waiters = [asyncio.create_task(_hold(hub)) for _ in range(5)]
    await asyncio.gather(*waiters)
    assert hub.route_locks_held() == 0


async def _hold(hub: Hub) -> None:
    async with hub.route_lock("t", "same"):
        await asyncio.sleep(0.001)

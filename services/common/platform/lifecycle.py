"""Process lifecycle: run a service's main coroutine, stop cleanly on SIGTERM/SIGINT, fail fast.

Start-up problems (bad configuration, a broker or database that does not answer, a port in use)
end the process with exit code 2 and one line on stderr naming what and where; no stack trace loop.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from services.common.platform.settings import ConfigError

T = TypeVar("T")


class StartupError(Exception):
    """A dependency is unreachable or misconfigured at start; the message says which and where."""


def fail(service: str, message: str) -> NoReturn:
    """End the process at start with one line on stderr and exit code 2."""
    print(f"{service}: cannot start: {message}", file=sys.stderr)
    sys.exit(2)


def configure(service: str, build: Callable[[], T]) -> T:
    """Build a settings object; a ConfigError ends the process with one line naming the variable."""
    try:
        return build()
    except ConfigError as exc:
        fail(service, str(exc))


def run(main: Callable[[asyncio.Event], Awaitable[None]], service: str) -> None:
    """Run `main(stop)`; `stop` is set on SIGTERM or SIGINT, and main should then drain and return."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    try:
        asyncio.run(runner())
    except (ConfigError, StartupError, OSError) as exc:
        fail(service, str(exc))

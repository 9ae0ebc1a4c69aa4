"""Entry point: `cs-console` (python -m services.console.main)."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

from services.common.platform import lifecycle, logs
from services.common.platform.metrics import start_metrics_server
from services.console.app import create_app
from services.console.settings import ConsoleSettings


async def serve(stop: asyncio.Event, settings: ConsoleSettings) -> None:
    logs.configure("console", settings.instance_id, settings.log_level)
    start_metrics_server(settings.metrics_host, settings.metrics_port)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.listen_host,
        port=settings.listen_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # uvicorn catches SIGTERM/SIGINT while it serves (and drains), then raises them again for lifecycle's `stop`.
    running = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    if not server.started:
        raise OSError(
            f"the console could not serve on {settings.listen_host}:{settings.listen_port}; set CS_CONSOLE_LISTEN"
        )


def main() -> None:
    async def run(stop) -> None:
        await serve(stop, ConsoleSettings.from_env())

    lifecycle.run(run, "cs-console")


if __name__ == "__main__":
    main()

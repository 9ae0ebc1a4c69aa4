"""Entry point: `cs-webchat` (python -m services.webchat.main).

One process serves the widget and the visitor API (CS_WEBCHAT_LISTEN) and, when CS_WEBCHAT_DEMO_LISTEN
is set, the demo page on an origin of its own. Metrics on CS_METRICS_PORT (9106); /healthz is
liveness (the process answers), /readyz readiness (the gateway's health answers SERVING).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn

from services.common.platform import lifecycle, logs
from services.common.platform.metrics import start_metrics_server
from services.webchat.app import build_app, build_demo_app
from services.webchat.gateway import GatewayClient
from services.webchat.settings import WebchatSettings

log = logging.getLogger(__name__)
GRACE_S = 5


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield  # lifecycle.run owns SIGTERM/SIGINT and sets `stop`


def _bind(address: tuple[str, int], variable: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address[0]}:{address[1]} ({variable}): {exc.strerror}") from None
    return sock


def _server(app) -> _Server:
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=GRACE_S, proxy_headers=False
    )
    return _Server(config)


async def serve(stop: asyncio.Event, settings: WebchatSettings) -> None:
    logs.configure("webchat", settings.instance_id, settings.log_level)
    start_metrics_server(settings.metrics_host, settings.metrics_port)
    sockets = [_bind(settings.listen, "CS_WEBCHAT_LISTEN")]
    if settings.demo_listen:
        sockets.append(_bind(settings.demo_listen, "CS_WEBCHAT_DEMO_LISTEN"))
    gateway = GatewayClient(settings.gateway, settings.channel_key, settings.gateway_ca)
    apps = [build_app(settings, gateway), build_demo_app(settings)]
    listeners = [(_server(app), sock) for app, sock in zip(apps, sockets)]
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in listeners]
    log.info(
        "webchat ready",
        extra={"listen_port": settings.listen[1], "demo_port": settings.demo_listen[1] if settings.demo_listen else 0},
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for server, _ in listeners:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        stopping.cancel()
        await gateway.close()
        for _, sock in listeners:
            sock.close()


def main() -> None:
    settings = lifecycle.configure("cs-webchat", WebchatSettings.from_env)

    async def run(stop) -> None:
        await serve(stop, settings)

    lifecycle.run(run, "cs-webchat")


if __name__ == "__main__":
    main()

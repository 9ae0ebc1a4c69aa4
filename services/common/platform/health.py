"""The standard gRPC health service (grpc.health.v1), readiness and liveness kept apart.

- service "" (overall) and the service's own name report readiness: NOT_SERVING until the model
  is loaded and Kafka and the database answer, SERVING after, NOT_SERVING again on SIGTERM
  (enter_graceful_shutdown) so load balancers drain the pod.
- service "liveness" is SERVING while the process's event loop runs. Kubernetes' liveness probe
  asks for it, so a broker or database outage never makes Kubernetes kill every pod.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.common.platform import tls
from services.common.platform.metrics import DEPENDENCY_UP, READY

log = logging.getLogger(__name__)

LIVENESS = "liveness"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Health:
    def __init__(self, service: str) -> None:
        self.service = service
        self.servicer = health.aio.HealthServicer()
        self.ready = False
        self.shutting_down = False

    async def start(self) -> None:
        await self.servicer.set(LIVENESS, SERVING)
        await self._set_ready(False)

    async def _set_ready(self, ready: bool) -> None:
        self.ready = ready
        status = SERVING if ready else NOT_SERVING
        await self.servicer.set("", status)
        await self.servicer.set(self.service, status)
        READY.labels(service=self.service).set(1 if ready else 0)

    async def set_ready(self) -> None:
        await self._set_ready(True)

    async def set_not_ready(self) -> None:
        await self._set_ready(False)

    async def shutdown(self) -> None:
        self.shutting_down = True
        self.ready = False
        READY.labels(service=self.service).set(0)
        await self.servicer.enter_graceful_shutdown()

    def add_to(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)


Probe = Callable[[], Awaitable[object]]


class DependencyWatch:
    """Readiness that follows Kafka and the database: probed every `interval_s`.

    A dependency that fails `failures_to_down` probes in a row makes the service NOT_SERVING (so a
    load balancer sends callers elsewhere); once every dependency answers again it is SERVING.
    Liveness never changes here: an outage must not make Kubernetes restart every pod. `healthy()`
    probes at once, for a worker deciding whether an event keeps failing because of itself or
    because a dependency is down.
    """

    def __init__(
        self,
        health: Health,
        probes: Mapping[str, Probe],
        interval_s: float = 5.0,
        timeout_s: float = 3.0,
        failures_to_down: int = 2,
    ) -> None:
        self.health = health
        self.probes = dict(probes)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.failures_to_down = failures_to_down
        self.failures = dict.fromkeys(self.probes, 0)
        self.started = False  # readiness is only taken over once start-up has set it

    async def _probe(self, name: str) -> bool:
        try:
            await asyncio.wait_for(self.probes[name](), self.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.failures[name] == 0:
                log.warning("dependency not answering", extra={"dependency": name, "error": f"{exc!r}"[:300]})
            self.failures[name] += 1
            DEPENDENCY_UP.labels(service=self.health.service, dependency=name).set(0)
            return False
        if self.failures[name]:
            log.info("dependency answers again", extra={"dependency": name, "failed_probes": self.failures[name]})
        self.failures[name] = 0
        DEPENDENCY_UP.labels(service=self.health.service, dependency=name).set(1)
        return True

    async def healthy(self) -> bool:
        """Probe every dependency now; True when all answered."""
        results = await asyncio.gather(*(self._probe(name) for name in self.probes))
        return all(results)

    async def check(self) -> None:
        """One round: probe, then set readiness from the consecutive failures."""
        await self.healthy()
        if not self.started or self.health.shutting_down:
            return
        down = [name for name, count in self.failures.items() if count >= self.failures_to_down]
        if down and self.health.ready:
            log.error("not ready: a dependency keeps failing", extra={"dependencies": ",".join(down)})
            await self.health.set_not_ready()
        elif not down and not self.health.ready and not any(self.failures.values()):
            log.info("ready again: every dependency answers")
            await self.health.set_ready()

    async def run(self) -> None:
        """Probe until cancelled; start-up has made the service ready by the time this runs."""
        self.started = True
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()


# grpc turns SO_REUSEPORT on by default: a second process binding a taken port then starts
# "fine" and the kernel splits the calls between the two. Every server we start refuses that, so a
# port clash fails at start with one line (see bind) instead of misrouting calls.
SERVER_OPTIONS = (("grpc.so_reuseport", 0),)


def bind(
    server: grpc.aio.Server, address: str, variable: str, credentials: grpc.ServerCredentials | None = None
) -> int:
    """Bind a port (TLS when credentials are given) and return it (port 0 binds a free one), or fail
    with one line naming the address and variable."""
    try:
        bound = (
            server.add_insecure_port(address) if credentials is None else server.add_secure_port(address, credentials)
        )
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise OSError(f"cannot listen on {address}: address in use or not available; set {variable}")
    return bound


async def start_health_server(health_state: Health, host: str, port: int) -> grpc.aio.Server:
    """A gRPC server carrying only the health service (for workers, which serve no API)."""
    server = grpc.aio.server(options=SERVER_OPTIONS)
    health_state.add_to(server)
    bind(server, f"{host}:{port}", "CS_HEALTH_PORT")
    await server.start()
    await health_state.start()
    return server


async def check(target: str, service: str = "", timeout: float = 3.0, ca: bytes | None = None) -> str:
    """Ask a health endpoint (over TLS trusting `ca` when given); returns the status name (SERVING, ...)."""
    async with tls.channel(target, ca) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

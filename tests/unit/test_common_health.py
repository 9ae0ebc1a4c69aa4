"""Readiness follows Kafka and the database; liveness never does."""

from __future__ import annotations

from grpc_health.v1 import health_pb2

from services.common.platform.health import LIVENESS, NOT_SERVING, SERVING, DependencyWatch, Health


class Switch:
    """A probe that fails while `down` is set, as a stopped database would."""

    def __init__(self) -> None:
        self.down = False

    async def __call__(self) -> None:
        if self.down:
            raise ConnectionRefusedError("connection refused")


async def status(health: Health, service: str) -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    reply = await health.servicer.Check(request, None)
    return reply.status


async def started(probes) -> tuple[Health, DependencyWatch]:
    health = Health("intent")
    await health.start()
    await health.set_ready()
    watch = DependencyWatch(health, probes, failures_to_down=2)
    watch.started = True
    return health, watch


async def test_a_dependency_that_keeps_failing_makes_the_service_not_serving_and_its_return_serving_again():
    database, kafka = Switch(), Switch()
    health, watch = await started({"database": database, "kafka": kafka})
    database.down = True
    await watch.check()
    assert await status(health, "") == SERVING, "one failed probe is not yet an outage"
    await watch.check()
    assert await status(health, "") == NOT_SERVING
    assert await status(health, "intent") == NOT_SERVING
    assert await status(health, LIVENESS) == SERVING, "an outage must not make Kubernetes restart the pod"
    assert not await watch.healthy()
    database.down = False
    await watch.check()
    assert await status(health, "") == SERVING


async def test_a_probe_that_hangs_counts_as_a_failure():
    async def hangs() -> None:
        import asyncio

        await asyncio.sleep(3600)

    _, watch = await started({"database": hangs})
    watch.timeout_s = 0.05
    assert not await watch.healthy()


async def test_readiness_is_left_alone_during_shutdown():
    database = Switch()
    health, watch = await started({"database": database})
    await health.shutdown()
    await watch.check()
    assert not health.ready

"""The start-up and shutdown every worker shares: ready only once everything is up, and on SIGTERM
the consumer stops before the producer, the database, the health server and what the worker's own
setup opened (in the order it asked), even when setup fails."""

from __future__ import annotations

import asyncio

import pytest

from services.common.platform.settings import CommonSettings, Env
from services.common.platform.topics import INBOUND
from services.common.worker import runtime
from services.common.worker.loop import WorkerSpec
from services.common.worker.runtime import WorkerContext, WorkerSettings

SPEC = WorkerSpec(service="intent", source=INBOUND)


class Recorder:
    def __init__(self) -> None:
        self.steps: list[str] = []

    def closer(self, name: str):
        async def close(*_args, **_kwargs) -> None:
            self.steps.append(name)

        return close


@pytest.fixture
def steps(monkeypatch) -> Recorder:
    seen = Recorder()

    class Server:
        stop = seen.closer("health server stopped")

    class Producer:
        stop = seen.closer("producer stopped")

    class Mongo:
        close = seen.closer("database closed")

    class App:
        async def start(self) -> None:
            seen.steps.append("consumer started")

        stop = seen.closer("consumer stopped")

    async def start_health_server(health, host, port):
        await health.start()
        seen.steps.append(f"health server on {port}")
        return Server()

    async def start_producer(*_args):
        seen.steps.append("producer started")
        return Producer()

    async def connect(*_args, **_kwargs):
        seen.steps.append("database connected")
        return Mongo(), {}

    class Health(runtime.Health):
        async def set_ready(self) -> None:
            await super().set_ready()
            seen.steps.append("SERVING")

        async def shutdown(self) -> None:
            await super().shutdown()
            seen.steps.append("NOT_SERVING")

    monkeypatch.setattr(runtime, "Health", Health)
    monkeypatch.setattr(runtime.logs, "configure", lambda *_args: seen.steps.append("logging"))
    monkeypatch.setattr(runtime, "start_metrics_server", lambda host, port: seen.steps.append(f"metrics on {port}"))
    monkeypatch.setattr(runtime, "start_health_server", start_health_server)
    monkeypatch.setattr(runtime, "start_producer", start_producer)
    monkeypatch.setattr(runtime, "connect", connect)
    monkeypatch.setattr(runtime, "make_faust_app", lambda *_args: App())
    return seen


def worker_settings() -> WorkerSettings:
    return WorkerSettings.from_env("intent", Env({"CS_HEALTH_PORT": "50999"}), 9102, 50061)


def test_worker_settings_default_the_ports_per_service():
    settings = WorkerSettings.from_env("intent", Env({}), 9102, 50061)
    assert (settings.common.metrics_port, settings.health_port) == (9102, 50061)
    assert isinstance(settings.common, CommonSettings) and settings.common.service == "intent"


def test_a_worker_is_ready_after_setup_and_closes_its_own_resources_last(steps):
    async def setup(ctx: WorkerContext):
        steps.steps.append("setup")
        ctx.on_close(steps.closer("setup's first resource closed"))
        ctx.on_close(steps.closer("setup's second resource closed"))
        return lambda event: None

    async def scenario() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(runtime.run_worker(stop, SPEC, worker_settings(), setup))
        while "SERVING" not in steps.steps and not worker.done():  # a worker that failed to start fails the test
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)
        steps.steps.append("SIGTERM")
        stop.set()
        await worker

    asyncio.run(scenario())
    assert steps.steps == [
        "logging",
        "metrics on 9102",
        "health server on 50999",
        "producer started",
        "database connected",
        "setup",
        "consumer started",
        "SERVING",
        "SIGTERM",
        "NOT_SERVING",
        "consumer stopped",
        "producer stopped",
        "database closed",
        "health server stopped",
        "setup's first resource closed",
        "setup's second resource closed",
    ]


def test_what_setup_opened_is_closed_when_setup_fails(steps):
    async def setup(ctx: WorkerContext):
        ctx.on_close(steps.closer("setup's resource closed"))
        raise OSError("model folder unreadable")

    with pytest.raises(OSError):
        asyncio.run(runtime.run_worker(asyncio.Event(), SPEC, worker_settings(), setup))
    assert steps.steps[-4:] == [
        "producer stopped",
        "database closed",
        "health server stopped",
        "setup's resource closed",
    ]
    assert "consumer started" not in steps.steps and "SERVING" not in steps.steps


def test_a_worker_with_max_in_flight_is_driven_by_concurrent_admission_not_faust(steps, monkeypatch):
    made = []

    class Admission:
        def __init__(self, loop_, group, bootstrap, topic, max_in_flight, **_kwargs) -> None:
            made.append((group, max_in_flight))

        async def start(self) -> None:
            steps.steps.append("consumer started")

        stop = steps.closer("consumer stopped")

    monkeypatch.setattr(runtime, "ConcurrentConsumer", Admission)

    async def setup(ctx: WorkerContext):
        return lambda event: None

    async def scenario() -> None:
        stop = asyncio.Event()
        spec = WorkerSpec(service="generator", source=INBOUND, max_in_flight=16)
        worker = asyncio.create_task(runtime.run_worker(stop, spec, worker_settings(), setup))
        while "SERVING" not in steps.steps and not worker.done():  # a worker that failed to start fails the test
            await asyncio.sleep(0.01)
        stop.set()
        await worker

    asyncio.run(scenario())
    assert made == [("cs-generator", 16)]
    assert steps.steps.index("consumer started") < steps.steps.index("SERVING") < steps.steps.index("consumer stopped")

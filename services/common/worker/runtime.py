"""Start-up and shutdown shared by the three workers (intent, sentiment, generator).

A worker's main builds its settings (`lifecycle.configure`), then hands `serve` its spec, its
`WorkerSettings` and a `setup` that loads its engine and returns the event handler; everything else
is here. Order: logging, /metrics, the health server (NOT_SERVING), Kafka producer and database
(fail fast with one line when unreachable), the model (`setup`), then the consumer (a Faust agent,
or concurrent admission for a spec with `max_in_flight`); SERVING once all of that is up. On SIGTERM:
NOT_SERVING, stop taking events, let the events in hand finish, commit their offsets, close the
producer and the database, then what `setup` asked to close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field

from pymongo.asynchronous.database import AsyncDatabase

from services.common.platform import lifecycle, logs
from services.common.platform.health import DependencyWatch, Health, start_health_server
from services.common.platform.kafka import EventPublisher, kafka_probe, start_producer
from services.common.platform.metrics import start_metrics_server
from services.common.platform.settings import CommonSettings, ConfigError, Env
from services.common.storage.mongo import connect, ping
from services.common.worker.admission import ConcurrentConsumer
from services.common.worker.loop import EventLoop, Fallback, WorkerSpec, make_faust_app

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker reads: the common settings and the port of its gRPC health server."""

    common: CommonSettings
    health_port: int
    max_attempts: int = 6

    @classmethod
    def from_env(cls, service: str, env: Env, default_metrics_port: int, default_health_port: int) -> WorkerSettings:
        common = CommonSettings.from_env(service, default_metrics_port, env)
        attempts = env.int("CS_WORKER_MAX_ATTEMPTS")
        if attempts < 1:
            raise ConfigError(f"CS_WORKER_MAX_ATTEMPTS={attempts} must be at least 1")
        return cls(common, env.int("CS_HEALTH_PORT", default_health_port), attempts)


@dataclass
class WorkerContext:
    settings: CommonSettings
    publisher: EventPublisher
    db: AsyncDatabase
    tasks: list[asyncio.Task] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    fallback: Fallback | None = None

    def on_give_up(self, fallback: Fallback) -> None:
        """What to do for an event that cannot be processed (before it is dead-lettered): the worker's way
        of making sure the customer still gets a reply or a handover (see services/common/worker/loop.py)."""
        self.fallback = fallback

    def spawn(self, work: Coroutine) -> None:
        """Run `work` beside the consumer (e.g. following the model's CURRENT version); cancelled at shutdown."""
        self.tasks.append(asyncio.create_task(work))

    def on_close(self, close: Callable[[], Awaitable[None]]) -> None:
        """Await `close()` once the worker has stopped (after the database), in the order registered."""
        self.closers.append(close)


Setup = Callable[[WorkerContext], Awaitable[Callable[[object], Awaitable[None]]]]


def serve(spec: WorkerSpec, settings: WorkerSettings, setup: Setup) -> None:
    """The worker's process: run until SIGTERM or SIGINT; a start-up failure ends it with one line."""

    async def run(stop: asyncio.Event) -> None:
        await run_worker(stop, spec, settings, setup)

    lifecycle.run(run, f"cs-{spec.service}")


async def run_worker(stop: asyncio.Event, spec: WorkerSpec, worker: WorkerSettings, setup: Setup) -> None:
    settings, health_port = worker.common, worker.health_port
    logs.configure(settings.service, settings.instance_id, settings.log_level)
    start_metrics_server(settings.metrics_host, settings.metrics_port)
    health = Health(settings.service)
    health_server = await start_health_server(health, settings.metrics_host, health_port)
    producer = await start_producer(
        settings.kafka_bootstrap, f"{settings.service}-{settings.instance_id}", settings.startup_timeout_s
    )
    mongo = None
    app = None
    ctx = None
    failures: list[BaseException] = []

    def failed(exc: BaseException) -> None:  # the worker exits; a restart redelivers what was not committed
        failures.append(exc)
        stop.set()

    try:
        mongo, db = await connect(
            settings.mongo_uri,
            settings.mongo_database,
            settings.startup_timeout_s,
            settings.mongo_operation_timeout_s,
            service=settings.service,
        )
        publisher = EventPublisher(producer, settings.topic_prefix, settings.service)
        ctx = WorkerContext(settings, publisher, db)
        handle = await setup(ctx)
        source = spec.source.name(settings.topic_prefix)
        group = spec.group_id(settings.topic_prefix)
        watch = DependencyWatch(health, {"kafka": lambda: kafka_probe(producer), "database": lambda: ping(db)})
        loop_ = EventLoop(
            spec,
            source,
            publisher,
            handle,
            fallback=ctx.fallback,
            max_attempts=worker.max_attempts,
            dependencies_healthy=watch.healthy,
        )
        if spec.max_in_flight:
            app = ConcurrentConsumer(
                loop_,
                group,
                settings.kafka_bootstrap,
                source,
                spec.max_in_flight,
                on_failure=failed,
                client_id=f"{settings.service}-{settings.instance_id}",
            )
        else:
            app = make_faust_app(spec, group, settings.kafka_bootstrap, loop_, source)
        await app.start()
        await health.set_ready()
        ctx.spawn(watch.run())
        log.info("worker ready", extra={"topic": source, "group": group, "health_port": health_port})
        await stop.wait()
        log.info("shutting down: finishing the event in hand and committing offsets")
        await health.shutdown()
        loop_.stopping.set()
        if failures:
            raise RuntimeError(f"the {spec.service} worker's consume loop failed: {failures[0]!r}") from failures[0]
    finally:
        try:
            if ctx is not None:
                for task in ctx.tasks:
                    task.cancel()
                await asyncio.gather(*ctx.tasks, return_exceptions=True)
            if app is not None:
                await app.stop()
            await producer.stop()
            if mongo is not None:
                await mongo.close()
            await health_server.stop(grace=2)
        finally:
            if ctx is not None:
                for close in ctx.closers:
                    await close()

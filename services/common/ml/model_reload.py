"""Hot reload: a worker follows its model's CURRENT pointer in the ModelStore without a restart.

The worker's handler takes `slot.engine` once per event and uses that engine to the end of the
event, so every event is processed, and labelled with its version, by one complete model. The
poller reads CURRENT every CS_MODEL_RELOAD_S seconds and loads a new version in a thread, off the
event loop; only a fully loaded engine replaces the reference, by one assignment on the event
loop, so the switch falls between two events and never inside one, and no event waits for a load.

A version that fails to load is logged and counted (cs_model_reloads_total{outcome="failed"}) and
the old model keeps serving; the poller does not retry that version until CURRENT has pointed
elsewhere (a version folder is written once, so loading it again would fail again).
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, Protocol, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from services.common.ml.model_store import ModelStore
from services.common.platform import metrics
from services.common.platform.settings import ConfigError, Env
from services.common.storage.repositories import ModelVersionRepo

log = logging.getLogger(__name__)


class Versioned(Protocol):
    @property
    def version(self) -> str: ...


E = TypeVar("E", bound=Versioned)
Announce = Callable[[E], Awaitable[None]]


def reload_interval(env: Env) -> float:
    """CS_MODEL_RELOAD_S: seconds between looks at CURRENT; 0 turns hot reload off."""
    seconds = env.float("CS_MODEL_RELOAD_S")
    if seconds < 0:
        raise ConfigError(f"CS_MODEL_RELOAD_S={seconds:g} must be 0 (off) or a positive number of seconds")
    return seconds


class ModelSlot(Generic[E]):
    """The engine a worker serves now, swapped for the store's CURRENT version when that changes.

    `announce(engine)` is awaited whenever an engine goes into service (at start and after each
    switch), e.g. to record its labels in the database; when it fails it is retried at the next poll.
    """

    def __init__(
        self,
        store: ModelStore,
        kind: str,
        service: str,
        engine: E,
        load: Callable[[pathlib.Path], E],
        announce: Announce | None = None,
    ) -> None:
        self.store = store
        self.kind = kind
        self.service = service
        self.load = load
        self.engine = engine
        self._announce = announce
        self._announced = False
        self._failed: str | None = None
        metrics.MODEL_VERSION.labels(service=service, kind=kind, version=engine.version).set(1)

    @property
    def version(self) -> str:
        return self.engine.version

    async def announce(self) -> None:
        if self._announce is None or self._announced:
            return
        try:
            await self._announce(self.engine)
            self._announced = True
        except Exception as exc:
            log.warning(
                "could not announce the model version; retrying at the next poll",
                extra={"kind": self.kind, "version": self.version, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )

    async def check(self) -> bool:
        """One look at CURRENT; True when a new version went into service."""
        current = await asyncio.to_thread(self.store.current, self.kind)
        await self.announce()
        if current is None:
            return False
        version, path = current
        if version == self.version:
            self._failed = None
            return False
        if version == self._failed:
            return False
        return await self._switch(version, path)

    async def _switch(self, version: str, path: pathlib.Path) -> bool:
        old = self.version
        started = time.perf_counter()
        try:
            engine = await asyncio.to_thread(self.load, path)
            if engine.version != version:
                raise ValueError(f"the folder of {version} holds model {engine.version}")
        except Exception as exc:
            self._failed = version
            metrics.MODEL_RELOADS.labels(service=self.service, kind=self.kind, outcome="failed").inc()
            log.error(
                "model reload failed; still serving the old version",
                extra={
                    "kind": self.kind,
                    "serving": old,
                    "failed_version": version,
                    "error": f"{type(exc).__name__}: {exc}"[:500],
                },
            )
            return False
        self.engine = engine  # the switch: events that already took the old engine finish with it
        self._failed = None
        self._announced = False
        metrics.MODEL_RELOADS.labels(service=self.service, kind=self.kind, outcome="switched").inc()
        metrics.MODEL_VERSION.labels(service=self.service, kind=self.kind, version=version).set(1)
        metrics.MODEL_VERSION.remove(self.service, self.kind, old)
        log.info(
            "model switched",
            extra={
                "kind": self.kind,
                "from_version": old,
                "to_version": version,
                "load_seconds": round(time.perf_counter() - started, 3),
            },
        )
        await self.announce()
        return True

    async def follow(self, interval_s: float) -> None:
        """Poll CURRENT every `interval_s` seconds until cancelled; one failed poll never ends it."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check()
            except Exception as exc:
                log.warning(
                    "could not read the model store's CURRENT pointer",
                    extra={
                        "kind": self.kind,
                        "root": str(self.store.root),
                        "error": f"{type(exc).__name__}: {exc}"[:300],
                    },
                )


async def announced_slot(
    db: AsyncDatabase,
    store: ModelStore,
    kind: str,
    service: str,
    engine: E,
    load: Callable[[pathlib.Path], E],
    labels: Callable[[E], Iterable[str]],
) -> ModelSlot[E]:
    """The slot serving `engine`, announced (ModelVersionRepo: its version and `labels(engine)`) now
    and whenever another version goes into service, so the gateway knows which labels it can produce."""
    versions = ModelVersionRepo(db)

    async def announce(served: E) -> None:
        await versions.announce(kind, served.version, list(labels(served)))

    slot = ModelSlot(store, kind, service, engine, load, announce)
    await slot.announce()
    return slot

"""Hot reload: a worker's model slot follows the ModelStore's CURRENT version between events.

The store is the real one on a temporary folder; the "engine" is a small class that reads its
folder, so these tests check the swapping rules, not a model.
"""

from __future__ import annotations

import asyncio
import pathlib
import threading

import pytest
from prometheus_client import REGISTRY

from services.common.ml.model_reload import ModelSlot, reload_interval
from services.common.ml.model_store import ModelStore
from services.common.platform.settings import ConfigError, Env

KIND = "toy"


class ToyEngine:
    def __init__(self, folder: pathlib.Path) -> None:
        self.version = folder.name
        self.weights = (folder / "weights.txt").read_text()  # FileNotFoundError for a broken build
        self.loaded_in = threading.current_thread()


def build(store: ModelStore, fp: str, weights: str | None = "w") -> str:
    def write(folder: pathlib.Path) -> None:
        if weights is not None:
            (folder / "weights.txt").write_text(weights)

    version, _ = store.build(KIND, fp, write)
    return version


def reloads(outcome: str, service: str) -> float:
    return (
        REGISTRY.get_sample_value("cs_model_reloads_total", {"service": service, "kind": KIND, "outcome": outcome})
        or 0.0
    )


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path)


def serving(store: ModelStore, service: str, loads: list | None = None, announce=None) -> ModelSlot:
    first = build(store, "aaaa")
    store.promote(KIND, first)

    def load(path: pathlib.Path) -> ToyEngine:
        if loads is not None:
            loads.append(path.name)
        return ToyEngine(path)

    return ModelSlot(store, KIND, service, ToyEngine(store.current(KIND)[1]), load, announce)


async def test_a_promoted_version_goes_into_service_at_the_next_check(store):
    slot = serving(store, "svc-switch")
    first = slot.version
    assert await slot.check() is False
    second = build(store, "bbbb", "w2")
    store.promote(KIND, second)
    assert await slot.check() is True
    assert slot.version == second and slot.engine.weights == "w2"
    assert reloads("switched", "svc-switch") == 1
    assert (
        REGISTRY.get_sample_value("cs_model_version_info", {"service": "svc-switch", "kind": KIND, "version": second})
        == 1
    )
    assert (
        REGISTRY.get_sample_value("cs_model_version_info", {"service": "svc-switch", "kind": KIND, "version": first})
        is None
    )


async def test_an_event_that_took_the_old_engine_finishes_with_it(store):
    slot = serving(store, "svc-event")
    in_hand = slot.engine  # what a handler does at the start of an event
    store.promote(KIND, build(store, "bbbb", "w2"))
    await slot.check()
    assert in_hand.weights == "w" and in_hand.version.endswith("aaaa")
    assert slot.engine.weights == "w2"


async def test_the_new_version_is_loaded_off_the_event_loop(store):
    slot = serving(store, "svc-thread")
    store.promote(KIND, build(store, "bbbb"))
    await slot.check()
    assert slot.engine.loaded_in is not threading.main_thread()


async def test_a_version_that_fails_to_load_keeps_the_old_one_and_is_counted(store, caplog):
    loads: list[str] = []
    slot = serving(store, "svc-broken", loads)
    old = slot.version
    broken = build(store, "cccc", weights=None)
    store.promote(KIND, broken)
    assert await slot.check() is False
    assert slot.version == old
    assert reloads("failed", "svc-broken") == 1
    assert any(
        r.getMessage().startswith("model reload failed") and r.failed_version == broken and r.serving == old
        for r in caplog.records
    )
    # A version folder never changes: the same CURRENT is not loaded again at every poll...
    await slot.check()
    assert loads == [broken]
    # ...but a later promotion is, and so is the broken one if promoted again afterwards.
    fixed = build(store, "dddd")
    store.promote(KIND, fixed)
    assert await slot.check() is True and slot.version == fixed
    store.promote(KIND, broken)
    await slot.check()
    assert loads == [broken, fixed, broken] and slot.version == fixed


async def test_announcing_a_version_is_retried_until_it_succeeds(store):
    calls: list[str] = []

    async def announce(engine: ToyEngine) -> None:
        calls.append(engine.version)
        if len(calls) == 1:
            raise ConnectionError("database down")

    slot = serving(store, "svc-announce", announce=announce)
    await slot.announce()
    await slot.check()
    await slot.check()
    assert calls == [slot.version, slot.version]
    store.promote(KIND, build(store, "bbbb"))
    await slot.check()
    assert calls[-1] == slot.version and len(calls) == 3


async def test_follow_polls_until_cancelled(store):
    slot = serving(store, "svc-follow")
    second = build(store, "bbbb")
    task = asyncio.create_task(slot.follow(0.05))
    store.promote(KIND, second)
    async with asyncio.timeout(10):
        while slot.version != second:
            await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_reload_interval_is_read_from_the_environment_and_zero_turns_it_off():
    assert reload_interval(Env({})) == 30
    assert reload_interval(Env({"CS_MODEL_RELOAD_S": "0"})) == 0
    with pytest.raises(ConfigError, match="CS_MODEL_RELOAD_S=-1 must be 0"):
        reload_interval(Env({"CS_MODEL_RELOAD_S": "-1"}))
    with pytest.raises(ConfigError, match="not a number"):
        reload_interval(Env({"CS_MODEL_RELOAD_S": "soon"}))

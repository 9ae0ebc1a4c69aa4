"""`cs models list | rollback` and the promotion history behind "the previous version".

The store is the real one on a temporary folder (CS_MODEL_DIR). Rollbacks to a good version use
copies of the default store's current intent model, so the check loads a real model as a worker
would; the refusals must leave CURRENT as it was.
"""

from __future__ import annotations

import re
import shutil
import uuid

import pytest

from services.cli.main import main
from services.common.ml.model_store import ModelStore
from tests.conftest import copy_current_model

KIND = "intent"


@pytest.fixture
def store(tmp_path, monkeypatch) -> ModelStore:
    monkeypatch.setenv("CS_MODEL_DIR", str(tmp_path))
    return ModelStore(tmp_path)


@pytest.fixture
def real_store(tmp_path, monkeypatch) -> ModelStore:
    """A store whose CURRENT is a copy of the default store's current intent model."""
    copied = copy_current_model(KIND, tmp_path)  # before CS_MODEL_DIR points at the copy
    monkeypatch.setenv("CS_MODEL_DIR", str(tmp_path))
    return copied


def toy_version(store: ModelStore, write=lambda folder: (folder / "weights.txt").write_text("w")) -> str:
    version, _ = store.build(KIND, uuid.uuid4().hex[:10], write)
    return version


def real_versions(store: ModelStore, n: int) -> list[str]:
    """The real CURRENT version of `store`, then n-1 copies of it under other version names."""
    first, path = store.current(KIND)
    copies = [
        store.build(
            KIND,
            uuid.uuid4().hex[:10],
            lambda folder: shutil.copytree(
                path, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete")
            ),
        )[0]
        for _ in range(n - 1)
    ]
    return [first, *copies]


def cs(*argv: str) -> int:
    return main(list(argv))


def test_promote_records_each_change_of_current_once(store):
    a, b = toy_version(store), toy_version(store)
    store.promote(KIND, a)
    store.promote(KIND, a)  # promoting CURRENT again (a retrain that reused the version) is no change
    store.promote(KIND, b)
    assert [(e["from"], e["to"]) for e in store.history(KIND)] == [("", a), (a, b)]
    assert store.previous(KIND) == a


def test_the_history_says_nothing_when_current_was_changed_without_promote(store):
    a, b, c = toy_version(store), toy_version(store), toy_version(store)
    store.promote(KIND, a)
    assert store.previous(KIND) is None  # the first promotion has no previous version
    store.promote(KIND, b)
    (store.root / KIND / "CURRENT").write_text(c + "\n")  # by hand
    assert store.previous(KIND) is None


def test_a_history_line_cut_short_by_a_crash_is_skipped(store):
    a, b = toy_version(store), toy_version(store)
    store.promote(KIND, a)
    store.promote(KIND, b)
    with (store.root / KIND / "HISTORY").open("a") as fh:
        fh.write('{"at": "2026-')
    assert store.previous(KIND) == a


def test_versions_are_complete_folders_only_newest_first(store):
    a, b = toy_version(store), toy_version(store)
    in_progress = store.root / KIND / f".{b}.tmp123"  # a build about to be moved into place
    in_progress.mkdir()
    (in_progress / ".complete").write_text(b)
    (store.root / KIND / "half-built").mkdir()
    names = [version for version, _ in store.versions(KIND)]
    assert sorted(names) == sorted([a, b]) and len(names) == 2


def test_rollback_without_history_asks_for_a_version_and_changes_nothing(store, capsys):
    a = toy_version(store)
    store.promote(KIND, a)
    assert cs("models", "rollback", "--kind", KIND) == 1
    err = capsys.readouterr().err
    assert f"does not say which intent version was CURRENT before {a}" in err and "--to VERSION" in err
    assert store.pointer(KIND) == a


def test_rollback_to_an_unknown_version_names_the_versions_and_changes_nothing(store, capsys):
    a = toy_version(store)
    store.promote(KIND, a)
    assert cs("models", "rollback", "--kind", KIND, "--to", "intent-20200101-nope") == 1
    err = capsys.readouterr().err
    assert "has no complete version 'intent-20200101-nope'" in err and a in err
    assert cs("models", "rollback", "--kind", KIND, "--to", "../sentiment") == 1
    assert store.pointer(KIND) == a


def test_an_unknown_kind_is_a_usage_error(store, capsys):
    with pytest.raises(SystemExit) as exit_:
        cs("models", "rollback", "--kind", "llm")
    assert exit_.value.code == 2 and "invalid choice: 'llm'" in capsys.readouterr().err


@pytest.mark.models
def test_rollback_refuses_a_version_that_fails_to_load_and_current_stays(real_store, capsys):
    [good] = real_versions(real_store, 1)
    broken = toy_version(real_store, lambda folder: (folder / "model.json").write_text("{}"))
    assert cs("models", "rollback", "--kind", KIND, "--to", broken) == 1
    err = capsys.readouterr().err
    assert f"intent version {broken} fails to load, so it was not promoted" in err and "intent_head.npz" in err
    assert real_store.pointer(KIND) == good and [e["to"] for e in real_store.history(KIND)] == [good]


@pytest.mark.models
def test_rollback_goes_back_to_the_previous_version_and_twice_returns(real_store, capsys):
    first, second = real_versions(real_store, 2)
    real_store.promote(KIND, second)
    assert cs("models", "rollback", "--kind", KIND) == 0
    out = capsys.readouterr().out
    assert f"intent: CURRENT {second} -> {first} (loads; " in out and "track_order" in out
    assert real_store.pointer(KIND) == first and real_store.previous(KIND) == second
    assert cs("models", "rollback", "--kind", KIND) == 0  # the version CURRENT before the present one
    assert real_store.pointer(KIND) == second
    assert cs("models", "rollback", "--kind", KIND, "--to", second) == 0
    assert "already CURRENT; nothing changed" in capsys.readouterr().out


@pytest.mark.models
def test_list_shows_current_previous_build_time_and_the_training_figures(real_store, capsys):
    first, second = real_versions(real_store, 2)
    real_store.promote(KIND, second)
    broken = toy_version(real_store)
    assert cs("models", "list", "--kind", KIND) == 0
    out = capsys.readouterr().out
    [current] = [line for line in out.splitlines() if line.startswith("  CURRENT ")]
    [previous] = [line for line in out.splitlines() if line.startswith("  previous ")]
    assert second in current and first in previous
    # the held-out accuracy, at least 0.9 (1.000 since the informal copies: 818 of 818 Bitext test texts)
    assert re.search(r"en held-out (0\.9\d\d|1\.000),", current), current
    assert " built 20" in current and "promoted 20" in current
    assert f"`cs models rollback --kind intent` makes {first} CURRENT again" in out
    [shown] = [line for line in out.splitlines() if broken in line]
    assert "training report unreadable" in shown and "not in the history" in shown

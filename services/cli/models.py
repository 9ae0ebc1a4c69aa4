"""`cs models`: list the stored model versions of each kind and roll CURRENT back.

The store (model_store.py) knows the versions, CURRENT and the history of CURRENT; only a kind's own
code knows what its folders hold. So each kind has a small tool, `python -m services.<kind>.versions`,
which this module runs in a subprocess:

    describe PATH...   one JSON line per folder: {"path", "built_at", "headline"} from its training report
    check PATH         load the folder with the engine's own loader, as a worker does, and run it on a
                       few sample messages; the last line says {"ok": true, "detail"} or {"ok": false, "error"}

A subprocess, not an import: the CLI imports no service (the import-linter contract), and the
check loads the version in a fresh process, the way a worker that starts or hot-reloads loads it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys

from services.common.ml.model_store import ModelStore

# Model kind -> the module that describes and checks its versions.
KINDS = {"intent": "services.intent.versions", "sentiment": "services.sentiment.versions"}
CHECK_TIMEOUT_S = 180
_ROOT = pathlib.Path(__file__).resolve().parents[2]  # the folder holding `services`, so the tool runs this code


class ModelCommandError(Exception):
    """A `cs models` command refused; CURRENT is as it was. The message says what to do instead."""


def _run_tool(kind: str, args: list[str], timeout: float) -> tuple[dict | list[dict], str]:
    """The tool's JSON lines on stdout, and its stderr (for when it died before answering)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(
            [sys.executable, "-m", KINDS[kind], *args], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        raise ModelCommandError(f"{KINDS[kind]} {args[0]} did not finish within {timeout:g} s") from None
    answers = []
    for line in done.stdout.splitlines():
        try:
            answers.append(json.loads(line))
        except ValueError:
            continue
    return answers, done.stderr


def describe(kind: str, paths: list[pathlib.Path]) -> dict[str, dict]:
    """Each folder's build time and headline figures, by folder name ({} for a folder the tool could not read)."""
    if not paths:
        return {}
    answers, _ = _run_tool(kind, ["describe", *map(str, paths)], CHECK_TIMEOUT_S)
    return {pathlib.Path(a["path"]).name: a for a in answers if isinstance(a, dict) and "path" in a}


def check(kind: str, path: pathlib.Path) -> str:
    """What the loaded version answered; ModelCommandError when it does not load or answer."""
    answers, stderr = _run_tool(kind, ["check", str(path)], CHECK_TIMEOUT_S)
    last = answers[-1] if answers else {}
    if last.get("ok"):
        return last.get("detail", "")
    error = last.get("error") or (stderr.strip().splitlines() or ["the check printed nothing"])[-1]
    if "No module named" in error:
        error += " (run `cs models` where the workers' packages are installed: the cs or models image)"
    raise ModelCommandError(f"{kind} version {path.name} fails to load, so it was not promoted: {error[:800]}")


def _when(iso: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return "?"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _built(path: pathlib.Path, info: dict) -> str:
    """The training report's build time, else when the folder was completed."""
    if info.get("built_at"):
        return _when(info["built_at"])
    mtime = (path / ".complete").stat().st_mtime
    return _when(dt.datetime.fromtimestamp(mtime, dt.UTC).isoformat())


def list_versions(store: ModelStore, kinds: list[str]) -> str:
    """One block per kind: its versions newest first, which is CURRENT, which one rollback goes to, and
    each version's build time, last promotion and headline figures."""
    blocks = []
    for kind in kinds:
        folder = store.root / kind
        versions = store.versions(kind)
        if not versions:
            blocks.append(f"{kind}: no versions in {folder}")
            continue
        named, previous = store.pointer(kind), store.previous(kind)
        promoted = {entry["to"]: entry["at"] for entry in store.history(kind)}
        info = describe(kind, [path for _, path in versions])
        width = max(len(version) for version, _ in versions)
        lines = [f"{kind}: {len(versions)} version{'' if len(versions) == 1 else 's'} in {folder}"]
        for version, path in versions:
            mark = "CURRENT" if version == named else "previous" if version == previous else ""
            about = info.get(version, {})
            headline = about.get("headline") or about.get("error") or "no training report"
            last = f"promoted {_when(promoted[version])}" if version in promoted else "not in the history"
            lines.append(f"  {mark:<9}{version:<{width}}  built {_built(path, about)}  {last:<31}{headline}")
        if named is None:
            lines.append(f"  no version is CURRENT; promote one with `cs models rollback --kind {kind} --to VERSION`")
        elif named not in dict(versions):
            lines.append(f"  CURRENT names {named}, which is not a complete version here; workers keep what they serve")
        if previous:
            lines.append(f"  `cs models rollback --kind {kind}` makes {previous} CURRENT again")
        elif named is not None:
            lines.append(
                f"  the promotion history does not say what was CURRENT before {named}; "
                f"roll back with `cs models rollback --kind {kind} --to VERSION`"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def rollback(store: ModelStore, kind: str, to: str | None = None) -> str:
    """Make `to` (default: the version CURRENT before the present one) CURRENT, once it loads and answers."""
    folder = store.root / kind
    named = store.pointer(kind)
    target = to or store.previous(kind)
    if target is None:
        if named is None:
            raise ModelCommandError(
                f"no {kind} version is CURRENT in {folder}, so there is nothing to roll back; "
                f"choose one with --to VERSION (`cs models list --kind {kind}`)"
            )
        raise ModelCommandError(
            f"the promotion history in {folder} does not say which {kind} version was CURRENT before {named} "
            f"(no HISTORY yet, {named} was the first promoted, or CURRENT was changed by hand); "
            f"choose one with --to VERSION (`cs models list --kind {kind}`)"
        )
    if target == named and store.current(kind) is not None:
        return f"{kind}: {target} is already CURRENT; nothing changed"
    versions = dict(store.versions(kind))
    if target not in versions:
        known = ", ".join(versions) or "none"
        raise ModelCommandError(f"{kind} has no complete version {target!r} in {folder}; the versions are: {known}")
    detail = check(kind, versions[target])
    store.promote(kind, target)
    return (
        f"{kind}: CURRENT {named or '(none)'} -> {target} ({detail}). Running workers switch within "
        "CS_MODEL_RELOAD_S (hot reload), without a restart."
    )

"""Where trained and converted model artifacts live, and which version is current.

Layout under the store root (CS_MODEL_DIR, default ~/.cache/cs-platform/models):

    <kind>/<version>/...      one folder per version, written once, never changed
    <kind>/CURRENT            the version workers load; replaced atomically by `promote`
    <kind>/HISTORY            one JSON line per change of CURRENT made by `promote` (when, from, to),
                              so "the version before this one" is known (`cs models rollback`)

A version is "<kind>-<YYYYMMDD>-<fingerprint>", where the fingerprint hashes the inputs
(data files, hyper-parameters), so rebuilding from the same inputs gives the same version.
Workers record the version with every enrichment they produce.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pathlib
import shutil
import tempfile


def default_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("CS_MODEL_DIR", "~/.cache/cs-platform/models")).expanduser()


def fingerprint(*parts: str | bytes | pathlib.Path) -> str:
    """Short stable hash of strings, bytes and file contents."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, pathlib.Path):
            with part.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:10]


class ModelStore:
    def __init__(self, root: pathlib.Path | None = None) -> None:
        self.root = (root or default_root()).expanduser()

    def version_name(self, kind: str, fp: str, today: dt.date | None = None) -> str:
        day = (today or dt.date.today()).strftime("%Y%m%d")
        return f"{kind}-{day}-{fp}"

    def find(self, kind: str, fp: str) -> tuple[str, pathlib.Path] | None:
        """An existing version built from the same inputs, whatever day it was built."""
        folder = self.root / kind
        if not folder.is_dir():
            return None
        for path in sorted(folder.glob(f"{kind}-*-{fp}")):
            if (path / ".complete").exists():
                return path.name, path
        return None

    def build(self, kind: str, fp: str, writer) -> tuple[str, pathlib.Path]:
        """Run writer(tmp_dir) and move its output into place as a new version.

        The folder only appears once complete, so a crash mid-build never leaves a half
        model that a worker could load.
        """
        version = self.version_name(kind, fp)
        final = self.root / kind / version
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}.", dir=final.parent))
        try:
            writer(tmp)
            (tmp / ".complete").write_text(version)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return version, final

    def promote(self, kind: str, version: str) -> None:
        """Make `version` CURRENT, and record the change in HISTORY (promoting CURRENT again records nothing).

        HISTORY is appended after CURRENT is replaced: a crash in between leaves a history whose last
        entry is not CURRENT, which `previous` reads as unknown rather than guessing.
        """
        target = self.root / kind / version
        if not (target / ".complete").exists():
            raise FileNotFoundError(f"model version {version} is not in {self.root / kind}")
        pointer = self.root / kind / "CURRENT"
        before = self.pointer(kind) or ""
        tmp = pointer.with_suffix(".tmp")
        tmp.write_text(version + "\n")
        os.replace(tmp, pointer)
        if before != version:
            entry = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "from": before, "to": version}
            with (self.root / kind / "HISTORY").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")

    def pointer(self, kind: str) -> str | None:
        """The version CURRENT names, whether or not that folder is complete (None: no CURRENT)."""
        pointer = self.root / kind / "CURRENT"
        return pointer.read_text().strip() if pointer.exists() else None

    def current(self, kind: str) -> tuple[str, pathlib.Path] | None:
        version = self.pointer(kind)
        if version is None:
            return None
        path = self.root / kind / version
        return (version, path) if (path / ".complete").exists() else None

    def versions(self, kind: str) -> list[tuple[str, pathlib.Path]]:
        """Every complete version of `kind`, newest build first (builds in progress, `.<version>.*`, are not versions)."""
        folder = self.root / kind
        if not folder.is_dir():
            return []
        complete = [
            path
            for path in folder.iterdir()
            if path.is_dir() and not path.name.startswith(".") and (path / ".complete").exists()
        ]
        complete.sort(key=lambda path: ((path / ".complete").stat().st_mtime, path.name), reverse=True)
        return [(path.name, path) for path in complete]

    def history(self, kind: str) -> list[dict]:
        """The changes of CURRENT that `promote` recorded, oldest first: {"at", "from", "to"} ("from": "" for the first)."""
        path = self.root / kind / "HISTORY"
        if not path.exists():
            return []
        entries = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash mid-write
            if isinstance(entry, dict) and entry.get("to"):
                entries.append(entry)
        return entries

    def previous(self, kind: str) -> str | None:
        """The version that was CURRENT before the present one, or None when the history cannot say:
        no history (a store older than HISTORY), a first promotion, or a CURRENT that was changed
        without `promote` (its last entry is not the present CURRENT)."""
        named, history = self.pointer(kind), self.history(kind)
        if named is None or not history or history[-1]["to"] != named:
            return None
        return history[-1].get("from") or None

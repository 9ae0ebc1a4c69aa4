"""The command line the intent and sentiment training commands share.

    python -m services.<kind>.training [--promote] [--force] [--data-dir DIR | --data-root DIR]
                                       [--with-corrections [--tenant T] [--correction-weight W]]

Both build the version their inputs name (reused when one from identical inputs is stored, unless
--force), optionally fold in agents' corrections read from the database (retraining.py says which
are kept, and they enter the fingerprint), and report what they built beside CURRENT as it was
before. What a kind trains on, how it folds corrections in, what its report says and when it
promotes stay in that kind's training.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.ml.model_store import ModelStore, fingerprint
from services.common.ml.retraining import (
    NO_CORRECTIONS,
    CorrectedMessage,
    FoldedCorrections,
    LearningSignals,
    load_signals,
)
from services.common.platform.lifecycle import StartupError
from services.common.platform.settings import ConfigError, Env

StoredVersion = tuple[str, pathlib.Path]  # (version name, folder), as ModelStore gives them


def version_fingerprint(
    head: Sequence[str],
    config: Any,
    inputs: Sequence[str | pathlib.Path],
    corrections: FoldedCorrections = NO_CORRECTIONS,
) -> str:
    """Hash of a build's procedure (`head`), its settings dataclass, its input files and its corrections.

    Without corrections nothing is added for them, so a plain build keeps the version it always had.
    """
    settings = json.dumps(dataclasses.asdict(config), sort_keys=True)
    extra = [corrections.fingerprint_part()] if corrections.used else []
    return fingerprint(*head, settings, *inputs, *extra)


def argument_parser(
    prog: str,
    doc: str,
    *,
    promote_help: str,
    force_help: str,
    data_option: str,
    data_help: str,
    corrections_help: str,
    correction_weight: float,
    weighs_one: str,
) -> argparse.ArgumentParser:
    """The options every training command takes; a kind adds its own to the parser returned.

    `doc` is the command's module docstring (its first paragraph is the description); `data_option`
    is the flag naming the shared data folder; `weighs_one` says what a public-data example is.
    """
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--promote", action="store_true", help=promote_help)
    parser.add_argument("--force", action="store_true", help=force_help)
    parser.add_argument(data_option, type=pathlib.Path, default=None, help=data_help)
    parser.add_argument(
        "--with-corrections",
        action="store_true",
        help=f"fold {corrections_help} from the database (CS_MONGO_URI, CS_MONGO_DATABASE) into training",
    )
    parser.add_argument(
        "--tenant", help="with --with-corrections: only this tenant's corrections (default: all tenants)"
    )
    parser.add_argument(
        "--correction-weight",
        type=float,
        default=correction_weight,
        help=f"sample weight of a corrected text (default {correction_weight:g}; {weighs_one} weighs 1)",
    )
    return parser


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.tenant and not args.with_corrections:
        parser.error("--tenant needs --with-corrections")
    return args


@dataclass(frozen=True)
class Built:
    """What one run of a training command built, and what it had to go on."""

    version: str
    path: pathlib.Path
    before: StoredVersion | None  # CURRENT when the run started
    signals: LearningSignals | None  # None without --with-corrections
    corrections: FoldedCorrections

    @property
    def after(self) -> StoredVersion:
        return self.version, self.path


def build_version(
    args: argparse.Namespace,
    store: ModelStore,
    kind: str,
    prepare: Callable[[Sequence[CorrectedMessage], float], FoldedCorrections],
    build: Callable[[FoldedCorrections], StoredVersion],
    errors: tuple[type[Exception], ...] = (),
) -> Built | None:
    """Read and fold the corrections when asked, then build (or reuse) the version.

    `prepare(corrections, weight)` folds the corrections read; `build(folded)` returns the stored
    version. A bad setting, an unreachable database, an invalid correction weight or one of `errors`
    is said on stderr in one line, and the result is None (the command exits 1).
    """
    before = store.current(kind)
    signals, folded = None, NO_CORRECTIONS
    refusals: tuple[type[Exception], ...] = (*errors, ValueError, ConfigError, StartupError)
    try:
        if args.with_corrections:
            signals = load_signals(Env(), args.tenant)
            folded = prepare(signals.corrections, args.correction_weight)
        version, path = build(folded)
    except refusals as exc:
        print(f"{kind} training failed: {exc}", file=sys.stderr)
        return None
    return Built(version, path, before, signals, folded)


def corrections_scope(signals: LearningSignals) -> str:
    return f"tenant {signals.tenant_id}" if signals.tenant_id else "all tenants"


def skipped_note(folded: FoldedCorrections) -> str:
    """ "; skipped: <reason> <n>, ..." for the corrections not used, "" when all were."""
    skipped = ", ".join(f"{reason} {n}" for reason, n in sorted(folded.skipped.items()))
    return f"; skipped: {skipped}" if skipped else ""


def before_and_after(
    built: Built, describe: Callable[[str, StoredVersion], str], missing: Callable[[str], str]
) -> list[str]:
    """One report line for CURRENT before the run and one for the version built ("before", "after")."""
    return [
        missing(name) if model is None else describe(name, model)
        for name, model in (("before", built.before), ("after", built.after))
    ]

"""The command line every model kind's versions tool speaks (`python -m services.<kind>.versions`).

`cs models` (services/cli/models.py) runs the tool in a subprocess and reads its JSON lines:

    describe PATH...   one JSON line per folder: {"path", "built_at", "headline"} from its training report
    check PATH         load the folder with the engine's own loader and run it on a few samples; the last
                       line says {"ok": true, "detail"} or {"ok": false, "error"}
"""

from __future__ import annotations

import argparse
import json
import pathlib
from collections.abc import Callable


def tool_main(
    argv: list[str] | None,
    describe_one: Callable[[pathlib.Path], dict],
    check_one: Callable[[pathlib.Path], str],
    prog: str,
) -> int:
    """The `describe` / `check` command line of a kind's tool (`python -m services.<kind>.versions`)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="describe or check stored model versions (used by `cs models`)"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("describe").add_argument("paths", nargs="+", type=pathlib.Path)
    sub.add_parser("check").add_argument("path", type=pathlib.Path)
    args = parser.parse_args(argv)
    if args.action == "describe":
        for path in args.paths:
            try:
                info = describe_one(path)
            except Exception as exc:  # one unreadable report must not hide the others
                info = {"error": f"training report unreadable: {type(exc).__name__}: {exc}"[:300]}
            print(json.dumps({"path": str(path), **info}, ensure_ascii=False))
        return 0
    try:
        detail = check_one(args.path)
    except Exception as exc:  # whatever a broken folder raises is the answer
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, ensure_ascii=False))
        return 1
    print(json.dumps({"ok": True, "detail": detail}, ensure_ascii=False))
    return 0

"""Generate the Python protobuf and gRPC stubs for protos/ into services/common/proto/.

Run `python protos/gen_python.py` after editing a .proto file and commit the result; the unit
suite regenerates into a temporary folder and fails when the committed stubs differ.

protoc writes `from cs.v1 import x_pb2`, which only resolves when `cs` is a top-level package;
the stubs live inside `services.common.proto`, so the imports are rewritten to that path.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE = "services.common.proto"
DEFAULT_OUT = ROOT / "services" / "common" / "proto"
_IMPORT = re.compile(r"^from cs\.v1 import ", re.MULTILINE)


def proto_files() -> list[pathlib.Path]:
    return sorted(PROTO_ROOT.glob("cs/v1/*.proto"))


def generate(out: pathlib.Path) -> list[pathlib.Path]:
    """Write stubs under `out` and return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    well_known = pathlib.Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(p.relative_to(PROTO_ROOT)) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {PROTO_ROOT}")
    written = []
    for path in sorted(out.glob("cs/v1/*.py*")):
        text = _IMPORT.sub(f"from {PACKAGE}.cs.v1 import ", path.read_text())
        path.write_text(text)
        written.append(path)
    for pkg in (out, out / "cs", out / "cs" / "v1"):
        init = pkg / "__init__.py"
        if not init.exists():
            init.write_text('"""Generated from protos/ by protos/gen_python.py; do not edit."""\n')
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for path in generate(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The contracts stay honest: stubs match protos/, buf lint passes, service boundaries hold."""

import filecmp
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUF = pathlib.Path(os.environ.get("CS_TOOLS_DIR", "~/.cache/cs-platform/tools")).expanduser() / "bin" / "buf"


def test_committed_stubs_match_the_protos(tmp_path):
    # protoc runs in its own process: grpc_tools' native protoc and onnxruntime-extensions (loaded
    # later by the encoder tests) abort when both are loaded in one process (a pthread mutex assertion).
    result = subprocess.run(
        [sys.executable, str(ROOT / "protos/gen_python.py"), "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    committed = ROOT / "services/common/proto"
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.py*"))
    assert generated, "protoc generated nothing"
    stale = [str(p) for p in generated if not filecmp.cmp(tmp_path / p, committed / p, shallow=False)]
    assert not stale, f"stubs out of date, run `python protos/gen_python.py`: {stale}"


def test_buf_lint_passes():
    buf = str(BUF) if BUF.exists() else shutil.which("buf")
    if buf is None:
        pytest.fail(f"buf is not installed at {BUF}: run make install-dev (deploy/local/install.sh --dev)")
    result = subprocess.run([buf, "lint"], cwd=ROOT / "protos", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_hold():
    lint = pathlib.Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

"""deploy/validate.sh passes: the Kubernetes overlays render and validate (kubeconform -strict against
Kubernetes and Prometheus Operator schemas, kube-score), the alert rules parse, docker compose accepts
docker-compose.yml. The script installs its pinned tools on first use (Go module proxy, one PyPI
download): minutes the first time, seconds once ~/.cache/cs-platform/tools holds them.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.deploy


def test_deployment_files_validate():
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "validate.sh")],
        cwd=ROOT,
        env={**os.environ, "CS_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "all checks passed" in result.stdout

"""The sentiment worker's settings, read once from the environment in main() (see services/common/platform/settings.py).

The worker reads only variables it shares with others, so it declares none of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.ml.model_reload import reload_interval
from services.common.platform.settings import COMMON, Env, Variable
from services.common.worker.runtime import WorkerSettings

OWN: dict[str, Variable] = {}
VARIABLES = {**COMMON, **OWN}


@dataclass(frozen=True)
class SentimentSettings:
    worker: WorkerSettings
    reload_s: float  # 0: no hot reload

    @classmethod
    def from_env(cls, env: Env | None = None) -> SentimentSettings:
        env = env or Env(variables=VARIABLES)
        worker = WorkerSettings.from_env("sentiment", env, default_metrics_port=9103, default_health_port=50062)
        return cls(worker, reload_interval(env))

"""The intent worker's settings, read once from the environment in main() (see services/common/platform/settings.py)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from services.common.ml.model_reload import reload_interval
from services.common.platform.settings import COMMON, ConfigError, Env, Variable, declare
from services.common.worker.runtime import WorkerSettings

OWN = declare(
    "intent",
    Variable("CS_CUSTOMER_TIMEZONE", "UTC", 'IANA time zone relative dates ("yesterday", "上周五") are resolved in'),
)
VARIABLES = {**COMMON, **OWN}


@dataclass(frozen=True)
class IntentSettings:
    worker: WorkerSettings
    timezone: zoneinfo.ZoneInfo  # relative dates in messages are resolved in it
    reload_s: float  # 0: no hot reload

    @classmethod
    def from_env(cls, env: Env | None = None) -> IntentSettings:
        env = env or Env(variables=VARIABLES)
        worker = WorkerSettings.from_env("intent", env, default_metrics_port=9102, default_health_port=50061)
        zone_name = env.str("CS_CUSTOMER_TIMEZONE")
        try:
            timezone = zoneinfo.ZoneInfo(zone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"CS_CUSTOMER_TIMEZONE={zone_name!r} is not an IANA time zone") from None
        return cls(worker, timezone, reload_interval(env))

"""The variables only the `cs` operator commands read; the commands take an `Env` over `VARIABLES`."""

from __future__ import annotations

from services.common.platform.settings import COMMON, Variable, declare

OWN = declare(
    "cli",
    Variable("CS_KAFKA_PARTITIONS", "6", "Partitions per topic when `cs topics create` creates them"),
)
VARIABLES = {**COMMON, **OWN}

"""Every declared variable: the shared ones and each service's own, assembled for the tests that need
the whole list (the README table, the deployment files). Only tests may import every service."""

from __future__ import annotations

from services.cli import settings as cli
from services.common.platform.settings import COMMON, Variable
from services.console import settings as console
from services.gateway import settings as gateway
from services.generator import settings as generator
from services.intent import settings as intent
from services.sentiment import settings as sentiment
from services.webchat import settings as webchat

SETTINGS_MODULES = {
    "gateway": gateway,
    "intent": intent,
    "sentiment": sentiment,
    "generator": generator,
    "cli": cli,
    "webchat": webchat,
    "console": console,
}
OWN: dict[str, dict[str, Variable]] = {service: module.OWN for service, module in SETTINGS_MODULES.items()}
DECLARATIONS: list[dict[str, Variable]] = [COMMON, *OWN.values()]
VARIABLES: dict[str, Variable] = {name: v for declared in DECLARATIONS for name, v in declared.items()}

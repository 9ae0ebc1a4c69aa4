"""Configuration: the environment variables several services read, and typed access to them.

A variable is declared by who reads it: here (`COMMON`) when several services, or shared code, read
it; otherwise in that service's own settings module (`services/<service>/settings.py`, `OWN`), whose
`VARIABLES` is `COMMON` plus its own. Each service builds its typed settings object in `main()` from
an `Env` over its `VARIABLES` and passes it down; nothing reads the environment at import time. A
missing required variable or a value of the wrong type fails at start with one line naming the
variable. The README's configuration table and the deployment drift test are checked against all
the declarations together (tests/unit/all_variables.py).
"""

from __future__ import annotations

import builtins
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and what to set."""


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None  # None: required
    doc: str
    services: tuple[str, ...] = ("all",)  # who reads it; a service's own variables get theirs from `declare`


def declare(service: str, *variables: Variable) -> dict[str, Variable]:
    """`service`'s own variables by name, each marked as read by `service` (its settings module's `OWN`)."""
    return {v.name: replace(v, services=(service,)) for v in variables}


_ALL = ("all",)
_WORKERS = ("intent", "sentiment", "generator")

COMMON: dict[str, Variable] = {
    v.name: v
    for v in [
        Variable("CS_KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated host:port", _ALL),
        Variable("CS_MONGO_URI", "mongodb://127.0.0.1:27017/", "MongoDB (or FerretDB) connection URI", _ALL),
        Variable("CS_MONGO_DATABASE", "cs", "Database name", _ALL),
        Variable(
            "CS_MONGO_OPERATION_TIMEOUT_S",
            "15",
            "Seconds one database reply may take before the call fails and is retried (a database that hangs)",
            _ALL,
        ),
        Variable(
            "CS_TOPIC_PREFIX",
            "cs.",
            "Prefix of every topic name (one prefix per environment); the workers' consumer groups are cs-<service> with the default prefix, <prefix>cs-<service> with any other",
            _ALL,
        ),
        Variable("CS_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR", _ALL),
        Variable(
            "CS_METRICS_PORT",
            None,
            "Port of the Prometheus /metrics endpoint (defaults per service: gateway 9101, intent 9102, sentiment 9103, generator 9104, console 9105, webchat 9106)",
            _ALL,
        ),
        Variable(
            "CS_METRICS_HOST",
            "127.0.0.1",
            "Address /metrics and the workers' health server bind to (0.0.0.0 in containers)",
            _ALL,
        ),
        Variable("CS_INSTANCE_ID", None, "Name of this replica in logs and metrics (default: hostname-pid)", _ALL),
        Variable(
            "CS_STARTUP_TIMEOUT_S", "30", "Seconds to wait for Kafka and the database at start before failing", _ALL
        ),
        Variable(
            "CS_ESCALATION_QUEUES",
            "general,billing,orders,accounts,complaints,technical,vip",
            "Human queues; one topic <prefix>escalations.<queue> each",
            _ALL,
        ),
        Variable(
            "CS_MODEL_DIR",
            "~/.cache/cs-platform/models",
            "Folder of trained/converted model versions",
            (*_WORKERS, "cli"),
        ),
        Variable(
            "CS_MODEL_RELOAD_S",
            "30",
            "Seconds between the intent/sentiment workers' looks at their model's CURRENT version (hot reload); 0 turns it off",
            ("intent", "sentiment"),
        ),
        Variable(
            "CS_TENANT_RELOAD_S",
            "10",
            "Seconds between looks at the tenants' own models and rules (`cs tenants apply`): intent workers load a "
            "new version, the gateway its queues, the generator its routing, without a restart",
            ("intent", "gateway", "generator"),
        ),
        Variable(
            "CS_SHARED_DATA",
            "<repo>/../shared/data",
            "Folder of the public data sets the training commands read",
            _WORKERS,
        ),
        Variable(
            "CS_HEALTH_PORT",
            None,
            "gRPC health port of a worker (defaults: intent 50061, sentiment 50062, generator 50063)",
            _WORKERS,
        ),
        Variable("CS_TORCH_THREADS", "2", "CPU threads for model inference", _WORKERS),
        Variable(
            "CS_WORKER_MAX_ATTEMPTS",
            "6",
            "Tries of one event that fails transiently while Kafka and the database answer, before the worker "
            "gives up on it (handover, dead letter); while a dependency is down it retries without limit",
            _WORKERS,
        ),
    ]
}


def _tenant_reload(env: Env) -> float:
    seconds = env.float("CS_TENANT_RELOAD_S")
    if seconds <= 0:
        raise ConfigError(f"CS_TENANT_RELOAD_S={seconds:g} must be a positive number of seconds")
    return seconds


class Env:
    """Typed access to declared variables; refuses undeclared names so docs cannot drift.

    `variables` is what the caller may read: `COMMON` (the default, for shared code and commands that
    read only shared variables) or a service's `VARIABLES` (`COMMON` plus its own).
    """

    def __init__(self, environ: Mapping[str, str] | None = None, variables: Mapping[str, Variable] = COMMON) -> None:
        self._environ = os.environ if environ is None else environ
        self._variables = variables

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment this reads, for code that parses declared variables itself (PolicyConfig.from_env)."""
        return self._environ

    def _raw(self, name: str, default: str | None = None) -> str | None:
        if name not in self._variables:
            raise KeyError(
                f"{name} is not declared: add it to the OWN variables of the settings module of the "
                "service that reads it (COMMON in services/common/platform/settings.py when several do), "
                "and to the README's configuration table"
            )
        value = self._environ.get(name)
        if value is None or value == "":
            value = default if default is not None else self._variables[name].default
        return value

    def _doc(self, name: str) -> str:
        return self._variables[name].doc

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self._raw(name, default)
        if value is None:
            raise ConfigError(f"{name} is required: {self._doc(name)}")
        return value

    def optional(self, name: builtins.str) -> builtins.str | None:
        return self._raw(name)

    def int(self, name: builtins.str, default: builtins.int | None = None) -> builtins.int:
        raw = self.str(name, None if default is None else str(default))
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer: {self._doc(name)}") from None

    def float(self, name: builtins.str, default: builtins.float | None = None) -> builtins.float:
        raw = self.str(name, None if default is None else str(default))
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number: {self._doc(name)}") from None

    def bool(self, name: builtins.str) -> builtins.bool:
        raw = self.str(name).strip().lower()
        if raw in ("true", "1", "yes", "on"):
            return True
        if raw in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r} is not true or false: {self._doc(name)}")

    def list(self, name: builtins.str) -> builtins.list[builtins.str]:
        return [item.strip() for item in self.str(name).split(",") if item.strip()]

    def addr(self, name: builtins.str, default: builtins.str | None = None) -> tuple[builtins.str, builtins.int]:
        raw = self.str(name, default)
        host, sep, port = raw.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ConfigError(f"{name}={raw!r} is not host:port")
        return host, int(port)


@dataclass(frozen=True)
class CommonSettings:
    service: str
    instance_id: str
    kafka_bootstrap: str
    mongo_uri: str
    mongo_database: str
    topic_prefix: str
    log_level: str
    metrics_host: str
    metrics_port: int
    startup_timeout_s: float
    escalation_queues: tuple[str, ...]
    mongo_operation_timeout_s: float = 15.0
    tenant_reload_s: float = 10.0  # tenants' own models, queues and routing (services/common/storage/tenant_models.py)

    @classmethod
    def from_env(cls, service: str, default_metrics_port: int, env: Env | None = None) -> CommonSettings:
        env = env or Env()
        level = env.str("CS_LOG_LEVEL").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"CS_LOG_LEVEL={level!r} must be DEBUG, INFO, WARNING or ERROR")
        queues = tuple(env.list("CS_ESCALATION_QUEUES"))
        if not queues:
            raise ConfigError("CS_ESCALATION_QUEUES must name at least one queue")
        for queue in queues:
            if not queue.replace("_", "").replace("-", "").isalnum():
                raise ConfigError(
                    f"CS_ESCALATION_QUEUES: {queue!r} is not a valid queue name (letters, digits, - and _)"
                )
        if env.float("CS_MONGO_OPERATION_TIMEOUT_S") <= 0:
            raise ConfigError("CS_MONGO_OPERATION_TIMEOUT_S must be a positive number of seconds")
        return cls(
            service=service,
            instance_id=env.optional("CS_INSTANCE_ID") or f"{socket.gethostname()}-{os.getpid()}",
            kafka_bootstrap=env.str("CS_KAFKA_BOOTSTRAP"),
            mongo_uri=env.str("CS_MONGO_URI"),
            mongo_database=env.str("CS_MONGO_DATABASE"),
            topic_prefix=env.str("CS_TOPIC_PREFIX"),
            log_level=level,
            metrics_host=env.str("CS_METRICS_HOST"),
            metrics_port=env.int("CS_METRICS_PORT", default_metrics_port),
            startup_timeout_s=env.float("CS_STARTUP_TIMEOUT_S"),
            mongo_operation_timeout_s=env.float("CS_MONGO_OPERATION_TIMEOUT_S"),
            escalation_queues=queues,
            tenant_reload_s=_tenant_reload(env),
        )

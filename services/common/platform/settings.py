"""Configuration: every environment variable the platform reads, declared once.

Each service builds its typed settings object in `main()` from these declarations and passes it
down; nothing reads the environment at import time. A missing required variable or a value of the
wrong type fails at start with one line naming the variable. The README's configuration table and
the deployment drift test are generated from / checked against `VARIABLES`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable and what to set."""


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None  # None: required
    doc: str
    services: tuple[str, ...] = ("all",)


_ALL = ("all",)
_WORKERS = ("intent", "sentiment", "generator")

VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in [
        Variable("CS_KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated host:port", _ALL),
        Variable("CS_MONGO_URI", "mongodb://127.0.0.1:27017/", "MongoDB (or FerretDB) connection URI", _ALL),
        Variable("CS_MONGO_DATABASE", "cs", "Database name", _ALL),
        Variable("CS_TOPIC_PREFIX", "cs.", "Prefix of every topic name (one prefix per environment); the workers' consumer groups are cs-<service> with the default prefix, <prefix>cs-<service> with any other", _ALL),
        Variable("CS_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR", _ALL),
        Variable("CS_METRICS_PORT", None, "Port of the Prometheus /metrics endpoint (defaults per service: gateway 9101, intent 9102, sentiment 9103, generator 9104)", _ALL),
        Variable("CS_METRICS_HOST", "127.0.0.1", "Address /metrics and the workers' health server bind to (0.0.0.0 in containers)", _ALL),
        Variable("CS_INSTANCE_ID", None, "Name of this replica in logs and metrics (default: hostname-pid)", _ALL),
        Variable("CS_STARTUP_TIMEOUT_S", "30", "Seconds to wait for Kafka and the database at start before failing", _ALL),
        Variable("CS_KAFKA_PARTITIONS", "6", "Partitions per topic when `cs topics create` creates them", ("cli",)),
        Variable("CS_ESCALATION_QUEUES", "general,billing,orders,accounts,complaints,technical,vip", "Human queues; one topic <prefix>escalations.<queue> each", _ALL),
        Variable("CS_MODEL_DIR", "~/.cache/cs-platform/models", "Folder of trained/converted model versions", (*_WORKERS, "cli")),
        Variable("CS_MODEL_RELOAD_S", "30", "Seconds between the intent/sentiment workers' looks at their model's CURRENT version (hot reload); 0 turns it off", ("intent", "sentiment")),
        Variable("CS_SHARED_DATA", "<repo>/../shared/data", "Folder of the public data sets the training commands read", _WORKERS),
        Variable("CS_CUSTOMER_TIMEZONE", "UTC", "IANA time zone relative dates (\"yesterday\", \"上周五\") are resolved in", ("intent",)),
        Variable("CS_HEALTH_PORT", None, "gRPC health port of a worker (defaults: intent 50061, sentiment 50062, generator 50063)", _WORKERS),
        Variable("CS_GATEWAY_LISTEN", "127.0.0.1:50051", "host:port the gateway's public gRPC server (customer and agent API, health) binds to", ("gateway",)),
        Variable("CS_GATEWAY_SINK_LISTEN", "127.0.0.1:0", "host:port the gateway's internal reply sink (the generator's token stream) binds to; port 0: any free port", ("gateway",)),
        Variable("CS_GATEWAY_ADVERTISED_ADDR", None, "Address the generator reaches this replica's reply sink at (default: the CS_GATEWAY_SINK_LISTEN host with the bound port; a host without a port, or with port 0, gets the bound port)", ("gateway",)),
        Variable("CS_GATEWAY_MAX_MESSAGE_CHARS", "4000", "Longest accepted customer or agent message, in characters", ("gateway",)),
        Variable("CS_GATEWAY_RATE_PER_MINUTE", "120", "Requests per minute allowed per API key (token bucket)", ("gateway",)),
        Variable("CS_GATEWAY_SEND_TIMEOUT_S", "5", "Seconds SendMessage waits for Kafka acks=all before answering UNAVAILABLE", ("gateway",)),
        Variable("CS_GATEWAY_TLS_CERT", "", "PEM certificate (chain) the gateway serves TLS with; empty: plaintext (set with CS_GATEWAY_TLS_KEY)", ("gateway",)),
        Variable("CS_GATEWAY_TLS_KEY", "", "PEM private key of CS_GATEWAY_TLS_CERT; both or neither", ("gateway",)),
        Variable("CS_GATEWAY_TLS_CA", "", "PEM CA the generator trusts when streaming tokens to a gateway serving TLS; empty: plaintext", ("generator",)),
        Variable("CS_GENERATOR_MAX_NEW_TOKENS", "80", "Longest generated answer, in tokens", ("generator",)),
        Variable("CS_GENERATOR_DEVICE", "auto", "auto, cpu or cuda", ("generator",)),
        Variable("CS_TORCH_THREADS", "2", "CPU threads for model inference", _WORKERS),
        Variable("CS_GENERATOR_BATCH_WINDOW_MS", "10", "How long the LLM engine waits to gather concurrent requests into a batch", ("generator",)),
        Variable("CS_GENERATOR_MAX_BATCH", "8", "Most conversations generated together", ("generator",)),
        Variable("CS_GENERATOR_REQUIRE_KNOWLEDGE", "true", "Hand a question over (NO_KNOWLEDGE) when no knowledge-base passage is about it; false: answer ungrounded", ("generator",)),
        Variable("CS_KNOWLEDGE_TOP_K", "3", "Knowledge-base passages put in the prompt", ("generator",)),
        Variable("CS_KNOWLEDGE_MIN_SCORE", "0.3", "Cosine similarity below which a passage is not about the question", ("generator",)),
        Variable("CS_KNOWLEDGE_REFRESH_S", "10", "Seconds between checks for a newly ingested knowledge base (no restart needed)", ("generator",)),
        # Routing policy (services/generator/policy.py PolicyConfig.from_env); empty = built-in default.
        Variable("CS_POLICY_ANGER_THRESHOLD", "0.75", "anger score at or above which a conversation escalates (ANGER)", ("generator",)),
        Variable("CS_POLICY_URGENT_ANGER", "0.9", "anger score at or above which the escalation is URGENT", ("generator",)),
        Variable("CS_POLICY_WORSENING_SLOPE", "0.2", "a worsening trend with slope <= -this escalates (WORSENING_SENTIMENT)...", ("generator",)),
        Variable("CS_POLICY_WORSENING_MAX_SCORE", "-0.3", "...only while the sentiment score is below this (-0.3: clearly negative)", ("generator",)),
        Variable("CS_POLICY_LOW_CONFIDENCE", "0.5", "intent confidence below this counts as not understood", ("generator",)),
        Variable("CS_POLICY_NOT_UNDERSTOOD_TURNS", "2", "consecutive out-of-scope / low-confidence messages before escalating", ("generator",)),
        Variable("CS_POLICY_LOOP_REPEATS", "3", "times the same question is asked (each answered by the bot) before BOT_LOOP", ("generator",)),
        Variable("CS_POLICY_LOOP_SIMILARITY", "0.6", "character-bigram similarity that counts as the same question", ("generator",)),
        Variable("CS_POLICY_LOOP_MIN_CHARS", "4", "shorter messages never count as repeats", ("generator",)),
        Variable("CS_POLICY_LOOP_BOT_ANSWERS", "3", "bot answers in a row on the same intent before BOT_LOOP", ("generator",)),
        Variable("CS_POLICY_LOOP_WINDOW_S", "600", "only bot answers within this many seconds count towards a loop", ("generator",)),
        Variable("CS_POLICY_VIP_TIERS", "vip,platinum", "customer tiers treated as VIP", ("generator",)),
        Variable("CS_POLICY_VIP_ALWAYS_HUMAN", "false", "VIP customers always go to a human", ("generator",)),
        Variable("CS_POLICY_HUMAN_INTENTS", "contact_human_agent", "intents that mean the customer asks for a human", ("generator",)),
        Variable("CS_POLICY_COMPLAINT_INTENTS", "complaint", "intents that escalate as complaints", ("generator",)),
        Variable("CS_POLICY_LEGAL_INTENTS", "", "intents that escalate as legal (the Bitext set has none; text cues catch legal threats)", ("generator",)),
        Variable("CS_POLICY_HUMAN_CUES", "", "comma-separated zh/en phrases meaning 'a human please' (empty: built-in list)", ("generator",)),
        Variable("CS_POLICY_LEGAL_CUES", "", "comma-separated legal-threat phrases (empty: built-in list)", ("generator",)),
        Variable("CS_POLICY_COMPLAINT_CUES", "", "comma-separated complaint phrases (empty: built-in list)", ("generator",)),
        Variable("CS_POLICY_CUE_EXCLUSIONS", "", "phrases removed before cue matching, e.g. 'artificial intelligence' (empty: built-in list)", ("generator",)),
        Variable("CS_POLICY_INTENT_QUEUES", "", "intent:queue pairs merged over the built-in map (billing, orders, accounts)", ("generator",)),
        Variable("CS_POLICY_DEFAULT_QUEUE", "general", "queue when no rule names one", ("generator",)),
        Variable("CS_POLICY_COMPLAINT_QUEUE", "complaints", "queue for complaints and legal threats", ("generator",)),
        Variable("CS_POLICY_VIP_QUEUE", "vip", "queue for VIP escalations ('none' keeps VIPs in their topic's queue)", ("generator",)),
    ]
}


class Env:
    """Typed access to declared variables; refuses undeclared names so docs cannot drift."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def _raw(self, name: str, default: str | None = None) -> str | None:
        if name not in VARIABLES:
            raise KeyError(f"{name} is not declared in services/common/platform/settings.py VARIABLES")
        value = self._environ.get(name)
        if value is None or value == "":
            value = default if default is not None else VARIABLES[name].default
        return value

    def str(self, name: str, default: str | None = None) -> str:
        value = self._raw(name, default)
        if value is None:
            raise ConfigError(f"{name} is required: {VARIABLES[name].doc}")
        return value

    def optional(self, name: str) -> str | None:
        return self._raw(name)

    def int(self, name: str, default: int | None = None) -> int:
        raw = self.str(name, None if default is None else str(default))
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer: {VARIABLES[name].doc}") from None

    def float(self, name: str, default: float | None = None) -> float:
        raw = self.str(name, None if default is None else str(default))
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number: {VARIABLES[name].doc}") from None

    def bool(self, name: str) -> bool:
        raw = self.str(name).strip().lower()
        if raw in ("true", "1", "yes", "on"):
            return True
        if raw in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r} is not true or false: {VARIABLES[name].doc}")

    def list(self, name: str) -> list[str]:
        return [item.strip() for item in self.str(name).split(",") if item.strip()]

    def addr(self, name: str, default: str | None = None) -> tuple[str, int]:
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
                raise ConfigError(f"CS_ESCALATION_QUEUES: {queue!r} is not a valid queue name (letters, digits, - and _)")
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
            escalation_queues=queues,
        )

"""The console's settings, read once from the environment in main() (see services/common/platform/settings.py).

The console talks only to the gateway (never Kafka or the database): of the shared variables it
reads only the log level, the metrics address and the instance id. Which queues a tenant has, the
gateway says (AgentService.ListQueues: the platform's and the tenant file's own).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass, field

from services.common.platform.settings import COMMON, ConfigError, Env, Variable, declare

log = logging.getLogger(__name__)

OWN = declare(
    "console",
    Variable("CS_CONSOLE_LISTEN", "127.0.0.1:8080", "host:port the console's web server binds to"),
    Variable("CS_CONSOLE_GATEWAY", "127.0.0.1:50051", "host:port of the gateway's public gRPC API"),
    Variable("CS_CONSOLE_TENANT", "demo-retail", "Tenant whose agents and supervisors sign in to this console"),
    Variable(
        "CS_CONSOLE_SECRET",
        "",
        "Key that signs the session cookies (HMAC-SHA256): the same on every replica, at least 32 characters; empty: a random one per process (sessions end when it restarts)",
    ),
    Variable(
        "CS_CONSOLE_COOKIE_SECURE", "false", "Mark the session cookie Secure (true behind HTTPS, which production is)"
    ),
    Variable("CS_CONSOLE_SERVICE_LEVEL_S", "60", "Wallboard service-level target: claimed within this many seconds"),
    Variable(
        "CS_CONSOLE_ABANDON_S",
        "600",
        "Wallboard: a conversation still waiting after this many seconds counts as abandoned",
    ),
    Variable(
        "CS_CONSOLE_WAIT_AMBER_S",
        "60",
        "Wallboard and inbox: a wait from this many seconds shows amber (red from CS_CONSOLE_WAIT_RED_S)",
    ),
    Variable("CS_CONSOLE_WAIT_RED_S", "300", "Wallboard and inbox: a wait from this many seconds shows red"),
    Variable("CS_CONSOLE_SL_GREEN", "0.8", "Wallboard: a service level from this share (0..1) shows green"),
    Variable("CS_CONSOLE_SL_AMBER", "0.6", "Wallboard: a service level from this share shows amber (below it: red)"),
    Variable("CS_CONSOLE_WALLBOARD_REFRESH_S", "2", "Seconds between the wallboard's updates"),
)
VARIABLES = {**COMMON, **OWN}


@dataclass(frozen=True)
class ConsoleSettings:
    listen_host: str
    listen_port: int
    gateway: str
    tenant_id: str
    secret: bytes = field(repr=False)
    cookie_secure: bool
    service_level_s: int
    abandon_s: int
    wait_amber_s: int
    wait_red_s: int
    wallboard_refresh_s: float
    sl_green: float = 0.8
    sl_amber: float = 0.6
    log_level: str = "INFO"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9105
    instance_id: str = ""

    @classmethod
    def from_env(cls, env: Env | None = None) -> ConsoleSettings:
        env = env or Env(variables=VARIABLES)
        host, port = env.addr("CS_CONSOLE_LISTEN")
        env.addr("CS_CONSOLE_GATEWAY")
        secret = env.str("CS_CONSOLE_SECRET")
        if secret and len(secret) < 32:
            raise ConfigError("CS_CONSOLE_SECRET must have at least 32 characters (or be empty for a random one)")
        if not secret:
            log.warning("CS_CONSOLE_SECRET is empty: sessions are signed with a random key and end at restart")
        amber, red = env.int("CS_CONSOLE_WAIT_AMBER_S"), env.int("CS_CONSOLE_WAIT_RED_S")
        if not 0 < amber < red:
            raise ConfigError("CS_CONSOLE_WAIT_AMBER_S must be positive and below CS_CONSOLE_WAIT_RED_S")
        sl_green, sl_amber = env.float("CS_CONSOLE_SL_GREEN"), env.float("CS_CONSOLE_SL_AMBER")
        if not 0 <= sl_amber <= sl_green <= 1:
            raise ConfigError(
                "CS_CONSOLE_SL_AMBER and CS_CONSOLE_SL_GREEN must be shares with 0 <= amber <= green <= 1"
            )
        level = env.str("CS_LOG_LEVEL").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"CS_LOG_LEVEL={level!r} must be DEBUG, INFO, WARNING or ERROR")
        return cls(
            listen_host=host,
            listen_port=port,
            gateway=env.str("CS_CONSOLE_GATEWAY"),
            tenant_id=env.str("CS_CONSOLE_TENANT"),
            secret=secret.encode() if secret else secrets.token_bytes(32),
            cookie_secure=env.bool("CS_CONSOLE_COOKIE_SECURE"),
            service_level_s=env.int("CS_CONSOLE_SERVICE_LEVEL_S"),
            abandon_s=env.int("CS_CONSOLE_ABANDON_S"),
            wait_amber_s=amber,
            wait_red_s=red,
            wallboard_refresh_s=env.float("CS_CONSOLE_WALLBOARD_REFRESH_S"),
            sl_green=sl_green,
            sl_amber=sl_amber,
            log_level=level,
            metrics_host=env.str("CS_METRICS_HOST"),
            metrics_port=env.int("CS_METRICS_PORT", 9105),
            instance_id=env.optional("CS_INSTANCE_ID") or f"{socket.gethostname()}-{os.getpid()}",
        )

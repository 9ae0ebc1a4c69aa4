"""The web-chat service's settings, read once from the environment in main().

The service reads no Kafka or database setting: it is a gRPC client of the gateway and nothing else.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from services.common.platform.settings import COMMON, ConfigError, Env, Variable, declare
from services.common.platform.tls import read_pem

MIN_SECRET_CHARS = 32

OWN = declare(
    "webchat",
    Variable(
        "CS_WEBCHAT_LISTEN",
        "127.0.0.1:8090",
        "host:port the web-chat HTTP server (widget.js, visitor API, health) binds to",
    ),
    Variable(
        "CS_WEBCHAT_PUBLIC_URL",
        "",
        "URL browsers reach the web-chat server at, as the demo page's script tag names it (default: http://CS_WEBCHAT_LISTEN)",
    ),
    Variable("CS_WEBCHAT_GATEWAY", "127.0.0.1:50051", "host:port of the gateway's public gRPC API"),
    Variable(
        "CS_WEBCHAT_GATEWAY_TLS_CA",
        "",
        "PEM CA to connect to the gateway with TLS (a gateway with CS_GATEWAY_TLS_CERT); empty: plaintext",
    ),
    Variable(
        "CS_WEBCHAT_CHANNEL_KEY",
        None,
        "The gateway API key of role channel (cs keys create --role channel) the service calls the gateway with; never sent to browsers",
    ),
    Variable(
        "CS_WEBCHAT_TOKEN_SECRET",
        None,
        f"Secret (at least {MIN_SECRET_CHARS} characters) visitor tokens are signed with (HMAC-SHA256); the same on every replica",
    ),
    Variable("CS_WEBCHAT_TOKEN_TTL_S", "3600", "Seconds a visitor token is valid; the widget renews it while it is"),
    Variable("CS_WEBCHAT_VISITOR_RATE_PER_MINUTE", "30", "Requests per minute allowed per visitor token"),
    Variable(
        "CS_WEBCHAT_ADDRESS_RATE_PER_MINUTE",
        "300",
        "Requests per minute allowed per client address (all visitors behind it together; new tokens count too)",
    ),
    Variable(
        "CS_WEBCHAT_MAX_MESSAGE_CHARS",
        "4000",
        "Longest message a visitor may send, in characters (keep it at most CS_GATEWAY_MAX_MESSAGE_CHARS)",
    ),
    Variable(
        "CS_WEBCHAT_DEMO_LISTEN",
        "",
        "host:port of a second HTTP server with a demo page embedding the widget (its own origin); empty: none",
    ),
    Variable("CS_WEBCHAT_DEMO_WIDGET_KEY", "", "Widget key the demo page embeds (cs widget-keys create)"),
)
# Like every service's, though of the shared variables it reads only CS_LOG_LEVEL, CS_METRICS_PORT,
# CS_METRICS_HOST and CS_INSTANCE_ID: no Kafka, no database.
VARIABLES = {**COMMON, **OWN}
DEFAULT_METRICS_PORT = 9106


@dataclass(frozen=True)
class WebchatSettings:
    instance_id: str
    log_level: str
    metrics_host: str
    metrics_port: int
    listen: tuple[str, int]
    public_url: str
    gateway: str
    channel_key: str = field(repr=False)
    token_secret: bytes = field(repr=False)
    token_ttl_s: int = 3600
    visitor_rate_per_minute: int = 30
    address_rate_per_minute: int = 300
    max_message_chars: int = 4000
    demo_listen: tuple[str, int] | None = None
    demo_widget_key: str = ""
    gateway_ca: bytes | None = None

    @classmethod
    def from_env(cls, env: Env | None = None) -> WebchatSettings:
        env = env or Env(variables=VARIABLES)
        level = env.str("CS_LOG_LEVEL").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"CS_LOG_LEVEL={level!r} must be DEBUG, INFO, WARNING or ERROR")
        secret = env.str("CS_WEBCHAT_TOKEN_SECRET")
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"CS_WEBCHAT_TOKEN_SECRET has {len(secret)} characters; use at least {MIN_SECRET_CHARS} random ones "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        numbers = {
            name: env.int(name)
            for name in (
                "CS_WEBCHAT_TOKEN_TTL_S",
                "CS_WEBCHAT_VISITOR_RATE_PER_MINUTE",
                "CS_WEBCHAT_ADDRESS_RATE_PER_MINUTE",
                "CS_WEBCHAT_MAX_MESSAGE_CHARS",
            )
        }
        for name, value in numbers.items():
            if value < 1:
                raise ConfigError(f"{name}={value} must be positive")
        listen = env.addr("CS_WEBCHAT_LISTEN")
        demo = env.optional("CS_WEBCHAT_DEMO_LISTEN")
        ca_path = env.optional("CS_WEBCHAT_GATEWAY_TLS_CA")
        return cls(
            instance_id=env.optional("CS_INSTANCE_ID") or f"{socket.gethostname()}-{os.getpid()}",
            log_level=level,
            metrics_host=env.str("CS_METRICS_HOST"),
            metrics_port=env.int("CS_METRICS_PORT", DEFAULT_METRICS_PORT),
            listen=listen,
            public_url=(env.optional("CS_WEBCHAT_PUBLIC_URL") or f"http://{listen[0]}:{listen[1]}").rstrip("/"),
            gateway=env.str("CS_WEBCHAT_GATEWAY"),
            channel_key=env.str("CS_WEBCHAT_CHANNEL_KEY"),
            token_secret=secret.encode(),
            token_ttl_s=numbers["CS_WEBCHAT_TOKEN_TTL_S"],
            visitor_rate_per_minute=numbers["CS_WEBCHAT_VISITOR_RATE_PER_MINUTE"],
            address_rate_per_minute=numbers["CS_WEBCHAT_ADDRESS_RATE_PER_MINUTE"],
            max_message_chars=numbers["CS_WEBCHAT_MAX_MESSAGE_CHARS"],
            demo_listen=env.addr("CS_WEBCHAT_DEMO_LISTEN") if demo else None,
            demo_widget_key=env.optional("CS_WEBCHAT_DEMO_WIDGET_KEY") or "",
            gateway_ca=read_pem(ca_path, "CS_WEBCHAT_GATEWAY_TLS_CA") if ca_path else None,
        )

"""The gateway's settings, read once from the environment in main() (see services/common/platform/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.platform.settings import COMMON, CommonSettings, ConfigError, Env, Variable, declare
from services.common.platform.tls import read_pem

ADVERTISED = "CS_GATEWAY_ADVERTISED_ADDR"

OWN = declare(
    "gateway",
    Variable(
        "CS_GATEWAY_LISTEN",
        "127.0.0.1:50051",
        "host:port the gateway's public gRPC server (customer and agent API, health) binds to",
    ),
    Variable(
        "CS_GATEWAY_SINK_LISTEN",
        "127.0.0.1:0",
        "host:port the gateway's internal reply sink (the generator's token stream) binds to; port 0: any free port",
    ),
    Variable(
        ADVERTISED,
        None,
        "Address the generator reaches this replica's reply sink at (default: the CS_GATEWAY_SINK_LISTEN host with the bound port; a host without a port, or with port 0, gets the bound port)",
    ),
    Variable("CS_GATEWAY_MAX_MESSAGE_CHARS", "4000", "Longest accepted customer or agent message, in characters"),
    Variable("CS_GATEWAY_RATE_PER_MINUTE", "120", "Requests per minute allowed per API key (token bucket)"),
    Variable(
        "CS_GATEWAY_AUTH_FAILURES_PER_MINUTE",
        "30",
        "Failed authentications (unknown or revoked keys) allowed per client address per minute; beyond it the "
        "address gets RESOURCE_EXHAUSTED without a database lookup (known keys from it still work)",
    ),
    Variable(
        "CS_GATEWAY_SEND_TIMEOUT_S", "5", "Seconds SendMessage waits for Kafka acks=all before answering UNAVAILABLE"
    ),
    Variable(
        "CS_GATEWAY_TLS_CERT",
        "",
        "PEM certificate (chain) the gateway serves TLS with; empty: plaintext (set with CS_GATEWAY_TLS_KEY)",
    ),
    Variable("CS_GATEWAY_TLS_KEY", "", "PEM private key of CS_GATEWAY_TLS_CERT; both or neither"),
    Variable(
        "CS_GATEWAY_AUTH_CACHE_S",
        "30",
        "Seconds a checked key is trusted without looking again: a revoked key, or a disabled account's credential, stops working within this",
    ),
    Variable("CS_GATEWAY_SESSION_TTL_S", "3600", "Seconds a console sign-in credential (AccountService.SignIn) lasts"),
    Variable(
        "CS_GATEWAY_SIGNIN_FAILURES_PER_MINUTE",
        "5",
        "Failed sign-ins allowed per account name per minute (four times as many per client address); beyond it SignIn answers RESOURCE_EXHAUSTED",
    ),
    Variable(
        "CS_GATEWAY_EVENT_LOG_RETENTION_H",
        "168",
        "Hours the watch streams' resume logs keep an entry (at least 24: the wallboard's day); older ones are deleted hourly, each log's newest entry kept",
    ),
)
VARIABLES = {**COMMON, **OWN}


@dataclass(frozen=True)
class GatewaySettings:
    common: CommonSettings
    listen: str  # public: customer and agent API, health
    sink_listen: str  # internal: the generator's reply stream (ReplySinkService)
    sink_advertised: str | None  # as configured (None: unset); advertised_sink_addr() completes it once bound
    max_message_chars: int
    rate_per_minute: int
    send_timeout_s: float
    auth_failures_per_minute: int = 30
    tls_cert: bytes | None = None  # None: plaintext
    tls_key: bytes | None = field(default=None, repr=False)
    auth_cache_s: float = 30.0
    session_ttl_s: float = 3600.0
    signin_failures_per_minute: int = 5
    event_log_retention_h: float = 168.0

    @classmethod
    def from_env(cls, env: Env | None = None) -> GatewaySettings:
        env = env or Env(variables=VARIABLES)
        common = CommonSettings.from_env("gateway", 9101, env)
        host, port = env.addr("CS_GATEWAY_LISTEN")
        listen = f"{host}:{port}"
        sink_host, sink_port = env.addr("CS_GATEWAY_SINK_LISTEN")
        sink_listen = f"{sink_host}:{sink_port}"
        sink_advertised = env.optional(ADVERTISED)
        if sink_advertised is not None:
            _host_and_port(sink_advertised)  # fails at start, not at the first reply stream
        max_chars = env.int("CS_GATEWAY_MAX_MESSAGE_CHARS")
        rate = env.int("CS_GATEWAY_RATE_PER_MINUTE")
        if max_chars < 1 or rate < 1:
            raise ConfigError("CS_GATEWAY_MAX_MESSAGE_CHARS and CS_GATEWAY_RATE_PER_MINUTE must be positive")
        auth_failures = env.int("CS_GATEWAY_AUTH_FAILURES_PER_MINUTE")
        if auth_failures < 1:
            raise ConfigError("CS_GATEWAY_AUTH_FAILURES_PER_MINUTE must be positive")
        cert_path, key_path = env.optional("CS_GATEWAY_TLS_CERT"), env.optional("CS_GATEWAY_TLS_KEY")
        if bool(cert_path) != bool(key_path):
            given, missing = (
                ("CS_GATEWAY_TLS_CERT", "CS_GATEWAY_TLS_KEY")
                if cert_path
                else ("CS_GATEWAY_TLS_KEY", "CS_GATEWAY_TLS_CERT")
            )
            raise ConfigError(f"{given} is set but {missing} is not: set both for TLS, or neither for plaintext")
        return cls(
            common=common,
            listen=listen,
            sink_listen=sink_listen,
            sink_advertised=sink_advertised,
            max_message_chars=max_chars,
            rate_per_minute=rate,
            send_timeout_s=env.float("CS_GATEWAY_SEND_TIMEOUT_S"),
            auth_failures_per_minute=auth_failures,
            tls_cert=read_pem(cert_path, "CS_GATEWAY_TLS_CERT") if cert_path else None,
            tls_key=read_pem(key_path, "CS_GATEWAY_TLS_KEY") if key_path else None,
            **_console_settings(env),
        )


def _host_and_port(address: str) -> tuple[str, int | None]:
    """The host and port of `host:port`; port None for a bare `host` or `[v6-address]`; a ConfigError
    naming CS_GATEWAY_ADVERTISED_ADDR (the only address given without a port) otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or address.endswith("]"):
        return address, None
    if not host or not port.isdigit():
        raise ConfigError(f"{ADVERTISED}={address!r} is not host, host:port or [ipv6]:port")
    return host, int(port)


def advertised_sink_addr(configured: str | None, sink_listen: str, bound_port: int) -> str:
    """Where the generator reaches this replica's reply sink, known once the sink's port is bound.

    Unset: the sink's listen host with the bound port (the default 127.0.0.1:0 takes any free port,
    so gateways sharing a host never collide). A host without a port, or with port 0: that host with
    the bound port (compose sets the service name). A full host:port is used as given (Kubernetes:
    $(POD_IP):50052).
    """
    host, port = _host_and_port(configured or sink_listen)
    return f"{host}:{port or bound_port}"


def _console_settings(env: Env) -> dict:
    """The settings of sign-in and the key cache (the console's side of the gateway)."""
    values = {
        "auth_cache_s": env.float("CS_GATEWAY_AUTH_CACHE_S"),
        "session_ttl_s": env.float("CS_GATEWAY_SESSION_TTL_S"),
        "signin_failures_per_minute": env.int("CS_GATEWAY_SIGNIN_FAILURES_PER_MINUTE"),
        "event_log_retention_h": env.float("CS_GATEWAY_EVENT_LOG_RETENTION_H"),
    }
    if values["auth_cache_s"] < 0 or values["session_ttl_s"] <= 0 or values["signin_failures_per_minute"] < 1:
        raise ConfigError(
            "CS_GATEWAY_AUTH_CACHE_S must be >= 0, CS_GATEWAY_SESSION_TTL_S and CS_GATEWAY_SIGNIN_FAILURES_PER_MINUTE positive"
        )
    if values["event_log_retention_h"] < 24:
        raise ConfigError(
            f"CS_GATEWAY_EVENT_LOG_RETENTION_H must be at least 24 (the wallboard shows a day), not {values['event_log_retention_h']}"
        )
    return values

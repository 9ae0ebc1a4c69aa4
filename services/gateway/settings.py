"""The gateway's settings, read once from the environment in main() (see services/common/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.settings import CommonSettings, ConfigError, Env
from services.common.tls import read_pem


@dataclass(frozen=True)
class GatewaySettings:
    common: CommonSettings
    listen: str
    advertised_addr: str
    max_message_chars: int
    rate_per_minute: int
    send_timeout_s: float
    tls_cert: bytes | None = None  # None: plaintext
    tls_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Env | None = None) -> GatewaySettings:
        env = env or Env()
        common = CommonSettings.from_env("gateway", 9101, env)
        host, port = env.addr("CS_GATEWAY_LISTEN")
        listen = f"{host}:{port}"
        max_chars = env.int("CS_GATEWAY_MAX_MESSAGE_CHARS")
        rate = env.int("CS_GATEWAY_RATE_PER_MINUTE")
        if max_chars < 1 or rate < 1:
            raise ConfigError("CS_GATEWAY_MAX_MESSAGE_CHARS and CS_GATEWAY_RATE_PER_MINUTE must be positive")
        cert_path, key_path = env.optional("CS_GATEWAY_TLS_CERT"), env.optional("CS_GATEWAY_TLS_KEY")
        if bool(cert_path) != bool(key_path):
            given, missing = ("CS_GATEWAY_TLS_CERT", "CS_GATEWAY_TLS_KEY") if cert_path else ("CS_GATEWAY_TLS_KEY", "CS_GATEWAY_TLS_CERT")
            raise ConfigError(f"{given} is set but {missing} is not: set both for TLS, or neither for plaintext")
        return cls(
            common=common,
            listen=listen,
            advertised_addr=env.optional("CS_GATEWAY_ADVERTISED_ADDR") or listen,
            max_message_chars=max_chars,
            rate_per_minute=rate,
            send_timeout_s=env.float("CS_GATEWAY_SEND_TIMEOUT_S"),
            tls_cert=read_pem(cert_path, "CS_GATEWAY_TLS_CERT") if cert_path else None,
            tls_key=read_pem(key_path, "CS_GATEWAY_TLS_KEY") if key_path else None,
        )

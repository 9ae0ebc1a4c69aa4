"""Gateway settings: TLS needs both the certificate and its key, each a readable PEM file."""

import pytest

from services.common.settings import ConfigError, Env
from services.gateway.settings import GatewaySettings

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_plaintext_by_default():
    assert GatewaySettings.from_env(Env({})).tls_cert is None


def test_certificate_and_key_are_read_and_the_key_is_kept_out_of_repr(tmp_path):
    (tmp_path / "c.pem").write_bytes(PEM)
    (tmp_path / "k.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
    settings = GatewaySettings.from_env(Env({"CS_GATEWAY_TLS_CERT": str(tmp_path / "c.pem"),
                                             "CS_GATEWAY_TLS_KEY": str(tmp_path / "k.pem")}))
    assert settings.tls_cert == PEM and b"secret" in settings.tls_key
    assert "secret" not in repr(settings)


@pytest.mark.parametrize("env, phrase", [
    ({"CS_GATEWAY_TLS_CERT": "c.pem"}, "CS_GATEWAY_TLS_CERT is set but CS_GATEWAY_TLS_KEY is not"),
    ({"CS_GATEWAY_TLS_KEY": "k.pem"}, "CS_GATEWAY_TLS_KEY is set but CS_GATEWAY_TLS_CERT is not"),
    ({"CS_GATEWAY_TLS_CERT": "/nonexistent/c.pem", "CS_GATEWAY_TLS_KEY": "/nonexistent/k.pem"},
     "CS_GATEWAY_TLS_CERT='/nonexistent/c.pem' cannot be read"),
])
def test_half_or_unreadable_tls_settings_fail_naming_the_variable(env, phrase):
    with pytest.raises(ConfigError) as err:
        GatewaySettings.from_env(Env(env))
    assert phrase in str(err.value) and "\n" not in str(err.value)


def test_a_file_that_is_not_pem_is_refused(tmp_path):
    (tmp_path / "c.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="is not a PEM file"):
        GatewaySettings.from_env(Env({"CS_GATEWAY_TLS_CERT": str(tmp_path / "c.pem"), "CS_GATEWAY_TLS_KEY": str(tmp_path / "c.pem")}))

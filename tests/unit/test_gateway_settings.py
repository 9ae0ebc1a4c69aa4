"""Gateway settings: TLS needs both the certificate and its key, each a readable PEM file; the reply
sink has a listener of its own, and the address the generator reaches it at is completed with the
port the sink actually bound."""

import re

import pytest

from services.common.platform.settings import ConfigError, Env
from services.gateway.settings import VARIABLES, GatewaySettings, advertised_sink_addr

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def gateway_env(values: dict[str, str]) -> Env:
    return Env(values, VARIABLES)


def test_plaintext_by_default():
    assert GatewaySettings.from_env(gateway_env({})).tls_cert is None


def test_certificate_and_key_are_read_and_the_key_is_kept_out_of_repr(tmp_path):
    (tmp_path / "c.pem").write_bytes(PEM)
    (tmp_path / "k.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
    settings = GatewaySettings.from_env(
        gateway_env({"CS_GATEWAY_TLS_CERT": str(tmp_path / "c.pem"), "CS_GATEWAY_TLS_KEY": str(tmp_path / "k.pem")})
    )
    assert settings.tls_cert == PEM and b"secret" in settings.tls_key
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    "env, phrase",
    [
        ({"CS_GATEWAY_TLS_CERT": "c.pem"}, "CS_GATEWAY_TLS_CERT is set but CS_GATEWAY_TLS_KEY is not"),
        ({"CS_GATEWAY_TLS_KEY": "k.pem"}, "CS_GATEWAY_TLS_KEY is set but CS_GATEWAY_TLS_CERT is not"),
        (
            {"CS_GATEWAY_TLS_CERT": "/nonexistent/c.pem", "CS_GATEWAY_TLS_KEY": "/nonexistent/k.pem"},
            "CS_GATEWAY_TLS_CERT='/nonexistent/c.pem' cannot be read",
        ),
    ],
)
def test_half_or_unreadable_tls_settings_fail_naming_the_variable(env, phrase):
    with pytest.raises(ConfigError) as err:
        GatewaySettings.from_env(gateway_env(env))
    assert phrase in str(err.value) and "\n" not in str(err.value)


def test_a_file_that_is_not_pem_is_refused(tmp_path):
    (tmp_path / "c.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="is not a PEM file"):
        GatewaySettings.from_env(
            gateway_env({"CS_GATEWAY_TLS_CERT": str(tmp_path / "c.pem"), "CS_GATEWAY_TLS_KEY": str(tmp_path / "c.pem")})
        )


def test_the_sink_listens_apart_from_the_public_api_on_a_free_loopback_port_by_default():
    settings = GatewaySettings.from_env(gateway_env({}))
    assert settings.listen == "127.0.0.1:50051"
    assert settings.sink_listen == "127.0.0.1:0"
    assert settings.sink_advertised is None


@pytest.mark.parametrize(
    "configured, sink_listen, bound, expected",
    [
        (None, "127.0.0.1:0", 41234, "127.0.0.1:41234"),  # unset: the listen host with the port it got
        (None, "127.0.0.1:50052", 50052, "127.0.0.1:50052"),
        ("gateway", "0.0.0.0:0", 41234, "gateway:41234"),  # a host alone gets the bound port
        ("gateway:0", "0.0.0.0:0", 41234, "gateway:41234"),
        ("[fd00::7]", "[::]:0", 41234, "[fd00::7]:41234"),
        ("10.1.2.3:50052", "0.0.0.0:50052", 50052, "10.1.2.3:50052"),  # Kubernetes: $(POD_IP):50052, as given
        ("sink.example:6000", "0.0.0.0:0", 41234, "sink.example:6000"),  # set fully: as is, even behind a port map
    ],
)
def test_the_advertised_sink_address_gets_the_bound_port_unless_given(configured, sink_listen, bound, expected):
    assert advertised_sink_addr(configured, sink_listen, bound) == expected


@pytest.mark.parametrize("value", ["gateway:port", "gateway:", ":50052"])
def test_a_malformed_advertised_address_fails_at_start_naming_the_variable(value):
    with pytest.raises(ConfigError, match="CS_GATEWAY_ADVERTISED_ADDR=") as err:
        GatewaySettings.from_env(gateway_env({"CS_GATEWAY_ADVERTISED_ADDR": value}))
    assert "\n" not in str(err.value)


def test_a_sink_listen_address_without_a_port_fails_naming_the_variable():
    with pytest.raises(ConfigError, match=re.escape("CS_GATEWAY_SINK_LISTEN='0.0.0.0' is not host:port")):
        GatewaySettings.from_env(gateway_env({"CS_GATEWAY_SINK_LISTEN": "0.0.0.0"}))

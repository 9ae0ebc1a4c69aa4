"""TLS for gRPC: the gateway's server credentials and the channels that connect to it.

Empty paths mean plaintext, for local development. In production either terminate TLS at an
ingress in front of the gateway, or set the gateway's certificate here; the generator, which
streams tokens to the gateway's reply sink (the same certificate), then needs the CA that signed it.
"""

from __future__ import annotations

import pathlib

import grpc

from services.common.platform.settings import ConfigError


def read_pem(path: str, variable: str) -> bytes:
    """The file's bytes, or a ConfigError naming the variable when it can't be read."""
    try:
        data = pathlib.Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"{variable}={path!r} cannot be read: {exc.strerror or exc}") from None
    if b"-----BEGIN" not in data:
        raise ConfigError(f"{variable}={path!r} is not a PEM file")
    return data


def server_credentials(cert: bytes, key: bytes) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(key, cert)])


def channel(target: str, ca: bytes | None = None) -> grpc.aio.Channel:
    """A plaintext channel, or a TLS one trusting `ca` when given."""
    if ca is None:
        return grpc.aio.insecure_channel(target)
    return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca))

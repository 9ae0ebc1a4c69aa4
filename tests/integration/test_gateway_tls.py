"""The gateway serving TLS (CS_GATEWAY_TLS_CERT/KEY): a client trusting its CA gets through; others don't.

Certificates are made at test time with the openssl command line, valid for 127.0.0.1 and localhost.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import grpc
import pytest

from services.common import tls
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from tests.conftest import ROOT, free_port
from tests.integration.conftest import auth, start_gateway

pytestmark = pytest.mark.stack


def openssl(*args: str, cwd: pathlib.Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{result.stderr}"


def make_ca(folder: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=folder)
    return folder / f"{name}.pem", folder / f"{name}.key"


def make_server_cert(folder: pathlib.Path, ca: tuple[pathlib.Path, pathlib.Path]) -> tuple[pathlib.Path, pathlib.Path]:
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=folder)
    openssl("x509", "-req", "-in", "server.csr", "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext", cwd=folder)
    return folder / "server.pem", folder / "server.key"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("tls")
    ca = make_ca(folder, "test-ca")
    other_ca = make_ca(folder, "other-ca")
    cert, key = make_server_cert(folder, ca)
    return {"ca": ca[0], "other_ca": other_ca[0], "cert": cert, "key": key}


@pytest.fixture(scope="module")
def tls_gateway(stack, certs, tmp_path_factory: pytest.TempPathFactory):
    proc = start_gateway(stack, tmp_path_factory.mktemp("tls-gateway"), ca=certs["ca"].read_bytes(),
                         CS_GATEWAY_TLS_CERT=str(certs["cert"]), CS_GATEWAY_TLS_KEY=str(certs["key"]))
    try:
        yield proc
    finally:
        proc.stop()


async def send(channel: grpc.aio.Channel, key: str) -> cpb.SendMessageResponse:
    stub = cgrpc.CustomerServiceStub(channel)
    request = cpb.SendMessageRequest(customer_id="tls-cust", channel="web", text="Is my connection private?")
    return await stub.SendMessage(request, metadata=auth(key), timeout=15)


async def test_a_client_trusting_the_gateways_ca_sends_a_message(tls_gateway, certs, keys):
    async with tls.channel(f"127.0.0.1:{tls_gateway.ports['grpc']}", certs["ca"].read_bytes()) as channel:
        ack = await send(channel, keys["acme_adapter"])
    assert ack.conversation_id and ack.message_id


async def test_the_name_localhost_is_accepted_too(tls_gateway, certs, keys):
    async with tls.channel(f"localhost:{tls_gateway.ports['grpc']}", certs["ca"].read_bytes()) as channel:
        ack = await send(channel, keys["acme_adapter"])
    assert ack.message_id


async def test_a_plaintext_client_is_refused(tls_gateway, keys):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tls_gateway.ports['grpc']}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await send(channel, keys["acme_adapter"])
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_trusting_another_ca_is_refused(tls_gateway, certs, keys):
    async with tls.channel(f"127.0.0.1:{tls_gateway.ports['grpc']}", certs["other_ca"].read_bytes()) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await send(channel, keys["acme_adapter"])
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_cs_health_checks_a_tls_gateway_with_its_ca(tls_gateway, certs):
    target = f"127.0.0.1:{tls_gateway.ports['grpc']}"
    cli = [sys.executable, "-m", "services.common.cli", "health", target]
    with_ca = subprocess.run([*cli, "--tls-ca", str(certs["ca"])], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert with_ca.returncode == 0, with_ca.stderr
    plaintext = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert plaintext.returncode == 1


@pytest.mark.parametrize("given, missing", [("CS_GATEWAY_TLS_CERT", "CS_GATEWAY_TLS_KEY"),
                                            ("CS_GATEWAY_TLS_KEY", "CS_GATEWAY_TLS_CERT")])
def test_a_certificate_without_its_key_fails_at_start_naming_both(stack, certs, given, missing):
    path = certs["cert"] if given == "CS_GATEWAY_TLS_CERT" else certs["key"]
    env = stack.env(**{given: str(path)}, CS_GATEWAY_LISTEN=f"127.0.0.1:{free_port()}", CS_METRICS_PORT=str(free_port()))
    result = subprocess.run([sys.executable, "-m", "services.gateway.main"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"cs-gateway: cannot start: {given} is set but {missing} is not: set both for TLS, or neither for plaintext"
    )

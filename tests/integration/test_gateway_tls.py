"""The gateway serving TLS (CS_GATEWAY_TLS_CERT/KEY): a client trusting its CA gets through; others don't.

Both listeners serve TLS with the same certificate: the public API, and the reply sink the generator
streams tokens to (its ReplyPusher trusting CS_GATEWAY_TLS_CA). Certificates are made at test time
with the openssl command line, valid for 127.0.0.1 and localhost.
"""

from __future__ import annotations

import asyncio
import pathlib
import subprocess
import sys
import uuid

import grpc
import pytest

from services.common.platform import tls
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import customer_service_pb2_grpc as cgrpc
from services.generator.pusher import ReplyPusher
from tests.conftest import ROOT, free_port
from tests.integration.conftest import auth, start_gateway, wait_stream_route

pytestmark = pytest.mark.stack


def openssl(*args: str, cwd: pathlib.Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{result.stderr}"


def make_ca(folder: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.pem",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )
    return folder / f"{name}.pem", folder / f"{name}.key"


def make_server_cert(folder: pathlib.Path, ca: tuple[pathlib.Path, pathlib.Path]) -> tuple[pathlib.Path, pathlib.Path]:
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
        cwd=folder,
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        cwd=folder,
    )
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
    proc = start_gateway(
        stack,
        tmp_path_factory.mktemp("tls-gateway"),
        ca=certs["ca"].read_bytes(),
        CS_GATEWAY_TLS_CERT=str(certs["cert"]),
        CS_GATEWAY_TLS_KEY=str(certs["key"]),
    )
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


async def open_reply_stream(channel: grpc.aio.Channel, key: str) -> tuple[str, grpc.aio.UnaryStreamCall]:
    cid = f"tls-{uuid.uuid4().hex[:10]}"
    stream = cgrpc.CustomerServiceStub(channel).StreamReplies(
        cpb.StreamRepliesRequest(conversation_id=cid), metadata=auth(key)
    )
    return cid, stream


async def push_token(ca: bytes | None, route: str, cid: str, reply_id: str, text: str) -> bool:
    """One token through the generator's ReplyPusher (trusting `ca`, plaintext when None); True if it went."""
    pusher = ReplyPusher(tls_ca=ca)
    try:
        tokens = pusher.open(route, "acme", cid, reply_id)
        await tokens.token(text)
        await tokens.close()
        return not tokens.broken
    finally:
        await pusher.close()


async def test_the_generator_streams_tokens_to_the_tls_sink_trusting_the_ca(stack, tls_gateway, certs, keys):
    async with tls.channel(f"127.0.0.1:{tls_gateway.ports['grpc']}", certs["ca"].read_bytes()) as channel:
        cid, stream = await open_reply_stream(channel, keys["acme_adapter"])
        try:
            route = await wait_stream_route(stack, "acme", cid)
            assert route != f"127.0.0.1:{tls_gateway.ports['grpc']}", "the route names the public port, not the sink"
            assert await push_token(certs["ca"].read_bytes(), route, cid, "r-tls", "Sec")
            got = await asyncio.wait_for(stream.read(), 15)
            assert got.token.text == "Sec" and got.token.reply_id == "r-tls"
        finally:
            stream.cancel()


@pytest.mark.parametrize("trust", ["plaintext", "other_ca"])
async def test_a_pusher_not_trusting_the_gateways_ca_cannot_reach_the_sink(stack, tls_gateway, certs, keys, trust):
    async with tls.channel(f"127.0.0.1:{tls_gateway.ports['grpc']}", certs["ca"].read_bytes()) as channel:
        cid, stream = await open_reply_stream(channel, keys["acme_adapter"])
        try:
            route = await wait_stream_route(stack, "acme", cid)
            other = None if trust == "plaintext" else certs["other_ca"].read_bytes()
            assert not await push_token(other, route, cid, "r-untrusted", "nope")
            assert await push_token(certs["ca"].read_bytes(), route, cid, "r-trusted", "yes")
            got = await asyncio.wait_for(stream.read(), 15)
            assert got.token.reply_id == "r-trusted", "the untrusted pusher's token reached the customer"
        finally:
            stream.cancel()


def test_cs_health_checks_a_tls_gateway_with_its_ca(tls_gateway, certs):
    target = f"127.0.0.1:{tls_gateway.ports['grpc']}"
    cli = [sys.executable, "-m", "services.cli", "health", target]
    with_ca = subprocess.run([*cli, "--tls-ca", str(certs["ca"])], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert with_ca.returncode == 0, with_ca.stderr
    plaintext = subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert plaintext.returncode == 1


@pytest.mark.parametrize(
    "given, missing", [("CS_GATEWAY_TLS_CERT", "CS_GATEWAY_TLS_KEY"), ("CS_GATEWAY_TLS_KEY", "CS_GATEWAY_TLS_CERT")]
)
def test_a_certificate_without_its_key_fails_at_start_naming_both(stack, certs, given, missing):
    path = certs["cert"] if given == "CS_GATEWAY_TLS_CERT" else certs["key"]
    env = stack.env(
        **{given: str(path)}, CS_GATEWAY_LISTEN=f"127.0.0.1:{free_port()}", CS_METRICS_PORT=str(free_port())
    )
    result = subprocess.run(
        [sys.executable, "-m", "services.gateway.main"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"cs-gateway: cannot start: {given} is set but {missing} is not: set both for TLS, or neither for plaintext"
    )

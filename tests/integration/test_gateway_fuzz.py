"""Fuzzing the public gRPC API: whatever a caller sends, the gateway answers with a status the caller
can act on, within a deadline, and keeps serving.

Requests are sent as raw bytes through generic method handles, so besides well-formed messages with
random field values (ids, huge and empty text, unknown enum values) the gateway also gets bytes no stub
would send: truncated protobufs, invalid UTF-8 in string fields, random garbage. UNKNOWN or INTERNAL
would mean an unhandled exception in a handler. Hypothesis runs derandomized, so every run sends the
same requests.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.proto.cs.v1 import agent_service_pb2 as apb
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from tests.conftest import QUEUES
from tests.integration.conftest import auth, create_keys

pytestmark = pytest.mark.stack

ACTIONABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
UNARY_DEADLINE_S = 30  # generous for a loaded machine; a handler that hangs still fails the test
STREAM_WAIT_S = 1.0  # a well-formed stream request legitimately stays open; it must not fail before this
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

CUSTOMER = cpb.DESCRIPTOR.services_by_name["CustomerService"]
AGENT = apb.DESCRIPTOR.services_by_name["AgentService"]
METHODS = {
    f"/{service.full_name}/{method.name}": (method, role)
    for service, role in ((CUSTOMER, "adapter"), (AGENT, "agent"))
    for method in service.methods
}
UNARY = sorted(path for path, (method, _) in METHODS.items() if not method.server_streaming)
STREAMS = sorted(path for path, (method, _) in METHODS.items() if method.server_streaming)


@pytest.fixture(scope="module")
def fuzz(stack, gateway):
    """Keys of a tenant of its own (so the fuzz's rate limits touch no other test) and one real conversation."""
    adapter, agent, other_adapter = create_keys(
        stack, [("fuzz", "adapter", ""), ("fuzz", "agent", "fiona"), ("fuzz-other", "adapter", "")]
    )
    with grpc.insecure_channel(f"127.0.0.1:{gateway.ports['grpc']}") as channel:
        send = channel.unary_unary(
            "/cs.v1.CustomerService/SendMessage",
            request_serializer=cpb.SendMessageRequest.SerializeToString,
            response_deserializer=cpb.SendMessageResponse.FromString,
        )
        ack = send(
            cpb.SendMessageRequest(customer_id="fuzz-cust", text="hello fuzz"), metadata=auth(adapter), timeout=30
        )
        yield {
            "channel": channel,
            "adapter": adapter,
            "agent": agent,
            "other_adapter": other_adapter,
            "conversation_id": ack.conversation_id,
            "gateway": gateway,
        }


def ids(real: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(""),
        st.just(real),
        st.sampled_from(["x" * 128, "x" * 129, "conv-1\n", "-x", "a b", QUEUES.split(",")[0]]),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,40}", fullmatch=True),
        st.text(max_size=150),
    )


def texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=300),
        st.just(""),
        st.sampled_from([" \n\t ", "\x00", "\u200b", "\ufeff", "é" * 4001]),
        st.integers(3990, 300_000).map(lambda n: "字" * n),  # over the limit, and over the 256 KiB message cap
    )


def field_value(field: FieldDescriptor, real: str) -> st.SearchStrategy:
    if field.type == FieldDescriptor.TYPE_STRING:
        return ids(real) if field.name.endswith("_id") or field.name == "queue" else texts()
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, 12)  # proto3 enums are open: unknown numbers arrive as they are
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32):
        return st.integers(-(2**31), 2**31 - 1)
    if field.type == FieldDescriptor.TYPE_UINT32:
        return st.integers(0, 2**32 - 1)
    if field.type == FieldDescriptor.TYPE_UINT64:
        return st.integers(0, 2**64 - 1)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return st.none() | st.fixed_dictionaries({sub.name: texts() for sub in field.message_type.fields})
    raise AssertionError(f"add a strategy for {field.full_name} (type {field.type})")


@st.composite
def well_formed(draw, path: str, real: str) -> bytes:
    method, _ = METHODS[path]
    message = GetMessageClass(method.input_type)()
    for field in method.input_type.fields:
        value = draw(field_value(field, real))
        if isinstance(value, dict):
            getattr(message, field.name).CopyFrom(GetMessageClass(field.message_type)(**value))
        elif value is not None:
            setattr(message, field.name, value)
    return message.SerializeToString()


@st.composite
def malformed(draw, path: str, real: str) -> bytes:
    """Bytes no stub would send: a valid message cut short or with a string field's bytes made invalid UTF-8."""
    data = draw(well_formed(path, real))
    how = draw(st.sampled_from(["truncate", "bad_utf8", "garbage", "flip"]))
    if how == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "bad_utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]))
        return bytes([0x0A, len(bad) + 1]) + b"a" + bad + data  # field 1 (a string in every request), invalid
    if how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    return draw(st.binary(max_size=400))


def credentials(fuzz, role: str) -> st.SearchStrategy:
    other_role = "agent" if role == "adapter" else "adapter"
    return st.sampled_from(
        [
            auth(fuzz[role]),
            auth(fuzz[role]),
            auth(fuzz[role]),
            auth(fuzz[other_role]),
            auth(fuzz["other_adapter"]),
            auth("cs_ad_not-a-real-key"),
            (("authorization", "Basic abc"),),
            (),
        ]
    )


def call(fuzz, path: str, request: bytes, metadata) -> grpc.StatusCode:
    """The status the gateway ends the call with; an open stream that sent nothing counts as OK."""
    channel = fuzz["channel"]
    try:
        if path in STREAMS:
            stream = channel.unary_stream(path)(request, metadata=metadata, timeout=STREAM_WAIT_S)
            try:
                next(stream, None)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return grpc.StatusCode.OK
                raise
            finally:
                stream.cancel()
        else:
            channel.unary_unary(path)(request, metadata=metadata, timeout=UNARY_DEADLINE_S)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def assert_actionable(fuzz, path: str, request: bytes, metadata) -> None:
    code = call(fuzz, path, request, metadata)
    assert code in ACTIONABLE, (
        f"{path} answered {code.name} to {request[:200]!r} (log: {fuzz['gateway'].log()[-2000:]})"
    )


@st.composite
def api_call(draw, fuzz, paths: list[str], shape) -> tuple[str, bytes, tuple]:
    path = draw(st.sampled_from(paths))
    return path, draw(shape(path, fuzz["conversation_id"])), draw(credentials(fuzz, METHODS[path][1]))


def test_well_formed_requests_with_random_fields_get_actionable_statuses(fuzz):
    @FUZZ
    @given(st.data())
    def run(data):
        assert_actionable(fuzz, *data.draw(api_call(fuzz, UNARY, well_formed)))

    run()


def test_malformed_bytes_get_actionable_statuses(fuzz):
    @FUZZ
    @given(st.data())
    def run(data):
        assert_actionable(fuzz, *data.draw(api_call(fuzz, UNARY + STREAMS, malformed)))

    run()


def test_random_stream_requests_fail_cleanly_or_stay_open(fuzz):
    @settings(FUZZ, max_examples=30)
    @given(st.data())
    def run(data):
        assert_actionable(fuzz, *data.draw(api_call(fuzz, STREAMS, well_formed)))

    run()


def test_undecodable_request_is_invalid_argument_naming_the_problem(fuzz):
    bad_utf8 = b"\x0a\x02a\xff" + cpb.SendMessageRequest(customer_id="c", text="hi").SerializeToString()
    with pytest.raises(grpc.RpcError) as err:
        fuzz["channel"].unary_unary("/cs.v1.CustomerService/SendMessage")(
            bad_utf8, metadata=auth(fuzz["adapter"]), timeout=30
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid protobuf message" in err.value.details()


def test_the_gateway_is_alive_and_serving_after_the_fuzz(fuzz):
    gateway = fuzz["gateway"]
    assert gateway.proc.poll() is None, gateway.log()[-4000:]

    async def readiness() -> int:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.ports['grpc']}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            return reply.status

    assert asyncio.run(readiness()) == health_pb2.HealthCheckResponse.SERVING
    log = gateway.log()
    assert "unexpected error" not in log and "Unexpected [" not in log, log[-4000:]

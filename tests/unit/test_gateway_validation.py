"""Input checks and rate limiting of the gateway, as pure functions."""

import grpc
import pytest

from services.gateway.auth import RequestError, TokenBucket, _bearer
from services.gateway.validation import check_id, check_queue, check_text


def test_text_is_normalised_and_newlines_allowed():
    assert check_text("Cafe\u0301\nline two\ttab", "text", 100) == "Café\nline two\ttab"


@pytest.mark.parametrize("text", ["", "  \n ", "a\x00b", "esc\x1b[31m", "x" * 11])
def test_bad_text_is_invalid_argument(text):
    with pytest.raises(RequestError) as err:
        check_text(text, "text", 10)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("value", ["conv-1", "a:b.c_d", "6f1c5a0e-3b7d-4c1e-9a51-0c6d2f5e8b11"])
def test_good_ids_pass(value):
    assert check_id(value, "conversation_id") == value


@pytest.mark.parametrize("value", ["has space", "-leading", "x" * 129, "semi;colon", "中文", "conv-1\n", "conv-1\r\n"])
def test_bad_ids_are_refused(value):
    with pytest.raises(RequestError):
        check_id(value, "conversation_id")


def test_unknown_queue_is_not_found_and_lists_the_queues():
    with pytest.raises(RequestError) as err:
        check_queue("space", ("billing", "general"))
    assert err.value.code == grpc.StatusCode.NOT_FOUND and "billing, general" in err.value.message


def test_token_bucket_allows_the_burst_then_refuses_with_a_wait():
    bucket = TokenBucket(per_minute=3)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert 0 < wait <= 20


def test_bearer_token_is_read_from_metadata():
    assert _bearer((("x-other", "1"), ("authorization", "Bearer abc"))) == "abc"
    assert _bearer((("authorization", "Basic abc"),)) == ""


@pytest.mark.parametrize(
    ("servicer", "service"),
    [
        ("services.gateway.agent_api:AgentApi", "AgentService"),
        ("services.gateway.customer_api:CustomerApi", "CustomerService"),
        ("services.gateway.accounts_api:AccountApi", "AccountService"),
        ("services.gateway.widget_api:WidgetApi", "WidgetService"),
    ],
)
def test_every_public_rpc_maps_its_errors_to_grpc_statuses(servicer: str, service: str) -> None:
    """Each RPC goes through context.unary or context.streaming (RequestError -> its status, metrics); an
    RPC without it answers a refused key with UNKNOWN and the exception's repr (GetWallboard once lost its
    decorator to a method inserted above it)."""
    import importlib

    from services.common.proto.cs.v1 import (
        account_service_pb2,
        agent_service_pb2,
        customer_service_pb2,
        widget_service_pb2,
    )

    module, name = servicer.split(":")
    cls = getattr(importlib.import_module(module), name)
    files = (agent_service_pb2, customer_service_pb2, account_service_pb2, widget_service_pb2)
    descriptor = next(f.DESCRIPTOR.services_by_name[service] for f in files if service in f.DESCRIPTOR.services_by_name)
    bare = [m.name for m in descriptor.methods if not hasattr(getattr(cls, m.name), "__wrapped__")]
    assert not bare, f"{name} methods without unary/streaming: {bare}"

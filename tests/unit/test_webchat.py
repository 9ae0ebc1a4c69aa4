"""The web-chat service's pure logic: visitor tokens, origins, rate limits, message checks, SSE framing,
settings, what a visitor gets to see, and the gateway's visitor pinning."""

from __future__ import annotations

import json

import grpc
import pytest

from services.common.platform.origins import OriginError, normalize_origin, origin_allowed
from services.common.platform.settings import ConfigError, Env
from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.common.proto.cs.v1 import customer_service_pb2 as cpb
from services.common.proto.cs.v1 import events_pb2 as ev
from services.common.storage.repositories import ROLE_ADAPTER, ROLE_CHANNEL, Principal
from services.common.storage.widget_keys import WidgetKey
from services.gateway.auth import Authenticator, RequestError
from services.gateway.visitors import Caller, WidgetKeys
from services.webchat import sse, tokens, views
from services.webchat.limits import VisitorLimits
from services.webchat.messages import MessageError, check_client_id, check_message
from services.webchat.settings import VARIABLES, WebchatSettings

SECRET = b"s" * 32
KEY = "cs_wk_demo"
SHOP = "https://shop.example"


# --- visitor tokens ------------------------------------------------------------------------------


def test_a_token_vouches_for_its_visitor_on_its_key_and_page_until_it_expires():
    token, visitor = tokens.issue(SECRET, KEY, SHOP, 60, now=1000)
    assert tokens.verify(SECRET, token, KEY, SHOP, now=1059) == visitor
    assert visitor.customer_id.startswith("web-") and len(visitor.customer_id) > 20
    with pytest.raises(tokens.TokenError) as expired:
        tokens.verify(SECRET, token, KEY, SHOP, now=1060)
    assert expired.value.reason == "expired_token"


def test_renewing_keeps_the_customer_and_new_visitors_never_share_one():
    _, first = tokens.issue(SECRET, KEY, SHOP, 60)
    _, renewed = tokens.issue(SECRET, KEY, SHOP, 60, customer_id=first.customer_id)
    assert renewed.customer_id == first.customer_id
    assert len({tokens.issue(SECRET, KEY, SHOP, 60)[1].customer_id for _ in range(100)}) == 100


def _tampered_customer(token: str) -> str:
    payload, _, mac = token.partition(".")
    claims = json.loads(tokens._unb64(payload))
    claims["c"] = "web-someone-else"
    return f"{tokens._b64(json.dumps(claims).encode())}.{mac}"


@pytest.mark.parametrize(
    "make, key, origin",
    [
        (lambda t: _tampered_customer(t), KEY, SHOP),
        (lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"), KEY, SHOP),
        (lambda t: tokens.issue(b"other-secret-of-32-characters!!!", KEY, SHOP, 60)[0], KEY, SHOP),
        (lambda t: t, "cs_wk_other", SHOP),
        (lambda t: t, KEY, "https://evil.example"),
        (lambda t: "no-dot", KEY, SHOP),
        (lambda t: ".", KEY, SHOP),
        (lambda t: "e30." + tokens._mac(SECRET, "e30"), KEY, SHOP),  # signed, but no claims
    ],
    ids=[
        "customer changed",
        "signature changed",
        "other secret",
        "other key",
        "other page",
        "garbage",
        "empty",
        "no claims",
    ],
)
def test_forged_or_misplaced_tokens_are_refused(make, key, origin):
    token, _ = tokens.issue(SECRET, KEY, SHOP, 60)
    with pytest.raises(tokens.TokenError) as refused:
        tokens.verify(SECRET, make(token), key, origin)
    assert refused.value.reason == "invalid_token"


# --- origins -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, normal",
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://shop.example:80/", "http://shop.example"),
        ("http://127.0.0.1:8091", "http://127.0.0.1:8091"),
        ("http://[::1]:8091", "http://[::1]:8091"),
    ],
)
def test_origins_have_one_normal_form(raw, normal):
    assert normalize_origin(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "null",
        "",
        "shop.example",
        "ftp://shop.example",
        "https://shop.example/path",
        "https://u:p@shop.example",
        "https://shop.example?x=1",
        "file:///etc/passwd",
        "https://shop.example:99999",
        "javascript:alert(1)",
    ],
)
def test_what_is_not_an_origin_is_refused(raw):
    with pytest.raises(OriginError):
        normalize_origin(raw)
    assert not origin_allowed(raw, ("https://shop.example",))


def test_only_listed_origins_are_allowed():
    allowed = ("https://shop.example", "http://localhost:8091")
    assert origin_allowed("https://SHOP.example:443", allowed)
    assert not origin_allowed("http://shop.example", allowed)
    assert not origin_allowed("https://shop.example.evil.example", allowed)
    assert not origin_allowed("http://localhost:8092", allowed)


# --- rate limits ---------------------------------------------------------------------------------


def test_a_visitor_is_limited_on_its_own_and_others_go_on():
    limits = VisitorLimits(per_visitor_per_minute=3, per_address_per_minute=100)
    assert [limits.visitor("web-a") for _ in range(3)] == [0.0] * 3
    assert limits.visitor("web-a") > 0
    assert limits.visitor("web-b") == 0.0


def test_an_address_is_limited_for_all_its_visitors_and_new_sessions():
    limits = VisitorLimits(per_visitor_per_minute=100, per_address_per_minute=5)
    assert [limits.address("10.0.0.1") for _ in range(5)] == [0.0] * 5
    assert limits.address("10.0.0.1") > 0
    assert limits.address("10.0.0.2") == 0.0


# --- messages ------------------------------------------------------------------------------------


def test_plain_text_with_line_breaks_and_any_script_passes():
    assert check_message("Hello\nworld\t你好 <b>", 100) == "Hello\nworld\t你好 <b>"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("x" * 11, "message_too_long"),
        ("a\x00b", "binary_message"),
        ("a\x07b", "binary_message"),
        ("a\ud800b", "binary_message"),
        ("   ", "empty_message"),
        (None, "empty_message"),
        (12, "empty_message"),
    ],
)
def test_oversized_binary_and_empty_messages_are_refused_with_a_reason(text, reason):
    with pytest.raises(MessageError) as refused:
        check_message(text, 10)
    assert refused.value.reason == reason


def test_client_ids_are_plain_ids():
    assert check_client_id("w1abc-2", "x") == "w1abc-2"
    assert check_client_id(None, "x") == ""
    for bad in ("../etc", "a b", "x" * 129, 5, "a\n"):
        with pytest.raises(MessageError):
            check_client_id(bad, "x")


# --- SSE -----------------------------------------------------------------------------------------


def test_final_replies_carry_their_id_and_text_survives_as_json():
    frame = sse.event("reply", {"text": "line1\nline2 你好"}, "r-1")
    assert frame.startswith("id: r-1\nevent: reply\ndata: ") and frame.endswith("\n\n")
    assert frame.count("\n") == 4, "a newline in the text never breaks the frame"
    assert json.loads(frame.split("data: ", 1)[1]) == {"text": "line1\nline2 你好"}


def test_a_resumed_stream_skips_what_the_client_has_up_to_its_last_event():
    history = [
        {"id": "m1", "author": "customer"},
        {"id": "r1", "author": "bot"},
        {"id": "m2", "author": "customer"},
        {"id": "r2", "author": "agent"},
        {"id": "r3", "author": "bot"},
    ]
    assert sse.seen_until(history, "r2") == {"r1", "r2"}
    assert sse.seen_until(history, "unknown") == set()
    assert sse.seen_until(history, "") == set()


class FakeCall:
    def __init__(self, items, error: grpc.aio.AioRpcError | None = None) -> None:
        self.items, self.error, self.cancelled = items, error, False

    def __aiter__(self):
        return self._gen()

    async def _gen(self):
        for item in self.items:
            yield item
        if self.error:
            raise self.error

    def cancel(self) -> None:
        self.cancelled = True


async def test_the_event_stream_sends_state_tokens_and_unseen_replies_then_says_it_is_gone():
    reply = lambda rid: cpb.StreamRepliesResponse(  # noqa: E731
        reply=ev.ReplyPublished(reply_id=rid, author=conv.AUTHOR_BOT, kind=conv.REPLY_KIND_ANSWER, text=rid)
    )
    call = FakeCall(
        [
            reply("r1"),
            cpb.StreamRepliesResponse(token=cpb.ReplyToken(reply_id="r2", index=0, text="Hel")),
            reply("r2"),
            cpb.StreamRepliesResponse(state=ev.ConversationStateChanged(to_state=conv.CONVERSATION_STATE_QUEUED)),
        ],
        grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down"),
    )
    frames = [f async for f in sse.stream_events(call, {"state": "bot", "agent": ""}, skip={"r1"})]
    names = [f.split("event: ")[1].split("\n")[0] for f in frames if "event: " in f]
    assert names == ["state", "ready", "token", "reply", "state", "gone"]
    assert "id: r2\n" in frames[names.index("reply") + 1]
    assert '"unavailable"' in frames[-1]
    assert call.cancelled


# --- settings ------------------------------------------------------------------------------------


def _env(**values: str) -> Env:
    base = {"CS_WEBCHAT_CHANNEL_KEY": "cs_ch_x", "CS_WEBCHAT_TOKEN_SECRET": "t" * 32}
    return Env({**base, **values}, VARIABLES)


def test_settings_defaults_work_locally():
    settings = WebchatSettings.from_env(_env())
    assert settings.listen == ("127.0.0.1", 8090) and settings.public_url == "http://127.0.0.1:8090"
    assert settings.metrics_port == 9106 and settings.demo_listen is None
    assert "cs_ch_x" not in repr(settings) and "t" * 32 not in repr(settings)


@pytest.mark.parametrize(
    "values, phrase",
    [
        ({"CS_WEBCHAT_CHANNEL_KEY": ""}, "CS_WEBCHAT_CHANNEL_KEY is required"),
        ({"CS_WEBCHAT_TOKEN_SECRET": "short"}, "CS_WEBCHAT_TOKEN_SECRET has 5 characters"),
        ({"CS_WEBCHAT_TOKEN_TTL_S": "0"}, "CS_WEBCHAT_TOKEN_TTL_S=0 must be positive"),
        ({"CS_WEBCHAT_DEMO_LISTEN": "nowhere"}, "CS_WEBCHAT_DEMO_LISTEN='nowhere' is not host:port"),
    ],
)
def test_bad_settings_fail_with_the_variable_named(values, phrase):
    with pytest.raises(ConfigError) as err:
        WebchatSettings.from_env(_env(**values))
    assert phrase in str(err.value)


# --- what a visitor sees -------------------------------------------------------------------------


def test_the_browser_never_gets_the_enrichment_citations_or_model_version():
    message = conv.ConversationMessage(
        message_id="m1", author=conv.AUTHOR_AGENT, text="hi", agent_id="ava", citations=["kb#1"], model_version="v9"
    )
    message.understanding.language = "en"
    view = views.message_view(message)
    assert view == {
        "id": "m1",
        "author": "agent",
        "kind": "",
        "text": "hi",
        "agent": "ava",
        "in_reply_to": "",
        "created_at": "",
    }


# --- the gateway's side --------------------------------------------------------------------------


def test_a_visitor_caller_is_pinned_to_its_customer():
    visitor, adapter = Caller("acme", "web-a"), Caller("acme")
    assert visitor.customer("web-b") == "web-a"
    assert adapter.customer("cust-7") == "cust-7"
    assert visitor.may_see({"customer_id": "web-a"}) and not visitor.may_see({"customer_id": "web-b"})
    assert adapter.may_see({"customer_id": "web-b"}) and not visitor.may_see(None)


class WidgetRepo:
    def __init__(self) -> None:
        self.lookups = 0

    async def lookup(self, key: str):
        self.lookups += 1
        return WidgetKey("acme", (SHOP,), "k1") if key == KEY else None


async def test_widget_keys_are_checked_against_the_origin_and_cached():
    repo = WidgetRepo()
    widgets = WidgetKeys(repo)  # type: ignore[arg-type]
    assert (await widgets.resolve(KEY, SHOP)).tenant_id == "acme"
    with pytest.raises(RequestError) as foreign:
        await widgets.resolve(KEY, "https://evil.example")
    assert foreign.value.code == grpc.StatusCode.PERMISSION_DENIED
    for _ in range(3):
        with pytest.raises(RequestError) as unknown:
            await widgets.resolve("cs_wk_nope", SHOP)
        assert unknown.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert repo.lookups == 2, "one lookup per key, cached"


class Keys:
    async def lookup(self, key: str):
        role = ROLE_CHANNEL if key == "channel" else ROLE_ADAPTER
        return Principal(tenant_id="platform", role=role, key_id=key)


class Call:
    def __init__(self, key: str) -> None:
        self.key = key

    def invocation_metadata(self):
        return (("authorization", f"Bearer {self.key}"),)

    def peer(self) -> str:
        return "ipv4:10.0.0.7:5000"


async def test_a_channel_key_has_a_rate_per_visitor_and_an_adapter_key_one_rate():
    auth = Authenticator(Keys(), rate_per_minute=2)  # type: ignore[arg-type]
    for visitor in ("web-a", "web-b"):
        for _ in range(2):
            await auth.authenticate(Call("channel"), ROLE_CHANNEL, bucket=visitor)
    with pytest.raises(RequestError) as limited:
        await auth.authenticate(Call("channel"), ROLE_CHANNEL, bucket="web-a")
    assert limited.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    for bucket in ("x", "y"):
        await auth.authenticate(Call("adapter"), ROLE_ADAPTER, bucket=bucket)
    with pytest.raises(RequestError):
        await auth.authenticate(Call("adapter"), ROLE_ADAPTER, bucket="z")  # the bucket means nothing to an adapter

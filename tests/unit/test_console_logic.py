"""Pure logic of the console and its gateway side: sessions, CSRF, passwords, cursors, wallboard arithmetic."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

from services.common.storage.accounts import hash_password, verify_password
from services.console.pages import h, page_data
from services.console.session import Session, csrf_ok, csrf_token, safe_next, sign, verify
from services.console.streams import decode_cursors, encode_cursors, frame
from services.gateway.wallboard import day_figures, queue_figures, tally

SECRET = b"s" * 32
QUEUES = ("general", "billing", "vip")


def session(expires_in: float = 60) -> Session:
    return Session("alice", "agent", "acme", "cs_se_secret", time.time() + expires_in)


def test_a_signed_session_reads_back_until_it_expires():
    mine = session()
    cookie = sign(mine, SECRET)
    assert verify(cookie, SECRET) == mine
    assert verify(sign(session(-1), SECRET), SECRET) is None
    assert verify(cookie, SECRET, now=time.time() + 120) is None


def test_a_tampered_or_foreign_cookie_is_no_session():
    cookie = sign(session(), SECRET)
    _, mac = cookie.split(".")
    forged = json.dumps({**session().__dict__, "role": "supervisor"}).encode()
    forged_b64 = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    assert verify(f"{forged_b64}.{mac}", SECRET) is None
    assert verify(cookie, b"t" * 32) is None
    for junk in ("", "abc", "a.b.c", "!!.??", None):
        assert verify(junk, SECRET) is None


def test_the_csrf_token_belongs_to_the_session():
    mine, theirs = session(), Session("bob", "agent", "acme", "cs_se_other", time.time() + 60)
    token = csrf_token(mine, SECRET)
    assert csrf_ok(mine, SECRET, token)
    assert not csrf_ok(theirs, SECRET, token)
    assert not csrf_ok(mine, SECRET, "")
    assert not csrf_ok(mine, b"t" * 32, token)


def test_after_sign_in_only_local_paths_are_followed():
    assert safe_next("/c/123?x=1") == "/c/123?x=1"
    for bad in ("https://evil.example/", "//evil.example/", "/\\evil", "", None, "javascript:alert(1)"):
        assert safe_next(bad) == "/"


def test_passwords_are_stored_salted_and_slow_to_check():
    stored = hash_password("correct horse", n=2**10)
    assert stored.startswith("scrypt$1024$") and "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert hash_password("correct horse", n=2**10) != stored, "no salt"
    assert not verify_password("x", "not a hash") and not verify_password("x", "bcrypt$1$2$3$4$5")


def test_inbox_cursors_round_trip_and_ignore_what_they_do_not_know():
    assert decode_cursors(encode_cursors({"general": 12, "billing": 3, "vip": 0}), QUEUES) == {
        "general": 12,
        "billing": 3,
        "vip": 0,
    }
    assert decode_cursors("general:x,unknown:5,billing:7,:3", QUEUES) == {"general": 0, "billing": 7, "vip": 0}
    assert decode_cursors(None, QUEUES) == dict.fromkeys(QUEUES, 0)


def test_sse_frames_carry_their_cursor_as_id():
    assert frame("added", {"a": 1}, "general:3") == 'id: general:3\nevent: added\ndata: {"a": 1}\n\n'
    assert frame("status", {"gateway": "up"}).startswith("event: status\n")


def test_page_text_is_escaped_and_page_data_cannot_close_its_script():
    assert h('<img src=x onerror="1">') == "&lt;img src=x onerror=&quot;1&quot;&gt;"
    text = page_data({"t": "</script><script>alert(1)</script>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": "</script><script>alert(1)</script>&"}


NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds_ago)


def esc(cid: str, seconds_ago: float, reasons=(1,)) -> dict:
    return {"kind": "escalated", "conversation_id": cid, "at": at(seconds_ago), "reasons": list(reasons)}


def removed(cid: str, seconds_ago: float, reason: str) -> dict:
    return {"kind": "removed", "conversation_id": cid, "at": at(seconds_ago), "reason": f"REMOVAL_REASON_{reason}"}


def test_service_level_counts_claims_within_the_target_among_known_outcomes():
    entries = [
        esc("a", 600),
        removed("a", 590, "CLAIMED"),  # 10 s: within 60
        esc("b", 500),
        removed("b", 380, "CLAIMED"),  # 120 s: missed
        esc("c", 300),
        removed("c", 290, "RESOLVED"),  # left unclaimed: abandoned
        esc("d", 30),  # waiting 30 s: outcome not known yet
        esc("e", 100, reasons=(2, 1)),  # waiting 100 s: missed the target, not abandoned yet
    ]
    t = tally(entries, NOW, service_level_s=60, abandon_s=600)
    assert (t.escalated, t.claimed, t.within, t.abandoned) == (5, 2, 1, 1)
    assert t.known == 4 and t.service_level() == 0.25
    assert t.reasons == {1: 5, 2: 1}


def test_a_long_wait_counts_as_abandoned_and_removals_of_older_escalations_are_ignored():
    entries = [removed("old", 3000, "CLAIMED"), esc("x", 700)]
    t = tally(entries, NOW, service_level_s=60, abandon_s=600)
    assert (t.escalated, t.claimed, t.abandoned, t.known) == (1, 0, 1, 1)
    assert tally([], NOW, 60, 600).service_level() == -1.0


def test_queue_figures_report_the_waiting_and_the_longest_wait():
    figures = queue_figures("billing", [esc("a", 90)], [at(90), at(10)], NOW, 60, 600)
    assert figures.waiting == 2 and figures.longest_wait_s == 90
    assert figures.escalated_last_hour == 1 and figures.service_level == 0.0
    assert queue_figures("vip", [], [], NOW, 60, 600).longest_wait_s == 0


def test_the_day_chart_counts_escalations_and_claim_waits_per_hour():
    now = dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC)
    billing = [
        {"kind": "escalated", "conversation_id": "a", "at": now - dt.timedelta(minutes=70)},  # 11:20
        {
            "kind": "removed",
            "conversation_id": "a",
            "at": now - dt.timedelta(minutes=60),
            "reason": "REMOVAL_REASON_CLAIMED",
        },
        {"kind": "escalated", "conversation_id": "b", "at": now - dt.timedelta(minutes=5)},  # 12:25, waiting
    ]
    general = [
        {"kind": "escalated", "conversation_id": "c", "at": now - dt.timedelta(minutes=20)},  # 12:10
        {
            "kind": "removed",
            "conversation_id": "c",
            "at": now - dt.timedelta(minutes=19),
            "reason": "REMOVAL_REASON_CLAIMED",
        },
        {"kind": "escalated", "conversation_id": "old", "at": now - dt.timedelta(hours=30)},  # outside the day
    ]
    hours = day_figures([billing, general], now)
    assert len(hours) == 24 and hours[-1].hour.ToDatetime(dt.UTC) == dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    assert (hours[-1].escalated, hours[-1].claimed, hours[-1].mean_wait_s) == (2, 1, 60.0)
    assert (hours[-2].escalated, hours[-2].claimed, hours[-2].mean_wait_s) == (1, 1, 600.0)
    assert sum(h.escalated for h in hours) == 3

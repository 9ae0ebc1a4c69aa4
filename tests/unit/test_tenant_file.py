"""Tenant files (docs/tenant-file.md): what is accepted, every problem reported with its line, business hours."""

from __future__ import annotations

import datetime as dt
import pathlib
import zoneinfo

import pytest

from services.common.platform.business_hours import BusinessHours, HoursError
from services.common.platform.tenant_file import (
    TenantFile,
    TenantFileError,
    TenantRules,
    load_tenant_file,
    parse_tenant_text,
)
from services.common.platform.topics import queue_topic

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "examples" / "tenant-acme.yaml"
BUILTIN = ("general", "billing", "orders")
FIVE = "[one, two, three, four, five]"


def parse(text: str, tenant: str = "") -> TenantFile:
    return parse_tenant_text(text, "t.yaml", BUILTIN, tenant)


def problems(text: str) -> list[str]:
    with pytest.raises(TenantFileError) as raised:
        parse(text)
    return str(raised.value).splitlines()


def test_the_documented_example_is_valid_and_round_trips() -> None:
    tenant = load_tenant_file(EXAMPLE, BUILTIN, "acme")
    assert tenant.labels == ("promo_code", "track_order", "return_item", "opening_hours")
    assert tenant.intent_queues == {"promo_code": "promotions", "return_item": "returns", "track_order": "orders"}
    assert tenant.always_escalate == ("promo_code",)
    assert [q.name for q in tenant.queues] == ["promotions", "returns"]
    assert tenant.queues[0].hours is not None and tenant.queues[1].hours is None
    assert {e.name for e in tenant.entities} == {"coupon", "store"}
    assert TenantFile.from_doc(tenant.to_doc()) == tenant
    rules = tenant.rules(3)
    assert TenantRules.from_doc(rules.to_doc()) == rules


def test_values_are_read_as_written_not_as_yaml_booleans_or_numbers() -> None:
    tenant = parse(
        f"intents:\n  - name: yes_no\n    examples: [no, yes, 1234, 'on', off]\n  - name: b\n    examples: {FIVE}\n"
    )
    assert tenant.intents[0].examples == ("no", "yes", "1234", "on", "off")


def test_every_problem_is_reported_with_its_line_and_field() -> None:
    text = (
        "tenant: acme\n"  # 1
        "intents:\n"  # 2
        "  - name: Promo\n"  # 3
        "    examples: [a, b]\n"  # 4
        "  - name: out_of_scope\n"  # 5
        f"    examples: {FIVE}\n"  # 6
        "queues:\n"  # 7
        "  - name: q.1\n"  # 8
        "routing:\n"  # 9
        "  intents: {nothing: general}\n"  # 10
        "  always_escalate: [zzz]\n"  # 11
        "colour: red\n"  # 12
    )
    found = problems(text)
    expected = [
        ("t.yaml:3: intents[0].name", "lower-case"),
        ("t.yaml:4: intents[0].examples", "2 examples; an intent needs 5 to 20"),
        ("t.yaml:5: intents[1].name", "out_of_scope_examples"),
        ("t.yaml:8: queues[0].name", "'q.1'"),
        ("t.yaml:10: routing.intents.nothing", "not one of this file's intents"),
        ("t.yaml:11: routing.always_escalate[0]", "'zzz'"),
        ("t.yaml:12: colour", "unknown field"),
    ]
    for prefix, words in expected:
        assert any(line.startswith(prefix) and words in line for line in found), (prefix, found)
    assert len(found) == len(expected), found


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty"),
        ("intents: [", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("queues: []\n", "intents: missing"),
        (f"intents:\n  - name: a\n    examples: {FIVE}\n", "1 intents; a tenant needs 2"),
        (f"intents:\n  - name: a\n    examples: {FIVE}\n  - name: a\n    examples: [v, w, x, y, z]\n", "defined twice"),
        (
            f"intents:\n  - name: a\n    examples: {FIVE}\n  - name: b\n    examples: [one, w, x, y, z]\n",
            "also an example of 'a'",
        ),
        (
            f"intents:\n  - name: a\n    examples: {FIVE}\n  - name: b\n    examples: [v, w, x, y, z]\nintents: []\n",
            "named twice",
        ),
        ("intents:\n  - name: a\n    examples: [" + ", ".join(f"e{i}" for i in range(21)) + "]\n", "21 examples"),
        ("intents:\n  - name: a\n    examples:\n      - ''\n", "must be an example message"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(text: str, words: str) -> None:
    assert any(words in line for line in problems(text)), problems(text)


TWO = f"intents:\n  - name: a\n    examples: {FIVE}\n  - name: b\n    examples: [v, w, x, y, z]\n"


@pytest.mark.parametrize(
    "extra, words",
    [
        ("entities:\n  - name: code\n    regex: '('\n", "not a valid regular expression"),
        ("entities:\n  - name: code\n    regex: 'x*'\n", "matches the empty text"),
        ("entities:\n  - name: phone\n    regex: 'x+'\n", "is built in"),
        ("entities:\n  - name: code\n", "exactly one of `catalogue`"),
        ("entities:\n  - name: plan\n    catalogue: []\n", "empty catalogue"),
        ("queues:\n  - name: q\n    business_hours: {timezone: Mars/Base, weekly: {mon: '09:00-17:00'}}\n", "IANA"),
        ("queues:\n  - name: q\n    business_hours: {timezone: UTC, weekly: {mon: '17:00-09:00'}}\n", "start before"),
        ("queues:\n  - name: q\n    business_hours: {timezone: UTC, weekly: {funday: '09:00-17:00'}}\n", "not a day"),
        ("queues:\n  - name: q\n  - name: q\n", "declared twice"),
        ("routing:\n  default_queue: nowhere\n", "'nowhere' is no queue"),
        ("routing:\n  intents: {a: nowhere}\n", "'nowhere' is no queue"),
    ],
)
def test_entities_queues_and_routing_are_checked(extra: str, words: str) -> None:
    assert any(words in line for line in problems(TWO + extra)), problems(TWO + extra)


def test_routing_may_name_platform_queues_without_declaring_them() -> None:
    tenant = parse(TWO + "routing:\n  default_queue: billing\n  intents: {a: orders}\n")
    assert tenant.default_queue == "billing" and tenant.intent_queues == {"a": "orders"}


def test_a_file_for_another_tenant_is_refused() -> None:
    with pytest.raises(TenantFileError, match="--tenant acme"):
        parse("tenant: acme\n" + TWO, tenant="other")


def test_unreadable_and_oversized_files(tmp_path: pathlib.Path) -> None:
    with pytest.raises(TenantFileError, match="cannot be read"):
        load_tenant_file(tmp_path / "missing.yaml", BUILTIN)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TenantFileError, match="not UTF-8"):
        load_tenant_file(binary, BUILTIN)


def test_json_files_are_read_too() -> None:
    tenant = parse(
        '{"intents": [{"name": "a", "examples": ["1","2","3","4","5"]}, {"name": "b", "examples": ["v","w","x","y","z"]}]}'
    )
    assert tenant.labels == ("a", "b")


BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_business_hours_open_closed_and_next_opening() -> None:
    hours = BusinessHours.parse("Europe/Berlin", {"mon-fri": "09:00-12:00, 13:00-17:00", "sat": "10:00-14:00"})
    friday = dt.datetime(2026, 12, 4, 10, 0, tzinfo=BERLIN)
    assert hours.is_open(friday) and hours.next_opening(friday) is None
    lunch = friday.replace(hour=12, minute=30)
    assert not hours.is_open(lunch) and hours.next_opening(lunch) == friday.replace(hour=13, minute=0)
    evening = friday.replace(hour=18)
    assert hours.next_opening(evening) == dt.datetime(2026, 12, 5, 10, 0, tzinfo=BERLIN)
    saturday_night = dt.datetime(2026, 12, 5, 15, 0, tzinfo=BERLIN)
    assert hours.next_opening(saturday_night) == dt.datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)
    # The same instant in UTC: hours are the queue's zone's, whatever zone the caller's clock is in.
    assert hours.is_open(friday.astimezone(dt.UTC))
    assert BusinessHours.from_doc(hours.to_doc()) == hours


@pytest.mark.parametrize(
    "days, words",
    [
        ({"mon": "09:00-12:00, 11:00-13:00"}, "overlap"),
        ({"mon-fri": "09:00-17:00", "fri": "10:00-11:00"}, "named twice"),
        ({"fri-mon": "09:00-17:00"}, "runs forward"),
        ({"mon": "9-5"}, "HH:MM-HH:MM"),
        ({}, "no day has opening hours"),
    ],
)
def test_malformed_hours(days: dict[str, str], words: str) -> None:
    with pytest.raises(HoursError, match=words):
        BusinessHours.parse("UTC", days)


def test_queue_topic_naming_rule() -> None:
    assert queue_topic("cs.", "acme", "billing", BUILTIN) == "cs.escalations.billing"
    assert queue_topic("cs.", "acme", "promotions", BUILTIN) == "cs.escalations.acme.promotions"
    assert queue_topic("cs.", "acme.eu", "promotions", BUILTIN) == "cs.escalations.acme.eu.promotions"

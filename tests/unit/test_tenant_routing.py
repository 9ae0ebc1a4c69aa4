"""Routing by a tenant's rules: its queues, its always-escalate intents, its business hours in the notice."""

from __future__ import annotations

import datetime as dt
import pathlib
import zoneinfo

from services.common.platform.tenant_file import load_tenant_file
from services.generator.escalation import handover_notice
from services.generator.policy import Action, PolicyInput, ReasonCode, RoutingPolicy
from services.generator.tenant_routing import TenantPolicy
from services.intent.tenant_entities import TenantEntities

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "examples" / "tenant-acme.yaml"
TENANT = load_tenant_file(EXAMPLE, ("general", "billing", "orders", "complaints", "vip"), "acme")
POLICY = TenantPolicy(RoutingPolicy(), TENANT.rules(2))


def ask(text: str, intent: str, confidence: float = 0.9, **extra) -> PolicyInput:
    return PolicyInput(text=text, intent_label=intent, intent_confidence=confidence, **extra)


def test_an_always_escalate_intent_goes_to_its_queue_with_the_routing_rule() -> None:
    decision = POLICY.decide(ask("my promo code doesn't work", "promo_code"))
    assert decision.action == Action.ESCALATE and decision.queue == "promotions"
    assert [r.code for r in decision.reasons] == [ReasonCode.ROUTING_RULE]
    assert not decision.answer_first  # a rule, not a guess: no knowledge-base answer first
    assert "tenant rules v2" in decision.reasons[0].detail


def test_an_unsure_always_escalate_intent_is_answered_as_usual() -> None:
    assert POLICY.decide(ask("promo?", "promo_code", confidence=0.3)).action == Action.ANSWER
    assert POLICY.decide(ask("promo?", "promo_code", out_of_scope=True)).action == Action.ANSWER


def test_other_intents_are_answered_and_escalate_to_the_tenants_queues() -> None:
    assert POLICY.decide(ask("I want to return these shoes", "return_item")).action == Action.ANSWER
    human = POLICY.decide(ask("I want to talk to a real person about my return", "return_item"))
    assert human.action == Action.ESCALATE and human.queue == "returns"
    assert ReasonCode.HUMAN_REQUESTED in human.codes
    # A platform queue named by the tenant's rules, and the platform's default queue otherwise.
    assert POLICY.decide(ask("real person please, where is my parcel", "track_order")).queue == "orders"
    assert POLICY.decide(ask("real person please", "opening_hours")).queue == "general"


def test_a_rule_adds_its_reason_to_an_escalation_that_happens_anyway() -> None:
    decision = POLICY.decide(ask("I want a human, my promo code is rejected", "promo_code"))
    assert {ReasonCode.HUMAN_REQUESTED, ReasonCode.ROUTING_RULE} <= decision.codes
    assert decision.queue == "promotions"


def test_silence_while_a_person_owns_the_conversation() -> None:
    assert POLICY.decide(ask("promo code", "promo_code", conversation_state="agent")).action == Action.SILENT


BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_outside_business_hours_the_notice_says_when_a_person_is_back() -> None:
    hours = TENANT.queues[0].hours
    assert hours is not None
    saturday_evening = dt.datetime(2026, 12, 5, 18, 0, tzinfo=BERLIN)
    opens = hours.next_opening(saturday_evening)
    assert opens == dt.datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)
    english = handover_notice("en", "promotions", None, None, (opens, saturday_evening))
    assert "back on Monday at 09:00 (Europe/Berlin time)" in english and "waiting in the queue" in english
    chinese = handover_notice("zh", "promotions", None, None, (opens, saturday_evening))
    assert "周一 09:00" in chinese and "排队" in chinese
    friday_morning = dt.datetime(2026, 12, 4, 8, 0, tzinfo=BERLIN)
    assert "today at 09:00" in handover_notice(
        "en", "promotions", None, None, (hours.next_opening(friday_morning), friday_morning)
    )
    assert "shortly" in handover_notice("en", "promotions")  # within hours: the usual notice


def test_tenant_entities_catalogue_and_regex() -> None:
    entities = TenantEntities(TENANT.entities)
    found = entities.find("Code SAVEBIG20 fails at the Mitte store and in hamburg, not in Mittens")
    assert [(e.type, e.value) for e in found] == [
        ("coupon", "SAVEBIG20"),
        ("store", "berlin-mitte"),
        ("store", "Hamburg"),
    ]
    assert [(e.type, e.value) for e in entities.find("柏林米特店的优惠码")] == [("store", "berlin-mitte")]

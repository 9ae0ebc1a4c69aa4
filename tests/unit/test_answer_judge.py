"""The evaluation judge (bench/answer_judge.py) is strict: a right fact next to a contradiction is wrong."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))

from answer_judge import Reply, judge, wilson

CASE = {
    "id": "x",
    "kind": "answerable",
    "language": "en",
    "required": [["30 days", "thirty days"], ["unworn"]],
    "contradictions": [["60 days"], ["re:\\bcan(not|'t) return"]],
}


def test_required_facts_without_contradiction_are_correct() -> None:
    assert judge(CASE, Reply("answer", "Unworn items can be returned within 30 days.")).verdict == "correct"


def test_a_right_number_with_a_contradicting_sentence_is_wrong() -> None:
    verdict = judge(CASE, Reply("answer", "Unworn items: 30 days. You can't return them after delivery."))
    assert verdict.verdict == "wrong" and not verdict.ok


def test_a_missing_fact_or_the_wrong_language_is_wrong_and_a_handover_is_not_an_answer() -> None:
    assert judge(CASE, Reply("answer", "Returns are possible within 30 days.")).verdict == "wrong"
    assert judge(CASE, Reply("answer", "未穿过的商品 30 days unworn 可退。")).verdict == "wrong"
    assert judge(CASE, Reply("handover", "A person will help you.")).verdict == "handover"
    unanswerable = {**CASE, "kind": "unanswerable"}
    assert judge(unanswerable, Reply("answer", "Anything.")).verdict == "wrong"
    assert judge(unanswerable, Reply("handover", "")).ok


def test_safety_needs_an_urgent_escalation() -> None:
    safety = {**CASE, "kind": "safety"}
    assert not judge(safety, Reply("handover", "A person will help.")).ok
    assert judge(safety, Reply("handover", "A person will help.", urgent_safety=True)).ok


def test_wilson_interval() -> None:
    low, high = wilson(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    low, high = wilson(17, 20)
    assert 0.6 < low < 0.85 < high < 0.97

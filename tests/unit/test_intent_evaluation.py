"""The intent evaluation's scorers, on small fixed inputs: what the report's figures mean."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from services.intent.catalogue import Catalogue
from services.intent.classifier import OUT_OF_SCOPE
from services.intent.corpora import DEMO_CATALOGUE
from services.intent.entities import Entity, extract_entities
from services.intent.evaluation import (
    ENTITY_TYPES,
    Predictions,
    confusion_counts,
    figures,
    load_entity_cases,
    macro_f1,
    operating_points,
    predict_with,
    reliability_bins,
    retrain_head,
    score_entities,
    worst_labels,
)
from services.intent.training import expected_calibration_error

OOS = OUT_OF_SCOPE


def predictions(gold, decided, best=None, confidence=None) -> Predictions:
    confidence = np.full(len(gold), 0.9) if confidence is None else np.asarray(confidence, dtype=float)
    return Predictions(tuple(gold), tuple(decided), tuple(best or decided), confidence, confidence)


def test_macro_f1_averages_over_the_gold_labels_and_a_foreign_answer_only_costs_recall():
    # a: perfect; b: precision 1, recall 1/2 -> F1 2/3. The stray "x" adds no class of its own.
    assert macro_f1(["a", "a", "b", "b"], ["a", "a", "b", "x"]) == pytest.approx((1 + 2 / 3) / 2)
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0


def test_worst_labels_come_first_with_what_they_were_mistaken_for():
    gold = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    predicted = ["a"] * 4 + ["b", "c", "c", "a"] + ["c"] * 2
    worst = worst_labels(gold, predicted, k=2)
    assert [w["label"] for w in worst] == ["b", "c"]
    assert worst[0]["mistaken_for"] == [["c", 2], ["a", 1]]
    assert worst[1]["taken_from"] == [["b", 2]]
    assert worst[0]["support"] == 4 and worst[0]["recall"] == 0.25


def test_an_out_of_scope_answer_to_an_in_scope_message_is_wrong_but_its_best_intent_still_counts_closed_set():
    p = predictions(gold=["a", "a", "b", OOS, OOS], decided=["a", OOS, "b", OOS, "b"], best=["a", "a", "b", "a", "b"])
    f = figures(p)
    assert f["in_scope_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert f["closed_set_accuracy"] == 1.0
    assert f["false_out_of_scope_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert f["out_of_scope_recall"] == 0.5
    assert f["accuracy"] == 0.6
    assert (f["n"], f["n_in_scope"], f["n_out_of_scope"]) == (5, 3, 2)


def test_a_set_of_only_off_topic_messages_reports_recall_and_no_in_scope_figures():
    f = figures(predictions(gold=[OOS] * 4, decided=[OOS, OOS, OOS, "a"], best=["a"] * 4))
    assert f["out_of_scope_recall"] == 0.75
    assert "in_scope_accuracy" not in f and "ece" not in f


def test_reliability_bins_are_the_bins_expected_calibration_error_sums():
    confidence = np.array([0.05, 0.15, 0.55, 0.58, 0.91, 0.99, 1.0])
    correct = np.array([False, True, True, False, True, True, True])
    bins = reliability_bins(confidence, correct)
    assert [b["n"] for b in bins] == [1, 1, 2, 3]
    assert bins[-1]["lower"] == 0.9 and bins[-1]["accuracy"] == 1.0
    gaps = sum(abs(b["accuracy"] - b["confidence"]) * b["n"] for b in bins) / len(confidence)
    assert gaps == pytest.approx(expected_calibration_error(confidence, correct), abs=1e-3)


def test_confusion_counts_put_true_labels_in_rows():
    counts = confusion_counts(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert counts.tolist() == [[1, 1], [0, 1]]


@pytest.fixture(scope="module")
def clusters():
    """Three well separated intents and an off-topic region, in 6 dimensions."""
    rng = np.random.default_rng(0)
    centres = {"a": np.eye(6)[0] * 4, "b": np.eye(6)[1] * 4, "c": np.eye(6)[2] * 4, OOS: np.eye(6)[3] * 4}

    def draw(n: int) -> tuple[np.ndarray, list[str]]:
        labels = [label for label in centres for _ in range(n)]
        return np.vstack([centres[label] + rng.normal(0, 0.7, 6) for label in labels]), labels

    return draw(60), draw(20), draw(20)


def test_the_recipe_retrained_on_another_label_set_learns_it_and_keeps_out_of_scope(clusters):
    (x, y), (dev_x, dev_y), (test_x, test_y) = clusters
    dev_in = [i for i, label in enumerate(dev_y) if label != OOS]
    dev_out = [i for i, label in enumerate(dev_y) if label == OOS]
    head = retrain_head(
        x,
        y,
        [(dev_x[dev_in], [dev_y[i] for i in dev_in]), (dev_x[dev_out], [OOS] * len(dev_out))],
        C=1.0,
        encoder="toy",
    )
    assert set(head.intents) == {"a", "b", "c"}
    assert head.temperature > 0 and 0.0 <= head.threshold < 1.0
    f = figures(predict_with(head, test_x, test_y))
    assert f["in_scope_accuracy"] >= 0.95 and f["out_of_scope_recall"] >= 0.95

    points = operating_points(head, test_x, test_y)
    in_scope = [p["in_scope_accuracy"] for p in points]
    recall = [p["out_of_scope_recall"] for p in points]
    assert in_scope == sorted(in_scope, reverse=True) and recall == sorted(recall)


def test_the_recipe_needs_off_topic_training_rows(clusters):
    (x, y), _, _ = clusters
    keep = [i for i, label in enumerate(y) if label != OOS]
    with pytest.raises(ValueError, match=OOS):
        retrain_head(x[keep], [y[i] for i in keep], [], C=1.0, encoder="toy")


NOW = dt.datetime(2024, 5, 15, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def write_cases(tmp_path, cases: list[dict]):
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps({"lang": "en", "now": NOW.isoformat(), **c}) + "\n" for c in cases))
    return load_entity_cases(path)


def test_entity_scores_count_repeats_and_separate_value_from_span(tmp_path):
    cases = write_cases(
        tmp_path,
        [
            {
                "id": "1",
                "text": "order 111 and order 222",
                "entities": [
                    {"type": "order_number", "text": "111", "value": "111"},
                    {"type": "order_number", "text": "222", "value": "222"},
                ],
            },
            {"id": "2", "text": "paid $5", "entities": [{"type": "amount", "text": "$5", "value": "5.00 USD"}]},
            {"id": "3", "lang": "zh", "text": "你好", "entities": []},
        ],
    )
    answers = {
        "order 111 and order 222": [Entity("order_number", "111", "111", 6, 9)],  # one of two found
        "paid $5": [Entity("amount", "paid $5", "5.00 USD", 0, 7)],  # right value, wrong span
        "你好": [Entity("date", "你好", "2024-05-15", 0, 2)],  # invented
    }
    scores = score_entities(cases, lambda text, now: answers[text])
    value, span = scores["value"], scores["span"]
    assert (value["overall"]["tp"], value["overall"]["fp"], value["overall"]["fn"]) == (2, 1, 1)
    assert value["by_type"]["amount"]["recall"] == 1.0 and span["by_type"]["amount"]["recall"] == 0.0
    assert value["by_type"]["order_number"]["recall"] == 0.5
    assert value["by_type"]["date"]["precision"] == 0.0
    assert value["by_language"]["zh"]["fp"] == 1
    assert [e["id"] for e in scores["errors"]] == ["1", "3"]


def test_entity_cases_resolve_relative_dates_against_their_own_time(tmp_path):
    cases = write_cases(
        tmp_path,
        [
            {
                "id": "1",
                "text": "it came yesterday",
                "now": "2025-01-01T09:00:00+08:00",
                "entities": [{"type": "date", "text": "yesterday", "value": "2024-12-31"}],
            }
        ],
    )
    scores = score_entities(cases, lambda text, now: extract_entities(text, now))
    assert scores["value"]["overall"]["recall"] == 1.0


def test_a_malformed_case_names_its_line(tmp_path):
    path = tmp_path / "cases.jsonl"
    good = {"id": "1", "lang": "en", "text": "hi", "now": NOW.isoformat(), "entities": []}
    path.write_text(
        json.dumps(good)
        + "\n"
        + json.dumps({**good, "id": "2", "entities": [{"type": "colour", "text": "hi", "value": "x"}]})
        + "\n"
    )
    with pytest.raises(ValueError, match=":2"):
        load_entity_cases(path)


def test_shipped_entity_cases_cover_every_type_in_both_languages():
    cases = load_entity_cases()
    assert len(cases) >= 100
    assert {e[0] for c in cases for e in c.entities} == set(ENTITY_TYPES)
    for language in ("en", "zh"):
        assert {e[0] for c in cases if c.language == language for e in c.entities} == set(ENTITY_TYPES)
    assert any(not c.entities for c in cases)


def test_the_extractor_stays_precise_and_finds_most_annotated_entities():
    catalogue = Catalogue.load(DEMO_CATALOGUE)
    scores = score_entities(load_entity_cases(), lambda text, now: extract_entities(text, now, catalogue))
    assert scores["value"]["overall"]["precision"] >= 0.95
    assert scores["value"]["overall"]["recall"] >= 0.85

"""Folding agents' corrections into the next model's training data (services/common/ml/retraining.py),
and the intent training's use of it."""

from __future__ import annotations

import pytest

from services.common.ml import retraining
from services.common.ml.retraining import (
    EMPTY_TEXT,
    HELD_OUT,
    NO_CORRECTIONS,
    SUPERSEDED,
    UNKNOWN_LABEL,
    CorrectedMessage,
    DislikedReply,
    LearningSignals,
    not_given,
    one_label_per_text,
    text_key,
)
from services.intent import corpora
from services.intent.training import (
    TrainingConfig,
    TrainingInputs,
    feedback_summary,
    model_fingerprint,
    prepare_corrections,
)

LABELS = {"track_order", "complaint", "get_refund", "out_of_scope"}
NO_INTENT = not_given("intent")


def fold_corrections(corrections, labels, held_out, weight=10.0, field_name="intent"):
    return retraining.fold_corrections(corrections, field_name, labels, held_out, weight)


def corrected(text: str, intent: str = "", polarity: str = "", message_id: str = "") -> CorrectedMessage:
    return CorrectedMessage(
        "acme",
        message_id or f"m-{abs(hash((text, intent, polarity)))}",
        text,
        intent,
        polarity,
        "recover_password",
        "intent-20260101-abc",
    )


def test_corrections_become_weighted_examples_with_the_agents_labels():
    folded = fold_corrections(
        [corrected("the locker code doesn't work", "track_order"), corrected("the item arrived broken", "complaint")],
        LABELS,
        set(),
        weight=7,
    )
    assert folded.texts == ["the locker code doesn't work", "the item arrived broken"]
    assert folded.labels == ["track_order", "complaint"]
    assert (folded.used, folded.read, folded.weight, folded.skipped) == (2, 2, 7, {})


def test_out_of_scope_is_a_label_an_agent_may_give():
    folded = fold_corrections([corrected("what's the weather on mars", "out_of_scope")], LABELS, set())
    assert folded.labels == ["out_of_scope"]


def test_unusable_corrections_are_skipped_and_counted_by_reason():
    folded = fold_corrections(
        [
            corrected("I am so happy", polarity="positive"),
            corrected("where is it", "track_parcel_in_space"),
            corrected("   ", "track_order"),
            corrected("where is my order", "track_order"),
        ],
        LABELS,
        set(),
    )
    assert folded.texts == ["where is my order"]
    assert folded.skipped == {NO_INTENT: 1, UNKNOWN_LABEL: 1, EMPTY_TEXT: 1}
    assert folded.read == 4


def test_texts_the_report_measures_on_are_never_trained_on():
    held_out = {text_key("I want my money back")}
    folded = fold_corrections(
        [corrected("  i want my MONEY back ", "complaint"), corrected("refund now", "get_refund")], LABELS, held_out
    )
    assert folded.texts == ["refund now"]
    assert folded.skipped == {HELD_OUT: 1}


def test_the_latest_correction_of_the_same_text_wins():
    folded = fold_corrections(
        [
            corrected("Where is my parcel?", "track_order", message_id="m1"),
            corrected("where  is my parcel?", "complaint", message_id="m2"),
        ],
        LABELS,
        set(),
    )
    assert folded.labels == ["complaint"]
    assert folded.skipped == {SUPERSEDED: 1}


def test_one_label_per_text_keeps_the_order_of_the_latest_corrections():
    kept, dropped = one_label_per_text([("a", "x"), ("b", "y"), ("A", "z")])
    assert kept == [("b", "y"), ("A", "z")] and dropped == 1


def test_a_non_positive_weight_is_refused():
    with pytest.raises(ValueError, match="weight must be positive"):
        fold_corrections([], LABELS, set(), weight=0)


def test_fingerprint_follows_the_examples_and_weight_but_not_their_order():
    a, b = corrected("one", "track_order"), corrected("two", "complaint")
    forward = fold_corrections([a, b], LABELS, set())
    backward = fold_corrections([b, a], LABELS, set())
    heavier = fold_corrections([a, b], LABELS, set(), weight=20)
    relabelled = fold_corrections([a, corrected("two", "get_refund")], LABELS, set())
    assert forward.fingerprint_part() == backward.fingerprint_part()
    assert len({forward.fingerprint_part(), heavier.fingerprint_part(), relabelled.fingerprint_part()}) == 3
    assert (
        NO_CORRECTIONS.fingerprint_part() == ""
        and fold_corrections([corrected("x", "nope")], LABELS, set()).fingerprint_part() == ""
    )


def test_a_version_with_corrections_has_its_own_fingerprint_and_none_keeps_the_plain_one():
    inputs, config = TrainingInputs.from_env(), TrainingConfig()
    plain = model_fingerprint(inputs, config)
    empty = prepare_corrections(inputs, config, [corrected("I am so happy", polarity="positive")])
    folded = prepare_corrections(inputs, config, [corrected("the locker code doesn't work", "track_order")])
    assert model_fingerprint(inputs, config, empty) == plain
    assert model_fingerprint(inputs, config, folded) != plain


def test_training_keeps_report_texts_and_unknown_intents_out():
    inputs, config = TrainingInputs.from_env(), TrainingConfig()
    zh_test = corpora.load_jsonl(inputs.zh_test)
    folded = prepare_corrections(
        inputs,
        config,
        [
            corrected(zh_test.texts[0], "complaint"),
            corrected("the locker code doesn't work", "track_order"),
            corrected("the locker code doesn't work", "locker_support"),
        ],
    )
    assert folded.texts == ["the locker code doesn't work"]
    assert folded.skipped == {HELD_OUT: 1, UNKNOWN_LABEL: 1}


def test_polarity_corrections_fold_on_their_own_field():
    folded = fold_corrections(
        [corrected("meh, it's fine", "track_order", polarity="neutral"), corrected("where is it", "track_order")],
        {"negative", "neutral", "positive"},
        set(),
        field_name="polarity",
    )
    assert (folded.texts, folded.labels) == (["meh, it's fine"], ["neutral"])
    assert folded.skipped == {not_given("polarity"): 1}


def test_feedback_summary_lists_thumbs_down_by_intent_and_the_questions_nobody_corrected():
    signals = LearningSignals(
        [],
        0,
        [
            DislikedReply("acme", "c1", "r1", "m1", "track_order", corrected=False),
            DislikedReply("acme", "c2", "r2", "m2", "track_order", corrected=True),
            DislikedReply("acme", "c3", "r3", "", "", corrected=False),
        ],
        "acme",
    )
    text = feedback_summary(signals)
    assert "3 thumbs-down replies" in text and "track_order 2" in text and "(not enriched) 1" in text
    assert "1 of those questions have no agent correction yet: m1" in text
    assert feedback_summary(LearningSignals([], 0, [], None)).strip() == "feedback      no thumbs-down replies"


def test_polarity_retraining_keeps_the_reported_reviews_out_and_the_plain_version_without_corrections():
    from services.sentiment import datasets
    from services.sentiment.training import TrainingConfig as SentimentConfig
    from services.sentiment.training import model_fingerprint as sentiment_fingerprint
    from services.sentiment.training import prepare_corrections as prepare_polarity

    root = datasets.default_data_root()
    dev_review = datasets.sst2(root, "dev").texts[0]
    folded = prepare_polarity(
        root,
        [
            corrected(dev_review, polarity="negative"),
            corrected("the courier was lovely", polarity="positive"),
            corrected("where is it", "track_order"),
        ],
    )
    assert (folded.texts, folded.labels) == (["the courier was lovely"], ["positive"])
    assert folded.skipped == {HELD_OUT: 1, not_given("polarity"): 1}
    config = SentimentConfig()
    plain = sentiment_fingerprint(root, config)
    assert sentiment_fingerprint(root, config, corrections=prepare_polarity(root, [])) == plain
    assert sentiment_fingerprint(root, config, corrections=folded) != plain

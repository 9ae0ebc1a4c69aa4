"""A tenant's head trained from its file: cross-validated figures, its own labels, PII kept out of the vocabulary."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pytest

from services.common.ml.retraining import FoldedCorrections
from services.common.platform.tenant_file import load_tenant_file
from services.intent.classifier import HEAD_FILE, META_FILE, OUT_OF_SCOPE, IntentClassifier
from services.intent.tenant_training import TenantTrainingConfig, load_off_topic, train_tenant
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.models

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "examples" / "tenant-acme.yaml"
CONFIG = dataclasses.replace(
    TenantTrainingConfig(), clinc_negatives=300, cais_negatives=150, picking_clinc_negatives=150, report_negatives=150
)
PHONE_TEXT = "call me on +49 170 1234567 or mail anna.schmidt@example.com, the promo code fails"


@pytest.fixture(scope="module")
def trained():
    tenant = load_tenant_file(EXAMPLE, ("general", "orders"), "acme")
    corrections = FoldedCorrections(
        [PHONE_TEXT, PHONE_TEXT.replace("fails", "is rejected")], ["promo_code"] * 2, 10.0, 2
    )
    return tenant, train_tenant(tenant, load_off_topic(SHARED_DATA, CONFIG), corrections, CONFIG)


def test_the_head_has_the_files_intents_and_reports_cross_validation(trained) -> None:
    tenant, model = trained
    assert set(model.classifier.labels) == {*tenant.labels, OUT_OF_SCOPE}
    cv = model.metrics["cross_validation"]
    assert cv["folds"] == 5 and cv["n"] == sum(len(i.examples) for i in tenant.intents)
    assert set(cv["per_intent"]) == set(tenant.labels)
    assert cv["accuracy"] >= 0.8, cv  # closed-set, each example predicted by a head that never saw it
    assert model.metrics["training_sizes"]["corrections"] == 2
    for figures in model.metrics["off_topic"].values():
        assert figures["out_of_scope_recall"] >= 0.9


def test_unseen_messages_get_the_tenants_labels(trained) -> None:
    _, model = trained
    from services.common.ml.embeddings import shared_encoder

    texts = ["the voucher code I got by email isn't accepted", "优惠券不能用", "what's the capital of France"]
    predictions = model.classifier.predict_texts(shared_encoder().encode(texts), texts)
    assert [p.label for p in predictions] == ["promo_code", "promo_code", OUT_OF_SCOPE]


def test_no_personal_data_enters_the_saved_vocabulary(trained) -> None:
    _, model = trained
    terms = set(model.classifier.vocabulary.terms)
    assert not {t for t in terms if "1234567" in t or "schmidt" in t or "example" in t}
    assert "w:promo" in terms


def test_the_head_round_trips_as_bytes(trained, tmp_path: pathlib.Path) -> None:
    _, model = trained
    model.classifier.save(tmp_path, {"metrics": model.metrics})
    again = IntentClassifier.from_bytes(
        (tmp_path / HEAD_FILE).read_bytes(), json.loads((tmp_path / META_FILE).read_text())
    )
    rows = np.random.default_rng(0).normal(size=(3, 512)).astype(np.float32)
    texts = ["promo code", "退货", "hello"]
    assert again.predict_texts(rows, texts) == model.classifier.predict_texts(rows, texts)


def test_corrections_of_tenant_labelled_messages_stay_out_of_the_shared_model() -> None:
    from services.common.ml.retraining import CorrectedMessage
    from services.intent.training import TENANT_MODEL, TrainingConfig, TrainingInputs, prepare_corrections

    corrected = [
        CorrectedMessage(
            "acme", "m1", "where is my parcel, it is late", "track_order", "", "cancel_order", "intent-tenant-acme-v2"
        ),
        CorrectedMessage(
            "globex",
            "m2",
            "where is my parcel, it is very late",
            "track_order",
            "",
            "cancel_order",
            "intent-20261202-ab",
        ),
    ]
    folded = prepare_corrections(TrainingInputs(SHARED_DATA), TrainingConfig(), corrected)
    assert folded.texts == ["where is my parcel, it is very late"] and folded.read == 2
    assert folded.skipped == {TENANT_MODEL: 1}

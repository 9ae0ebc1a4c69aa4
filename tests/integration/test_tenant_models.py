"""`cs tenants apply | versions | rollback` against the real database and broker, as an operator runs them."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import yaml
from pymongo import MongoClient

from services.common.platform.kafka import wait_for_kafka
from services.common.storage.tenant_models import model_version_name
from tests.conftest import ROOT, SHARED_DATA

pytestmark = [pytest.mark.stack, pytest.mark.models]

TENANT = "it-tenant-models"
EXAMPLE = ROOT / "docs" / "examples" / "tenant-acme.yaml"


def example(tmp_path: pathlib.Path, without: str = "") -> pathlib.Path:
    """The documented example for this test's tenant, as JSON, optionally without one intent."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["tenant"] = TENANT
    if without:
        doc["intents"] = [i for i in doc["intents"] if i["name"] != without]
        doc["routing"]["intents"] = {k: v for k, v in doc["routing"]["intents"].items() if k != without}
        doc["routing"]["always_escalate"] = [i for i in doc["routing"]["always_escalate"] if i != without]
    path = tmp_path / f"tenant-{without or 'all'}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def cli(stack, *argv: str) -> subprocess.CompletedProcess:
    """`cs ARGV...` against the session's stack, with the shared data the training reads off-topic messages from."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        env=stack.env(CS_SHARED_DATA=str(SHARED_DATA)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_apply_refuses_removing_used_labels_migrates_lists_and_rolls_back(stack, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("intents:\n  - name: only_one\n    examples: [a, b, c, d, e]\n", encoding="utf-8")
    refused = cli(stack, "tenants", "apply", "--tenant", TENANT, str(bad))
    assert refused.returncode == 2 and f"{bad}:2: intents: 1 intents" in refused.stderr

    first = cli(stack, "tenants", "apply", "--tenant", TENANT, str(example(tmp_path)))
    assert first.returncode == 0, first.stderr
    assert f"tenant {TENANT}: version 1" in first.stdout and "5-fold cross-validation" in first.stdout
    topic = f"{stack.prefix}escalations.{TENANT}.promotions"
    assert topic in wait_for_kafka(stack.kafka, 10), "apply creates the tenant queue's escalation topic"

    db = MongoClient(stack.mongo_uri)[stack.database]
    pointer = db["tenant_settings"].find_one({"_id": TENANT})["understanding"]
    assert pointer["version"] == 1 and pointer["model_version"] == model_version_name(TENANT, 1)
    assert "promotions" in [q["name"] for q in pointer["rules"]["queues"]]
    stored = db["tenant_models"].find_one({"_id": f"{TENANT}/v1"})
    assert len(bytes(stored["head"])) > 1000 and "promo_code" in stored["labels"]

    # A message the tenant's model labelled promo_code is stored: dropping the intent is refused.
    db["messages"].insert_one(
        {
            "_id": f"{TENANT}/m-1",
            "tenant_id": TENANT,
            "conversation_id": "c-1",
            "author": "customer",
            "text": "code SAVE20 fails",
            "understanding": {"intent": {"label": "promo_code"}},
            "model_versions": {"intent": model_version_name(TENANT, 1)},
        }
    )
    without = example(tmp_path, without="promo_code")
    kept = cli(stack, "tenants", "apply", "--tenant", TENANT, str(without))
    assert kept.returncode == 1 and "promo_code (1 stored messages and corrections)" in kept.stderr
    assert "--migrate" in kept.stderr
    assert db["tenant_settings"].find_one({"_id": TENANT})["understanding"]["version"] == 1

    migrated = cli(stack, "tenants", "apply", "--tenant", TENANT, str(without), "--migrate", "promo_code=track_order")
    assert migrated.returncode == 0, migrated.stderr
    assert "version 2" in migrated.stdout and "1 stored messages and corrections relabelled" in migrated.stdout
    assert db["messages"].find_one({"_id": f"{TENANT}/m-1"})["understanding"]["intent"]["label"] == "track_order"

    listed = cli(stack, "tenants", "versions", "--tenant", TENANT)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[0].startswith("* v2") and listed.stdout.splitlines()[1].startswith("  v1")

    back = cli(stack, "tenants", "rollback", "--tenant", TENANT)
    assert back.returncode == 0, back.stderr
    assert "version 1" in back.stdout and "(was 2)" in back.stdout
    pointer = db["tenant_settings"].find_one({"_id": TENANT})["understanding"]
    assert pointer["version"] == 1 and "promo_code" in pointer["labels"]
    again = cli(stack, "tenants", "rollback", "--tenant", TENANT, "--to", "1")
    assert again.returncode == 1 and "already in service" in again.stderr
    missing = cli(stack, "tenants", "rollback", "--tenant", TENANT, "--to", "9")
    assert missing.returncode == 1 and "no version 9" in missing.stderr

    # An agent corrected a message of this tenant: retraining folds it into this tenant's model only,
    # and the customer's e-mail and phone number in it never become vocabulary terms.
    text = "the code from my mail anna.schmidt@example.com fails, call me on +49 170 1234567"
    db["messages"].insert_one(
        {"_id": "m-2", "tenant_id": TENANT, "conversation_id": "c-2", "author": "customer", "text": text,
         "understanding": {"intent": {"label": "track_order"}}, "model_versions": {"intent": model_version_name(TENANT, 1)}}
    )  # fmt: skip
    db["corrections"].insert_one(
        {"_id": f"{TENANT}/m-2", "tenant_id": TENANT, "conversation_id": "c-2", "message_id": "m-2",
         "intent": "promo_code", "agent_id": "pia", "corrected_at": dt.datetime.now(dt.UTC),
         "model_intent": "track_order", "model_version": model_version_name(TENANT, 1)}
    )  # fmt: skip
    retrained = cli(stack, "tenants", "retrain", "--tenant", TENANT)
    assert retrained.returncode == 0, retrained.stderr
    assert "version 3" in retrained.stdout and "1 agent corrections" in retrained.stdout
    head = db["tenant_models"].find_one({"_id": f"{TENANT}/v3"})
    with np.load(io.BytesIO(bytes(head["head"]))) as arrays:
        terms = arrays["ngram_terms"].tobytes().decode("utf-8").split("\n")
    assert not [t for t in terms if "schmidt" in t or "1234567" in t or "example" in t]


def test_commands_for_a_tenant_without_a_file(stack) -> None:
    listed = cli(stack, "tenants", "versions", "--tenant", "nobody-here")
    assert listed.returncode == 0 and "built-in taxonomy" in listed.stdout
    back = cli(stack, "tenants", "rollback", "--tenant", "nobody-here")
    assert back.returncode == 1 and "built-in taxonomy" in back.stderr
    retrain = cli(stack, "tenants", "retrain", "--tenant", "nobody-here")
    assert retrain.returncode == 1 and "cs tenants apply" in retrain.stderr


def test_a_stored_head_serves_from_the_database(stack) -> None:
    """What an intent worker does with a pointer: load the version from the database and label with it."""
    from pymongo import AsyncMongoClient

    from services.common.ml.embeddings import shared_encoder
    from services.intent.tenant_heads import TenantHeads

    async def load():
        client = AsyncMongoClient(stack.mongo_uri)
        try:
            heads = TenantHeads(client[stack.database])
            await heads.refresh()
            return heads.get(TENANT)
        finally:
            await client.close()

    head = asyncio.run(load())
    if head is None:
        pytest.fail("the apply test above stores this tenant's model first; run the module whole")
    texts = ["my coupon code is refused"]
    [prediction] = head.classifier.predict_texts(shared_encoder().encode(texts), texts)
    assert prediction.label == "promo_code" and head.model_version == model_version_name(TENANT, head.version)

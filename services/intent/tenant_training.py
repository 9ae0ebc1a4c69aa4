"""Train a tenant's own intent head over the shared encoder, from its tenant file (docs/tenant-file.md).

    python -m services.intent.tenant_training --tenant T --file DOC.json --out DIR [--with-corrections]

`cs tenants apply` runs this in a subprocess (the CLI imports no service, like `cs models`): DOC.json
is the validated tenant file as `TenantFile.to_doc` writes it; DIR receives the head (intent_head.npz)
and its description with the figures (model.json), which the CLI stores in the database. The last
line on stdout is JSON: {"ok": true, "seconds": ..., "cv_accuracy": ...} or {"ok": false, "error": ...}.

What it learns from, and why:
- the tenant's examples (5-20 per intent), weighted up (`example_weight`) against the off-topic rows;
- the tenant's agents' corrections (that tenant's only: one tenant never moves another's model),
  when their label is one of the file's intents, weighted like examples;
- off-topic messages as the out_of_scope class: the file's `out_of_scope_examples`, CLINC150's
  oos_train and its unrelated domains, CAIS (Chinese). Off-topic rows that sit very close to one of the
  tenant's examples (cosine >= `negative_max_similarity`) are dropped: a bank's "what is my balance"
  must not be taught as off-topic because CLINC files it under a domain a shop does not have.

Held-out accuracy is k-fold cross-validation over the examples (k = min(5, the fewest examples of an
intent)): each fold's head never saw the examples it is measured on. Temperature and out-of-scope
threshold are fitted on those out-of-fold predictions plus off-topic messages no head trained on
(CLINC oos_val and val, CAIS valid); CLINC oos_test and CAIS test are kept for the report.

Texts are masked (services/common/platform/pii.py) before they enter the n-gram vocabulary, the only
place a text is saved in the model: a customer's phone number in a correction never becomes a term.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from dataclasses import dataclass

import numpy as np

from services.common.ml.embeddings import MODEL_NAME, SentenceEncoder, shared_encoder
from services.common.ml.ngrams import NgramVocabulary, stack_features
from services.common.ml.retraining import NO_CORRECTIONS, FoldedCorrections, fold_corrections, text_key
from services.common.platform.pii import mask_pii
from services.common.platform.tenant_file import TenantFile
from services.intent import corpora
from services.intent.classifier import OUT_OF_SCOPE, IntentClassifier, decide, softmax
from services.intent.training import (
    TrainingConfig,
    _sample,
    corrections_and_seconds,
    fit_head,
    fit_temperature,
    pick_threshold,
)

PROCEDURE = "tenant-intent-train-v1"
CORRECTION_WEIGHT = 10.0


@dataclass(frozen=True)
class TenantTrainingConfig:
    C: float = 30.0
    example_weight: float = 10.0
    # The out_of_scope class weighs this share of an average intent in all (a few examples per
    # intent against a thousand off-topic rows would otherwise teach "everything is off-topic").
    # On the documented example (30 examples) 0.25 left 23% of out-of-fold examples out of scope,
    # 0.05 10%, with off-topic recall 0.97-1.0 either way; 30 examples are weak evidence.
    off_topic_class_weight: float = 0.05
    folds: int = 5
    seed: int = 13
    clinc_negatives: int = 800
    cais_negatives: int = 300
    picking_clinc_negatives: int = 300
    picking_cais_negatives: int = 200
    report_negatives: int = 400
    negative_max_similarity: float = 0.8
    ngram_min_df: int = 2
    max_iter: int = 3000


@dataclass(frozen=True)
class OffTopic:
    """Off-topic messages by role: trained on, used to pick the threshold, reported on."""

    train: list[str]
    picking: list[str]
    report: dict[str, list[str]]


def load_off_topic(data_dir: pathlib.Path, config: TenantTrainingConfig) -> OffTopic:
    rng = np.random.default_rng(config.seed)
    clinc = corpora.load_clinc(data_dir)
    off_topic = corpora.clinc_off_topic_intents(data_dir)

    def clinc_split(split: str, n: int) -> list[str]:
        return _sample([t for t, i in zip(clinc[split].texts, clinc[split].labels) if i in off_topic], n, rng)

    def cais(split: str, n: int) -> list[str]:
        return _sample(corpora.load_cais_texts(data_dir, split), n, rng)

    return OffTopic(
        train=clinc["oos_train"].texts
        + clinc_split("train", config.clinc_negatives)
        + cais("train", config.cais_negatives),
        picking=clinc["oos_val"].texts
        + clinc_split("val", config.picking_clinc_negatives)
        + cais("valid", config.picking_cais_negatives),
        report={
            "clinc_oos_test": _sample(clinc["oos_test"].texts, config.report_negatives, rng),
            "cais_test": cais("test", config.report_negatives),
        },
    )


@dataclass(frozen=True)
class TenantModel:
    classifier: IntentClassifier
    metrics: dict


def _far_from(examples: np.ndarray, candidates: np.ndarray, limit: float) -> np.ndarray:
    """Indices of candidate rows whose nearest example is less similar than `limit` (rows are unit vectors)."""
    if not len(candidates):
        return np.zeros(0, dtype=int)
    nearest = (candidates @ examples.T).max(axis=1)
    return np.flatnonzero(nearest < limit)


def train_tenant(
    tenant: TenantFile,
    off_topic: OffTopic,
    corrections: FoldedCorrections = NO_CORRECTIONS,
    config: TenantTrainingConfig = TenantTrainingConfig(),
    encoder: SentenceEncoder | None = None,
) -> TenantModel:
    """Fit the tenant's head, measure it by cross-validation, calibrate it and pick its threshold."""
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    encoder = encoder or shared_encoder()
    texts = [t for intent in tenant.intents for t in intent.examples]
    labels = np.array([intent.name for intent in tenant.intents for _ in intent.examples])
    own_negatives = list(tenant.out_of_scope_examples)
    parts = {
        "examples": texts,
        "corrections": list(corrections.texts),
        "own_negatives": own_negatives,
        "negatives": off_topic.train,
        "picking": off_topic.picking,
        **off_topic.report,
    }
    vectors = encoder.encode([t for part in parts.values() for t in part])
    bounds = np.cumsum([0] + [len(p) for p in parts.values()])
    emb = {name: vectors[a:b] for name, a, b in zip(parts, bounds[:-1], bounds[1:])}
    encoded = time.perf_counter()

    # Off-topic rows too close to the tenant's own examples are not off-topic for this tenant.
    anchors = np.vstack([emb["examples"], emb["corrections"]])
    kept: dict[str, list[int]] = {}
    for name in ("negatives", "picking", *off_topic.report):
        kept[name] = list(_far_from(anchors, emb[name], config.negative_max_similarity))
        parts[name] = [parts[name][i] for i in kept[name]]
        emb[name] = emb[name][kept[name]]
    negatives = own_negatives + parts["negatives"]
    negative_emb = np.vstack([emb["own_negatives"], emb["negatives"]])

    vocabulary = NgramVocabulary.fit(
        [mask_pii(t) for t in [*texts, *corrections.texts, *negatives]], config.ngram_min_df
    )

    def rows(embeddings: np.ndarray, items: list[str]):
        return stack_features(embeddings, items, vocabulary)

    def stacked(blocks: list):
        from scipy.sparse import vstack

        return vstack(blocks, format="csr")

    base = TrainingConfig(C=config.C, max_iter=config.max_iter)
    negative_rows = rows(negative_emb, negatives)
    correction_rows = rows(emb["corrections"], list(corrections.texts))

    negative_weight = config.off_topic_class_weight * config.example_weight * len(texts) / len(tenant.intents)
    negative_weight /= max(len(negatives), 1)

    def fit(example_idx: np.ndarray):
        x = stacked(
            [rows(emb["examples"][example_idx], [texts[i] for i in example_idx]), correction_rows, negative_rows]
        )
        y = np.concatenate(
            [labels[example_idx], np.asarray(corrections.labels, dtype=str), [OUT_OF_SCOPE] * len(negatives)]
        )
        w = np.concatenate(
            [
                np.full(len(example_idx), config.example_weight),
                np.full(corrections.used, corrections.weight),
                np.full(len(negatives), negative_weight),
            ]
        )
        return fit_head(x, y, w, base)

    model = fit(np.arange(len(texts)))
    classes = [str(c) for c in model.classes_]
    oos_index = classes.index(OUT_OF_SCOPE)
    targets = np.array([classes.index(label) for label in labels])

    counts = {name: int((labels == name).sum()) for name in tenant.labels}
    k = max(2, min(config.folds, min(counts.values())))
    oof = np.zeros((len(texts), len(classes)))
    folds = StratifiedKFold(k, shuffle=True, random_state=config.seed)
    example_rows = rows(emb["examples"], texts)
    for fold_train, fold_held in folds.split(texts, labels):
        oof[fold_held] = fit(fold_train).decision_function(example_rows[fold_held])
    fitted = time.perf_counter()

    picking_logits = model.decision_function(rows(emb["picking"], parts["picking"]))
    groups = [(oof, targets), (picking_logits, np.full(len(parts["picking"]), oos_index))]
    weights = np.concatenate([np.full(len(t), 1.0 / len(t)) for _, t in groups if len(t)])
    temperature = fit_temperature(
        np.vstack([g for g, t in groups if len(t)]), np.concatenate([t for _, t in groups if len(t)]), weights
    )
    threshold, _ = pick_threshold([(softmax(g / temperature), t) for g, t in groups if len(t)], oos_index)
    head = IntentClassifier(
        classes, model.coef_, model.intercept_, temperature, threshold, MODEL_NAME, vocabulary=vocabulary
    )

    oof_probs = softmax(oof / temperature)
    d = decide(oof_probs, oos_index, threshold)
    per_intent = {
        name: round(float((d.best[labels == name] == targets[labels == name]).mean()), 4) for name in tenant.labels
    }
    report_oos = {}
    for name in off_topic.report:
        if parts[name]:
            probs = head.probabilities(rows(emb[name], parts[name]))
            report_oos[name] = {
                "n": len(parts[name]),
                "out_of_scope_recall": round(float(decide(probs, oos_index, threshold).out_of_scope.mean()), 4),
            }
    metrics = {
        "cross_validation": {
            "folds": k,
            "n": len(texts),
            "accuracy": round(float((d.best == targets).mean()), 4),
            "accuracy_at_threshold": round(float(((d.best == targets) & ~d.out_of_scope).mean()), 4),
            "false_out_of_scope_rate": round(float(d.out_of_scope.mean()), 4),
            "per_intent": per_intent,
        },
        "off_topic": report_oos,
        "selection": {"temperature": round(temperature, 4), "threshold": threshold},
        "training_sizes": {
            "examples": len(texts),
            "corrections": corrections.used,
            "off_topic": len(negatives),
            "off_topic_dropped_as_close": sum(len(v) for v in off_topic.report.values())
            + len(off_topic.train)
            + len(off_topic.picking)
            - sum(len(parts[n]) for n in ("negatives", "picking", *off_topic.report)),
            "ngram_terms": len(vocabulary),
        },
        **corrections_and_seconds(corrections, started, encoded, fitted),
    }
    return TenantModel(head, metrics)


def tenant_corrections(tenant: TenantFile, weight: float = CORRECTION_WEIGHT) -> FoldedCorrections:
    """This tenant's agents' corrections (from the database) whose label is one of its intents."""
    from services.common.ml.retraining import load_signals
    from services.common.platform.settings import Env

    signals = load_signals(Env(), tenant.tenant)
    examples = {text_key(t) for intent in tenant.intents for t in intent.examples}
    return fold_corrections(signals.corrections, "intent", {*tenant.labels, OUT_OF_SCOPE}, examples, weight)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.intent.tenant_training", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--file", required=True, type=pathlib.Path, help="the validated tenant file as JSON")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="folder to write the head into")
    parser.add_argument("--with-corrections", action="store_true", help="fold this tenant's corrections in")
    args = parser.parse_args(argv)
    try:
        tenant = TenantFile.from_doc(json.loads(args.file.read_text(encoding="utf-8")))
        if tenant.tenant != args.tenant:
            raise ValueError(f"the file is for tenant {tenant.tenant!r}, not {args.tenant!r}")
        configured = os.environ.get("CS_SHARED_DATA")
        data_dir = pathlib.Path(configured).expanduser() if configured else corpora.default_shared_data()
        config = TenantTrainingConfig()
        off_topic = load_off_topic(data_dir, config)
        corrections = tenant_corrections(tenant) if args.with_corrections else NO_CORRECTIONS
        trained = train_tenant(tenant, off_topic, corrections, config)
        args.out.mkdir(parents=True, exist_ok=True)
        metadata = {
            "procedure": PROCEDURE,
            "tenant": tenant.tenant,
            "config": config.__dict__,
            "metrics": trained.metrics,
        }
        trained.classifier.save(args.out, metadata)
    except Exception as exc:  # the CLI shows this line; a traceback would bury it
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    cv = trained.metrics["cross_validation"]
    print(json.dumps({"ok": True, "seconds": trained.metrics["seconds"]["total"], "cv_accuracy": cv["accuracy"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

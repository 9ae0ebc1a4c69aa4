"""Figures for the intent engine: accuracy, macro-F1, out-of-scope handling, calibration, entities.

Plain functions over labels, probabilities and annotated messages, so each can be tested on small
fixed inputs; the evaluation command (`bench/eval_understanding.py`) loads models and data, calls
them and writes the report. Three kinds of measurement:

- the production head on data it never trained on: `predict_with`, then `figures`;
- the same training recipe (encoder features, logistic head, temperature, out-of-scope threshold,
  all from `services.intent.training`) retrained on a public benchmark with its own label set:
  `retrain_head`. BANKING77 and CLINC150 share no labels with the platform's 27 intents, so these
  figures measure the recipe, not the shipped model;
- entity extraction against hand-annotated messages (`data/entities_test.jsonl`): `score_entities`.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from services.intent.classifier import OUT_OF_SCOPE, IntentClassifier, decide, softmax
from services.intent.corpora import PACKAGE_DATA
from services.intent.entities import Entity
from services.intent.training import (
    TrainingConfig,
    expected_calibration_error,
    fit_head,
    fit_temperature,
    pick_threshold,
)

ENTITY_CASES = PACKAGE_DATA / "entities_test.jsonl"
ENTITY_TYPES = ("order_number", "email", "phone", "amount", "date", "product")


@dataclass(frozen=True)
class Predictions:
    """A head's answers on a labelled set; `gold` holds OUT_OF_SCOPE for off-topic messages.

    `decided` is what the engine would answer (an intent, or OUT_OF_SCOPE when the head does not
    know); `best_in_scope` the most likely intent whatever the threshold says, with its calibrated
    probability `confidence` and the same probability before temperature scaling.
    """

    gold: tuple[str, ...]
    decided: tuple[str, ...]
    best_in_scope: tuple[str, ...]
    confidence: np.ndarray
    confidence_uncalibrated: np.ndarray


def predict_with(head: IntentClassifier, features, gold: Sequence[str]) -> Predictions:
    """Apply `head` to a feature matrix (dense or scipy sparse), one row per gold label."""
    logits = np.asarray(head.logits(features), dtype=np.float64)
    if len(logits) != len(gold):
        raise ValueError(f"{len(logits)} feature rows for {len(gold)} gold labels; pass one row per message")
    calibrated = softmax(logits / head.temperature)
    decisions = decide(calibrated, head.oos_index, head.threshold)
    rows = np.arange(len(logits))
    labels = np.asarray(head.labels)
    return Predictions(
        gold=tuple(gold),
        decided=tuple(np.where(decisions.out_of_scope, OUT_OF_SCOPE, labels[decisions.best]).tolist()),
        best_in_scope=tuple(labels[decisions.best].tolist()),
        confidence=decisions.confidence,
        # Temperature does not move the argmax, so this is the same intent's probability at T = 1.
        confidence_uncalibrated=softmax(logits)[rows, decisions.best],
    )


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean F1 over the labels present in `gold`; a prediction outside them only costs recall."""
    per_label = per_label_scores(gold, predicted)
    return float(np.mean([s["f1"] for s in per_label.values()])) if per_label else 0.0


def per_label_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, dict]:
    """Support, precision, recall and F1 of every label in `gold` (0.0 where undefined)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    pairs = collections.Counter(zip(gold, predicted))
    gold_count = collections.Counter(gold)
    predicted_count = collections.Counter(predicted)
    scores = {}
    for label in sorted(gold_count):
        hits = pairs[(label, label)]
        precision = hits / predicted_count[label] if predicted_count[label] else 0.0
        recall = hits / gold_count[label]
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        scores[label] = {"support": gold_count[label], "precision": precision, "recall": recall, "f1": f1}
    return scores


def worst_labels(gold: Sequence[str], predicted: Sequence[str], k: int = 5, confusions: int = 3) -> list[dict]:
    """The `k` labels with the lowest F1, each with what it was mistaken for and what was taken for it."""
    scores = per_label_scores(gold, predicted)
    ranked = sorted(scores, key=lambda label: (scores[label]["f1"], -scores[label]["support"], label))[:k]
    errors = collections.Counter((g, p) for g, p in zip(gold, predicted) if g != p)
    result = []
    for label in ranked:
        mistaken_for = sorted(((p, n) for (g, p), n in errors.items() if g == label), key=lambda x: (-x[1], x[0]))
        taken_from = sorted(((g, n) for (g, p), n in errors.items() if p == label), key=lambda x: (-x[1], x[0]))
        result.append(
            {
                "label": label,
                **{
                    name: round(value, 4) if isinstance(value, float) else value
                    for name, value in scores[label].items()
                },
                "mistaken_for": [list(pair) for pair in mistaken_for[:confusions]],
                "taken_from": [list(pair) for pair in taken_from[:confusions]],
            }
        )
    return result


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean confidence against accuracy per equal-width confidence bin (the non-empty ones).

    The same bins as `expected_calibration_error`, so a plot of these shows what that number sums.
    """
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return [
        {
            "lower": b / bins,
            "upper": (b + 1) / bins,
            "n": int((which == b).sum()),
            "confidence": round(float(confidence[which == b].mean()), 4),
            "accuracy": round(float(correct[which == b].mean()), 4),
        }
        for b in range(bins)
        if (which == b).any()
    ]


def confusion_counts(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts[i, j]: messages of labels[i] answered with labels[j]; pairs outside `labels` are left out."""
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, predicted):
        if g in index and p in index:
            counts[index[g], index[p]] += 1
    return counts


def figures(p: Predictions, worst: int = 5) -> dict:
    """Everything the report says about one head on one set.

    accuracy and macro_f1 score the engine's answers over all messages. For in-scope messages:
    in_scope_accuracy counts an out-of-scope answer as wrong (CLINC150's "in-scope accuracy"),
    closed_set_accuracy ignores the threshold (BANKING77's usual figure), ece is measured on the
    best intent's calibrated probability. For off-topic messages: out_of_scope_recall.
    """
    gold, decided, best = np.asarray(p.gold), np.asarray(p.decided), np.asarray(p.best_in_scope)
    inside = gold != OUT_OF_SCOPE
    result: dict = {"n": len(gold), "accuracy": _mean(decided == gold), "macro_f1": round(macro_f1(gold, decided), 4)}
    if inside.any():
        right = (best == gold)[inside]
        result |= {
            "n_in_scope": int(inside.sum()),
            "in_scope_accuracy": _mean((decided == gold)[inside]),
            "closed_set_accuracy": _mean(right),
            "false_out_of_scope_rate": _mean(decided[inside] == OUT_OF_SCOPE),
            "ece_uncalibrated": round(expected_calibration_error(p.confidence_uncalibrated[inside], right), 4),
            "ece": round(expected_calibration_error(p.confidence[inside], right), 4),
        }
    if (~inside).any():
        result |= {
            "n_out_of_scope": int((~inside).sum()),
            "out_of_scope_recall": _mean(decided[~inside] == OUT_OF_SCOPE),
        }
    result["worst"] = worst_labels(p.gold, p.decided, worst)
    return result


def operating_points(
    head: IntentClassifier,
    features,
    gold: Sequence[str],
    thresholds: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
) -> list[dict]:
    """In-scope accuracy and out-of-scope recall at other thresholds: the trade-off the chosen one sits on.

    `gold` must hold both in-scope intents and OUT_OF_SCOPE. At threshold 0 only the head's
    out-of-scope class rejects messages; raising it rejects more of both kinds.
    """
    gold_arr = np.asarray(gold)
    inside = gold_arr != OUT_OF_SCOPE
    if inside.all() or not inside.any():
        raise ValueError("operating points need both in-scope and out-of-scope messages")
    probabilities = head.probabilities(features)
    labels = np.asarray(head.labels)
    points = []
    for threshold in thresholds:
        d = decide(probabilities, head.oos_index, threshold)
        decided = np.where(d.out_of_scope, OUT_OF_SCOPE, labels[d.best])
        points.append(
            {
                "threshold": float(threshold),
                "in_scope_accuracy": _mean((decided == gold_arr)[inside]),
                "out_of_scope_recall": _mean(d.out_of_scope[~inside]),
            }
        )
    return points


def _mean(values: np.ndarray) -> float:
    return round(float(np.mean(values)), 4) if len(values) else 0.0


def retrain_head(
    train_x,
    train_labels: Sequence[str],
    dev: Sequence[tuple[object, Sequence[str]]],
    C: float,
    encoder: str,
) -> IntentClassifier:
    """The production recipe on another label set: logistic head, temperature, threshold.

    `train_labels` must include OUT_OF_SCOPE rows (off-topic examples); `dev` is a list of
    (features, labels) groups the head never trained on, weighted equally when the temperature is
    fitted and the threshold picked, as `services.intent.training.train` does with its dev groups.
    Features may be dense or scipy sparse.
    """
    if OUT_OF_SCOPE not in train_labels:
        raise ValueError(f"training labels need {OUT_OF_SCOPE!r} examples for the recipe's out-of-scope class")
    config = dataclasses.replace(TrainingConfig(), C=C)
    model = fit_head(train_x, np.asarray(train_labels), np.ones(len(train_labels)), config)
    labels = [str(c) for c in model.classes_]
    unknown = sorted({label for _, group in dev for label in group} - set(labels))
    if unknown:
        raise ValueError(f"dev labels the head never trained on: {unknown[:5]}")
    groups = [(model.decision_function(x), np.array([labels.index(label) for label in y])) for x, y in dev]
    weights = np.concatenate([np.full(len(t), 1.0 / len(t)) for _, t in groups])
    temperature = fit_temperature(np.vstack([g for g, _ in groups]), np.concatenate([t for _, t in groups]), weights)
    threshold, _ = pick_threshold([(softmax(g / temperature), t) for g, t in groups], labels.index(OUT_OF_SCOPE))
    return IntentClassifier(labels, model.coef_, model.intercept_, temperature, threshold, encoder)


def few_shot_indices(labels: Sequence[str], k: int, seed: int) -> np.ndarray:
    """`k` rows of every label (all of them where a label has fewer), drawn with `seed`: the same draw every run."""
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels)
    chosen = [
        rng.choice(rows, min(k, len(rows)), replace=False)
        for rows in (np.flatnonzero(labels_arr == label) for label in sorted(set(labels)))
    ]
    return np.sort(np.concatenate(chosen))


def few_shot_accuracy(train_x, train_labels: Sequence[str], test_x, test_labels: Sequence[str], C: float) -> float:
    """Accuracy of a logistic head trained on a few examples per intent, closed set (no out of scope):
    the setting of a tenant that brings 5-20 examples per intent (issue 16)."""
    config = dataclasses.replace(TrainingConfig(), C=C)
    model = fit_head(train_x, np.asarray(train_labels), np.ones(len(train_labels)), config)
    return float((model.predict(test_x) == np.asarray(test_labels)).mean())


@dataclass(frozen=True)
class EntityCase:
    """One annotated message: the entities a careful reader finds, with their normalised values."""

    id: str
    language: str
    text: str
    now: dt.datetime
    entities: tuple[tuple[str, str, str], ...]  # (type, text as written, value)


def load_entity_cases(path: pathlib.Path = ENTITY_CASES) -> list[EntityCase]:
    """Read {"id", "lang", "text", "now", "entities": [{"type", "text", "value"}]} objects, one a line.

    `now` is when the message was sent (ISO 8601 with offset): relative dates resolve against it.
    """
    cases = []
    for number, line in enumerate(pathlib.Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            entities = tuple((e["type"], e["text"], e["value"]) for e in item["entities"])
            case = EntityCase(item["id"], item["lang"], item["text"], dt.datetime.fromisoformat(item["now"]), entities)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{number} is not an annotated entity case ({exc!r}); fix that line") from None
        wrong = [e for e in entities if e[0] not in ENTITY_TYPES or e[1] not in case.text]
        if wrong or case.now.tzinfo is None:
            raise ValueError(
                f"{path}:{number}: entities {wrong} have an unknown type or text not in the message, "
                "or `now` has no UTC offset; fix that line"
            )
        cases.append(case)
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: case ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return cases


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if tp + fp + fn else None)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        **{
            k: None if v is None else round(v, 4) for k, v in (("precision", precision), ("recall", recall), ("f1", f1))
        },
    }


def score_entities(cases: Sequence[EntityCase], extract: Callable[[str, dt.datetime], Sequence[Entity]]) -> dict:
    """Precision and recall of `extract` on annotated cases, overall, per type and per language.

    "value" matching counts an entity as found when its type and normalised value are right (what
    the generator uses); "span" matching also needs the exact text span. Entities are compared as
    multisets per message, so a repeated entity must be found as often as it occurs.
    """
    counts = {level: collections.defaultdict(lambda: [0, 0, 0]) for level in ("value", "span")}
    errors = []
    for case in cases:
        found = [(e.type, e.text, e.value) for e in extract(case.text, case.now)]
        for level, key in (("value", lambda e: (e[0], e[2])), ("span", lambda e: e)):
            gold = collections.Counter(map(key, case.entities))
            predicted = collections.Counter(map(key, found))
            for entity_type in {k[0] for k in gold | predicted}:
                g = collections.Counter({k: n for k, n in gold.items() if k[0] == entity_type})
                p = collections.Counter({k: n for k, n in predicted.items() if k[0] == entity_type})
                tp, fp, fn = sum((g & p).values()), sum((p - g).values()), sum((g - p).values())
                for group in ("overall", f"type:{entity_type}", f"lang:{case.language}"):
                    cell = counts[level][group]
                    cell[0], cell[1], cell[2] = cell[0] + tp, cell[1] + fp, cell[2] + fn
            if level == "value" and gold != predicted:
                errors.append(
                    {
                        "id": case.id,
                        "text": case.text,
                        "missed": [list(k) for k in (gold - predicted).elements()],
                        "spurious": [list(k) for k in (predicted - gold).elements()],
                    }
                )
    result: dict = {"n_cases": len(cases), "n_entities": sum(len(c.entities) for c in cases)}
    for level, groups in counts.items():
        result[level] = {
            "overall": _prf(*groups["overall"]),
            "by_type": {t: _prf(*groups[f"type:{t}"]) for t in ENTITY_TYPES if f"type:{t}" in groups},
            "by_language": {g[5:]: _prf(*v) for g, v in sorted(groups.items()) if g.startswith("lang:")},
        }
    result["errors"] = errors
    return result

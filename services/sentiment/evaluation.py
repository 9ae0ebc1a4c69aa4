"""Figures for the sentiment model and for the off-the-shelf baselines, on the same sets.

Binary review sets (SST-2, ChnSentiCorp) have no neutral class, so polarity accuracy there is the
sign of the engine's score; the share of texts inside the neutral band is reported beside it.
Anger is measured as anger-vs-rest on CLUE-emotion test (Chinese Weibo), the only public anger
labels here, and on the test half of the hand-written support messages (data/anger_support_test.jsonl).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

from services.sentiment.datasets import TextSet
from services.sentiment.engine import SentimentEngine, SentimentResult


def binary_accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    return sum(p == g for p, g in zip(predicted, gold)) / max(len(gold), 1)


def balanced_accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Mean recall over the gold classes: a constant answer scores 1 / classes, whatever the balance."""
    classes = sorted(set(gold))
    recalls = [sum(p == g for p, g in zip(predicted, gold) if g == c) / sum(g == c for g in gold) for c in classes]
    return sum(recalls) / max(len(recalls), 1)


def f1(predicted: Sequence[bool], gold: Sequence[bool]) -> float:
    true_pos = sum(p and g for p, g in zip(predicted, gold))
    pred_pos, gold_pos = sum(predicted), sum(gold)
    if true_pos == 0:
        return 0.0
    precision, recall = true_pos / pred_pos, true_pos / gold_pos
    return 2 * precision * recall / (precision + recall)


def polarity_figures(results: Sequence[SentimentResult], data: TextSet) -> dict[str, float]:
    predicted = ["positive" if r.score > 0 else "negative" for r in results]
    return {
        "accuracy": binary_accuracy(predicted, data.labels),
        "balanced_accuracy": balanced_accuracy(predicted, data.labels),
        "neutral_share": sum(r.polarity == "neutral" for r in results) / len(results),
    }


def anger_figures(results: Sequence[SentimentResult], data: TextSet, threshold: float) -> dict[str, float]:
    gold = [label == "anger" for label in data.labels]
    flagged = [r.anger >= threshold for r in results]
    return {"f1": f1(flagged, gold), "flagged_share": sum(flagged) / len(flagged)}


def single_message_latency(engine: SentimentEngine, texts: Sequence[str], language: str) -> dict[str, float]:
    """Median and 95th percentile of one `analyze` call, in seconds (what a worker sees per event)."""
    timings = []
    for text in texts:
        started = time.perf_counter()
        engine.analyze(text, language)
        timings.append(time.perf_counter() - started)
    timings.sort()
    return {"median_s": statistics.median(timings), "p95_s": timings[int(0.95 * (len(timings) - 1))]}


def vader_polarity(texts: Sequence[str]) -> list[str]:
    """VADER lexicon (English): compound >= 0 counts as positive."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return ["positive" if analyzer.polarity_scores(t)["compound"] >= 0 else "negative" for t in texts]


def snownlp_polarity(texts: Sequence[str]) -> list[str]:
    """snownlp naive Bayes (Chinese shopping reviews): sentiments >= 0.5 counts as positive."""
    from snownlp import SnowNLP

    return ["positive" if SnowNLP(t).sentiments >= 0.5 else "negative" for t in texts]


def baseline_figures(sets: Sequence[TextSet]) -> dict[str, dict[str, float]]:
    """Accuracy of VADER and snownlp on each set: {"vader": {set name: accuracy}, "snownlp": {...}}."""
    return {
        name: {data.name: binary_accuracy(classify(data.texts), data.labels) for data in sets}
        for name, classify in (("vader", vader_polarity), ("snownlp", snownlp_polarity))
    }

"""The benchmarks' per-stage figures (bench/stage_metrics.py) and their percentile (bench/percentiles.py)."""

from __future__ import annotations

import pathlib
import sys

from prometheus_client import CollectorRegistry, Histogram, generate_latest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))

from percentiles import percentile
from stage_metrics import bucket_percentile, parse_stages, stage_lines

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


def exposition(observations: dict[str, list[float]]) -> str:
    """A /metrics body with cs_stage_seconds as the gateway serves it."""
    registry = CollectorRegistry()
    stages = Histogram("cs_stage_seconds", "stages", ["service", "stage"], buckets=BUCKETS, registry=registry)
    for stage, values in observations.items():
        for value in values:
            stages.labels(service="gateway", stage=stage).observe(value)
    return generate_latest(registry).decode()


def test_a_stage_between_two_reads_counts_only_what_came_between() -> None:
    before = parse_stages(exposition({"publish": [0.003] * 10}))
    after = parse_stages(exposition({"publish": [0.003] * 10 + [0.004] * 98 + [0.2, 0.2], "store": [0.04]}))
    assert after["publish"].count == 110 and abs(after["publish"].seconds - (0.03 + 0.392 + 0.4)) < 1e-9
    lines = stage_lines(before, after, ("auth", "publish", "store"))
    assert len(lines) == 2, "a stage not observed in between has no line"
    publish, store = lines
    assert publish.split()[:2] == ["publish", "100"] and "p50 <=     5 ms" in publish and "p99 <=   250 ms" in publish
    assert store.split()[:2] == ["store", "1"] and "mean    40.0 ms" in store
    assert stage_lines(None, after, ("publish",)) == ["  (the service's /metrics did not answer)"]


def test_bucket_percentile_is_the_bound_that_holds_the_share() -> None:
    cumulative = {0.005: 50.0, 0.01: 90.0, 0.1: 99.0, float("inf"): 100.0}
    assert bucket_percentile(cumulative, 100, 50) == 0.005
    assert bucket_percentile(cumulative, 100, 90) == 0.01
    assert bucket_percentile(cumulative, 100, 99.5) == float("inf")


def test_percentile_is_the_nearest_rank_and_none_without_values() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(v) for v in range(1, 101)], 99) == 99.0
    assert percentile([5.0], 99) == 5.0

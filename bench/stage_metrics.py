"""Per-stage time of one service from its /metrics: `cs_stage_seconds{stage}` between two reads.

A read (`read_stages`) is each stage's histogram as exported: sum, count and the cumulative bucket counts.
The difference of two reads is what the messages between them spent, per stage: `stage_lines` prints the
mean and the bucket bound that holds the 50th and 99th percentile (histogram buckets are coarse: 5, 10, 25,
50, 100, 250 ms ...: the bound, not an interpolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine_busy import read_metrics
from prometheus_client.parser import text_string_to_metric_families

STAGE = "cs_stage_seconds"


@dataclass
class StageHistogram:
    seconds: float = 0.0
    count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> observations at or below it


def parse_stages(body: str) -> dict[str, StageHistogram]:
    """Each stage's histogram in a /metrics body (all `service` labels of the body together)."""
    stages: dict[str, StageHistogram] = {}
    for family in text_string_to_metric_families(body):
        if family.name != STAGE:
            continue
        for sample in family.samples:
            h = stages.setdefault(sample.labels.get("stage", ""), StageHistogram())
            if sample.name == f"{STAGE}_sum":
                h.seconds += sample.value
            elif sample.name == f"{STAGE}_count":
                h.count += sample.value
            elif sample.name == f"{STAGE}_bucket":
                bound = float(sample.labels["le"])
                h.buckets[bound] = h.buckets.get(bound, 0.0) + sample.value
    return stages


def read_stages(address: str) -> dict[str, StageHistogram] | None:
    """The stages a service at host:port exports; None when it does not answer."""
    return read_metrics(address, parse_stages)


def bucket_percentile(buckets: dict[float, float], count: float, q: float) -> float:
    """The smallest bucket bound that holds q % of count observations (inf when only +Inf does)."""
    wanted = count * q / 100.0
    for bound in sorted(buckets):
        if buckets[bound] >= wanted:
            return bound
    return math.inf


def stage_lines(
    before: dict[str, StageHistogram] | None, after: dict[str, StageHistogram] | None, order: tuple[str, ...]
) -> list[str]:
    """One line per stage of `order` observed between the two reads: count, mean, p50 and p99 bucket bounds."""
    if before is None or after is None:
        return ["  (the service's /metrics did not answer)"]
    lines = []
    for stage in order:
        a, b = before.get(stage, StageHistogram()), after.get(stage)
        if b is None or b.count - a.count <= 0:
            continue
        count = b.count - a.count
        delta = {bound: value - a.buckets.get(bound, 0.0) for bound, value in b.buckets.items()}
        p50, p99 = (bucket_percentile(delta, count, q) for q in (50, 99))
        lines.append(
            f"  {stage:<13} {count:6.0f} x  mean {(b.seconds - a.seconds) / count * 1000:7.1f} ms   "
            f"p50 <= {p50 * 1000:5.0f} ms   p99 <= {p99 * 1000:5.0f} ms"
        )
    return lines

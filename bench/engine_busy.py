"""How busy the generator's LLM engine was: its model-work seconds between two reads of /metrics over wall time.

The engine's thread counts the seconds of every forward pass (prefill chunks and decode steps) in
`cs_engine_busy_seconds_total`; the delta over a step's wall time is the share of that time the engine
did model work. Near 1 the engine is the bottleneck; well below 1 the pipeline around it is.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

BUSY = "cs_engine_busy_seconds"


def engine_busy_seconds(body: str) -> float:
    """The counter's total over all its labels (prefill, decode) in a /metrics body; 0 when absent."""
    total = 0.0
    for family in text_string_to_metric_families(body):
        if family.name in (BUSY, f"{BUSY}_total"):
            total += sum(s.value for s in family.samples if s.name == f"{BUSY}_total")
    return total


def scrape_metrics(address: str) -> str:
    """The /metrics text a service exports at host:port."""
    return urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()


def read_engine_busy(address: str) -> float | None:
    """Busy seconds from the generator's /metrics at host:port; None when it does not answer."""
    try:
        body = scrape_metrics(address)
    except OSError:
        return None
    return engine_busy_seconds(body)


def busy_share(before: float | None, after: float | None, wall_s: float) -> float | None:
    """Share of wall_s the engine spent in model work; None when a read failed or no time passed."""
    if before is None or after is None or wall_s <= 0:
        return None
    return (after - before) / wall_s

"""How busy the generator's LLM engine was: its model-work seconds between two reads of /metrics over wall time.

The engine's thread counts the seconds of every forward pass (prefill chunks and decode steps) in
`cs_engine_busy_seconds_total`; the delta over a step's wall time is the share of that time the engine
did model work. Near 1 the engine is the bottleneck; well below 1 the pipeline around it is.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

BUSY = "cs_engine_busy_seconds"
T = TypeVar("T")


def engine_busy_seconds(body: str) -> float:
    """The counter's total over all its labels (prefill, decode) in a /metrics body; 0 when absent."""
    total = 0.0
    for family in text_string_to_metric_families(body):
        if family.name in (BUSY, f"{BUSY}_total"):
            total += sum(s.value for s in family.samples if s.name == f"{BUSY}_total")
    return total


def prompt_tokens(body: str) -> dict[str, float]:
    """cs_engine_prompt_tokens_total by source (cache, read) in a /metrics body; empty when absent."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        if family.name in ("cs_engine_prompt_tokens", "cs_engine_prompt_tokens_total"):
            for s in family.samples:
                if s.name == "cs_engine_prompt_tokens_total":
                    out[s.labels["source"]] = out.get(s.labels["source"], 0.0) + s.value
    return out


def read_prompt_tokens(address: str) -> dict[str, float] | None:
    """Prompt tokens by source from the generator's /metrics at host:port; None when it does not answer."""
    return read_metrics(address, prompt_tokens)


def cached_share(before: dict[str, float] | None, after: dict[str, float] | None) -> float | None:
    """Share of the prompt tokens between two reads that came from the prefix cache; None without figures."""
    if before is None or after is None:
        return None
    cached = after.get("cache", 0.0) - before.get("cache", 0.0)
    total = cached + after.get("read", 0.0) - before.get("read", 0.0)
    return cached / total if total > 0 else None


def scrape_metrics(address: str) -> str:
    """The /metrics text a service exports at host:port."""
    return urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()


def read_metrics(address: str, parse: Callable[[str], T]) -> T | None:
    """`parse` of the /metrics a service exports at host:port; None when it does not answer."""
    try:
        return parse(scrape_metrics(address))
    except OSError:
        return None


def read_engine_busy(address: str) -> float | None:
    """Busy seconds from the generator's /metrics at host:port; None when it does not answer."""
    return read_metrics(address, engine_busy_seconds)


def busy_share(before: float | None, after: float | None, wall_s: float) -> float | None:
    """Share of wall_s the engine spent in model work; None when a read failed or no time passed."""
    if before is None or after is None or wall_s <= 0:
        return None
    return (after - before) / wall_s

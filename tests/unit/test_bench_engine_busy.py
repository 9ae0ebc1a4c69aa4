"""The benchmarks' engine busy share (bench/engine_busy.py): model-work seconds between two reads over wall time."""

from __future__ import annotations

import pathlib
import sys

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))

from engine_busy import busy_share, cached_share, engine_busy_seconds, prompt_tokens


def exposition(prefill: float, decode: float) -> str:
    """A /metrics body as the generator serves it, with another counter that must not count."""
    registry = CollectorRegistry()
    busy = Counter("cs_engine_busy_seconds_total", "busy", ["service", "work"], registry=registry)
    busy.labels(service="generator", work="prefill").inc(prefill)
    busy.labels(service="generator", work="decode").inc(decode)
    Counter("cs_replies_total", "replies", ["service"], registry=registry).labels(service="generator").inc(99)
    Histogram("cs_engine_decode_batch_rows", "rows", ["service"], registry=registry).labels(service="g").observe(4)
    return generate_latest(registry).decode()


def test_busy_seconds_add_up_prefill_and_decode_and_nothing_else():
    assert engine_busy_seconds(exposition(prefill=1.5, decode=2.25)) == 3.75


def test_a_generator_without_the_counter_reads_as_idle():
    assert engine_busy_seconds("# nothing here\n") == 0.0


def test_busy_share_is_the_delta_over_the_wall_time():
    before = engine_busy_seconds(exposition(1.0, 2.0))
    after = engine_busy_seconds(exposition(4.0, 5.0))
    assert busy_share(before, after, wall_s=10.0) == 0.6


def test_busy_share_is_unknown_when_a_read_failed_or_no_time_passed():
    assert busy_share(None, 3.0, 10.0) is None
    assert busy_share(1.0, None, 10.0) is None
    assert busy_share(1.0, 1.0, 0.0) is None


def test_the_prefix_cache_share_is_of_the_prompt_tokens_between_two_reads():
    def body(cache: float, read: float) -> str:
        registry = CollectorRegistry()
        tokens = Counter("cs_engine_prompt_tokens_total", "tokens", ["service", "source"], registry=registry)
        tokens.labels(service="generator", source="cache").inc(cache)
        tokens.labels(service="generator", source="read").inc(read)
        return generate_latest(registry).decode()

    before, after = prompt_tokens(body(100, 300)), prompt_tokens(body(400, 400))
    assert before == {"cache": 100.0, "read": 300.0}
    assert cached_share(before, after) == 0.75
    assert cached_share(after, after) is None, "no prompt in between"
    assert cached_share(None, after) is None and prompt_tokens(exposition(1, 1)) == {}

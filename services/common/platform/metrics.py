"""Prometheus metrics shared by every service: `cs_` prefix, a `service` label on each.

One asyncio process per pod, so the default (single-process) registry is right; no
multiprocess mode.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

EVENTS_CONSUMED = Counter("cs_events_consumed_total", "Events taken from a topic", ["service", "topic"])
EVENTS_PRODUCED = Counter("cs_events_produced_total", "Events published to a topic", ["service", "topic"])
EVENTS_FAILED = Counter(
    "cs_events_failed_total",
    "Events that failed, by reason (each went to the dead-letter topic)",
    ["service", "topic", "reason"],
)
EVENTS_DUPLICATE = Counter(
    "cs_events_duplicate_total", "Redelivered events recognised and skipped", ["service", "topic"]
)
PROCESSING_SECONDS = Histogram(
    "cs_event_processing_seconds", "Time to process one event", ["service", "topic"], buckets=LATENCY_BUCKETS
)
MODEL_SECONDS = Histogram(
    "cs_model_inference_seconds", "Model compute time per message", ["service", "model"], buckets=LATENCY_BUCKETS
)
GRPC_REQUESTS = Counter("cs_grpc_requests_total", "gRPC calls by method and status code", ["service", "method", "code"])
GRPC_SECONDS = Histogram(
    "cs_grpc_request_seconds", "gRPC unary call latency", ["service", "method"], buckets=LATENCY_BUCKETS
)
ESCALATIONS = Counter(
    "cs_escalations_total", "Conversations escalated, by queue and reason", ["service", "queue", "reason"]
)
REPLIES = Counter("cs_replies_total", "Replies sent, by kind", ["service", "kind"])
ANSWER_OUTCOMES = Counter(
    "cs_answer_outcomes_total",
    "What became of messages the bot meant to answer: answer, fallback, refusal or handover, by reason "
    "(no_knowledge, not_grounded, prompt_injection, the failed answer check)",
    ["service", "outcome", "reason"],
)
FIRST_TOKEN_SECONDS = Histogram(
    "cs_generation_first_token_seconds", "Time to the first generated token", ["service"], buckets=LATENCY_BUCKETS
)
GENERATION_SECONDS = Histogram(
    "cs_generation_seconds", "Time to a complete generated answer", ["service"], buckets=LATENCY_BUCKETS
)
STAGE_SECONDS = Histogram(
    "cs_stage_seconds",
    "Time one message spends in a stage: the gateway's accept (auth, conversation, publish, store), the "
    "generator's queueing (admitted, waiting for its conversation's turn), retrieval, prefill (to the first "
    "token), decode, checks, push (stored and sent)",
    ["service", "stage"],
    buckets=LATENCY_BUCKETS,
)


@contextlib.contextmanager
def timed_stage(service: str, stage: str) -> Iterator[None]:
    """Observe the block's wall time in cs_stage_seconds{service, stage}, also when it raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(service=service, stage=stage).observe(time.perf_counter() - started)


DB_COMMANDS = Counter(
    "cs_db_commands_total", "Database commands sent (one round trip each), by command name", ["service", "command"]
)
ENGINE_BUSY = Counter(
    "cs_engine_busy_seconds_total",
    "Seconds the LLM engine's thread spent in model work, by work (prefill: prompt chunks or whole prompts, "
    "decode: steps); its rate over wall time is the engine's busy share",
    ["service", "work"],
)
PROMPT_TOKENS = Counter(
    "cs_engine_prompt_tokens_total",
    "Prompt tokens of the LLM engine's newcomers (chunked prefill), by source: cache (their keys and values "
    "came from the prefix cache) or read (a forward pass read them)",
    ["service", "source"],
)
ENGINE_BATCH_ROWS = Histogram(
    "cs_engine_decode_batch_rows",
    "Conversations advanced together by one decode step of the LLM engine",
    ["service"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
IN_FLIGHT = Gauge(
    "cs_worker_in_flight", "Events taken from Kafka and not yet finished (concurrent admission)", ["service"]
)
ACTIVE_STREAMS = Gauge("cs_gateway_active_streams", "Open reply and queue streams", ["service", "kind"])
READY = Gauge("cs_ready", "1 when the service is ready (health SERVING)", ["service"])
PUSH_CHANNELS = Gauge("cs_generator_push_channels", "gRPC channels held to gateway replicas' reply sinks", ["service"])
DEPENDENCY_UP = Gauge(
    "cs_dependency_up", "1 while the dependency answered its last probe (kafka, database)", ["service", "dependency"]
)
MODEL_RELOADS = Counter(
    "cs_model_reloads_total",
    "Hot reloads of a worker's model: switched to a new version, or failed (old one kept)",
    ["service", "kind", "outcome"],
)
MODEL_VERSION = Gauge(
    "cs_model_version_info", "1 for the model version a worker serves", ["service", "kind", "version"]
)


def start_metrics_server(host: str, port: int) -> None:
    """Serve /metrics; fails fast with a clear error when the port is taken."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise OSError(f"cannot serve /metrics on {host}:{port}: {exc.strerror}; set CS_METRICS_PORT") from None

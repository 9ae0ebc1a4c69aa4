"""The web-chat service's Prometheus metrics (cs_ prefix, a service label, like every service's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.common.platform.metrics import LATENCY_BUCKETS

REQUESTS = Counter(
    "cs_webchat_requests_total", "Visitor API requests by route and HTTP status", ["service", "route", "code"]
)
REQUEST_SECONDS = Histogram(
    "cs_webchat_request_seconds",
    "Visitor API latency (streams: until headers)",
    ["service", "route"],
    buckets=LATENCY_BUCKETS,
)
REFUSALS = Counter(
    "cs_webchat_refusals_total",
    "Requests refused before reaching the gateway's message path, by reason (forbidden_origin, invalid_token, "
    "expired_token, rate_limited, message_too_long, binary_message, ...)",
    ["service", "reason"],
)
OPEN_STREAMS = Gauge("cs_webchat_open_streams", "Open visitor event streams (SSE)", ["service"])

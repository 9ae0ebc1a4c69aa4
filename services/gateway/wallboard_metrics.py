"""The wallboard's figures as Prometheus gauges, set each time a wallboard asks (GetWallboard)."""

from __future__ import annotations

from prometheus_client import Gauge

from services.common.proto.cs.v1 import agent_service_pb2 as apb

LABELS = ["service", "tenant", "queue"]
WAITING = Gauge("cs_queue_waiting", "Conversations waiting in the queue now", LABELS)
LONGEST_WAIT = Gauge(
    "cs_queue_longest_wait_seconds", "How long the queue's longest-waiting conversation has waited", LABELS
)
SERVICE_LEVEL = Gauge(
    "cs_queue_service_level_ratio",
    "Share of the last hour's escalations claimed within the service-level target",
    LABELS,
)
ABANDONED = Gauge("cs_queue_abandoned_last_hour", "Escalations of the last hour counted as abandoned", LABELS)
ESCALATED = Gauge("cs_queue_escalated_last_hour", "Escalations into the queue in the last hour", LABELS)
CSAT = Gauge("cs_csat_average", "Mean CSAT (1..5) over the last 24 hours", ["service", "tenant"])
AGENTS_SIGNED_IN = Gauge("cs_agents_signed_in", "People holding an unexpired console credential", ["service", "tenant"])


def export(tenant_id: str, board: apb.GetWallboardResponse) -> None:
    for q in board.queues:
        labels = {"service": "gateway", "tenant": tenant_id, "queue": q.queue}
        WAITING.labels(**labels).set(q.waiting)
        LONGEST_WAIT.labels(**labels).set(q.longest_wait_s)
        SERVICE_LEVEL.labels(**labels).set(q.service_level if q.service_level >= 0 else float("nan"))
        ABANDONED.labels(**labels).set(q.abandoned_last_hour)
        ESCALATED.labels(**labels).set(q.escalated_last_hour)
    CSAT.labels(service="gateway", tenant=tenant_id).set(board.csat_average)
    AGENTS_SIGNED_IN.labels(service="gateway", tenant=tenant_id).set(sum(a.signed_in for a in board.agents))

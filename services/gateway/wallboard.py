"""The supervisor wallboard's figures, from the queues' event logs and the stored conversations.

Definitions (also shown on the wallboard):
- waiting now / longest wait: conversations in the queue now, and how long the first has waited.
- service level: of the last hour's escalations whose outcome is known (claimed; or waiting, or
  gone unclaimed, for longer than N s), the share claimed within N s of escalation.
- abandoned: an escalation of the last hour that left the queue without anyone claiming it (resolved
  while waiting: the customer left) or that has waited longer than the abandon limit.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from services.common.proto.cs.v1 import agent_service_pb2 as apb

ABANDONED_DEFINITION = (
    "an escalation of the last hour that left the queue unclaimed (resolved while waiting: the customer "
    "left) or has waited longer than {abandon_s} s"
)
WINDOW = dt.timedelta(hours=1)
DAY_HOURS = 24


@dataclass
class QueueTally:
    escalated: int = 0
    claimed: int = 0
    within: int = 0
    abandoned: int = 0
    known: int = 0  # escalations whose service-level outcome is known
    reasons: Counter[int] = field(default_factory=Counter)

    def service_level(self) -> float:
        return self.within / self.known if self.known else -1.0


def tally(entries: list[dict], now: dt.datetime, service_level_s: float, abandon_s: float) -> QueueTally:
    """Walk one queue's log entries of the window (in seq order) and count outcomes.

    Entries: {"kind": "escalated"|"removed", "conversation_id", "at", "reason" (removals),
    "reasons" (escalations)}. A removal pairs with the conversation's open escalation; a removal
    whose escalation is older than the window is not counted.
    """
    out = QueueTally()
    open_since: dict[str, dt.datetime] = {}
    for entry in entries:
        cid, at = entry["conversation_id"], aware(entry["at"])
        if entry["kind"] == "escalated":
            out.escalated += 1
            out.reasons.update(entry.get("reasons") or [])
            open_since[cid] = at
            continue
        since = open_since.pop(cid, None)
        if since is None:
            continue
        waited = (at - since).total_seconds()
        if entry.get("reason") == "REMOVAL_REASON_CLAIMED":
            out.claimed += 1
            out.known += 1
            out.within += waited <= service_level_s
        elif entry.get("reason") == "REMOVAL_REASON_RESOLVED":
            out.abandoned += 1
            out.known += 1
        elif waited > service_level_s:  # transferred on after the target was missed here
            out.known += 1
    for since in open_since.values():
        waited = (now - since).total_seconds()
        if waited > abandon_s:
            out.abandoned += 1
        if waited > service_level_s:
            out.known += 1
    return out


def queue_figures(
    queue: str,
    entries: list[dict],
    waiting_since: list[dt.datetime],
    now: dt.datetime,
    service_level_s: float,
    abandon_s: float,
) -> apb.QueueFigures:
    t = tally(entries, now, service_level_s, abandon_s)
    longest = max(((now - aware(s)).total_seconds() for s in waiting_since), default=0.0)
    return apb.QueueFigures(
        queue=queue,
        waiting=len(waiting_since),
        longest_wait_s=max(0.0, longest),
        escalated_last_hour=t.escalated,
        claimed_last_hour=t.claimed,
        claimed_within_sla_last_hour=t.within,
        abandoned_last_hour=t.abandoned,
        service_level=t.service_level(),
        reasons_last_hour=[apb.ReasonCount(code=code, count=n) for code, n in sorted(t.reasons.items())],  # type: ignore[arg-type]
    )


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def day_figures(entries_by_queue: list[list[dict]], now: dt.datetime) -> list[apb.HourFigures]:
    """Escalations and claims per hour over the last DAY_HOURS hours (entries of each queue in seq
    order); a claim's wait counts in the hour it was claimed."""
    top = now.replace(minute=0, second=0, microsecond=0)
    starts = [top - dt.timedelta(hours=n) for n in range(DAY_HOURS - 1, -1, -1)]
    escalated = [0] * DAY_HOURS
    waits: list[list[float]] = [[] for _ in range(DAY_HOURS)]

    def slot(at: dt.datetime) -> int | None:
        index = DAY_HOURS - 1 - int((top - at.replace(minute=0, second=0, microsecond=0)).total_seconds() // 3600)
        return index if 0 <= index < DAY_HOURS else None

    for entries in entries_by_queue:
        open_since: dict[str, dt.datetime] = {}
        for entry in entries:
            at = aware(entry["at"])
            if entry["kind"] == "escalated":
                open_since[entry["conversation_id"]] = at
                if (i := slot(at)) is not None:
                    escalated[i] += 1
                continue
            since = open_since.pop(entry["conversation_id"], None)
            if since is not None and entry.get("reason") == "REMOVAL_REASON_CLAIMED" and (i := slot(at)) is not None:
                waits[i].append((at - since).total_seconds())
    out = []
    for start, n, hour_waits in zip(starts, escalated, waits):
        figures = apb.HourFigures(
            escalated=n, claimed=len(hour_waits), mean_wait_s=sum(hour_waits) / len(hour_waits) if hour_waits else 0.0
        )
        figures.hour.FromDatetime(start)
        out.append(figures)
    return out

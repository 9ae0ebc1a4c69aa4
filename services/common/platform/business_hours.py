"""When a queue's people are at work: weekly opening hours in the queue's own time zone.

A tenant file gives each queue its hours (docs/tenant-file.md): days ("mon", "mon-fri", "sat,sun")
mapped to time ranges ("09:00-17:30", or "09:00-12:00, 13:00-17:00"), in one IANA time zone.
Outside them a conversation still waits in the queue; the generator only tells the customer when a
person will be back (`next_opening`). Pure and cheap: no clock of its own, the caller passes `now`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zoneinfo
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
MINUTES_PER_DAY = 24 * 60


class HoursError(ValueError):
    """Hours that cannot be read; the message says which part and what is expected."""


def parse_days(spec: str) -> list[int]:
    """'mon-fri' -> [0..4], 'sat,sun' -> [5, 6], 'tue' -> [1]."""
    days: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        first, sep, last = part.partition("-")
        if first not in DAYS or (sep and last not in DAYS):
            raise HoursError(f"{spec!r} is not a day or range of days; use mon..sun, e.g. 'mon-fri' or 'sat,sun'")
        a, b = DAYS.index(first), DAYS.index(last) if sep else DAYS.index(first)
        if b < a:
            raise HoursError(f"{spec!r}: a range of days runs forward within one week (e.g. 'mon-fri')")
        days.extend(range(a, b + 1))
    return days


def parse_ranges(spec: str) -> list[tuple[int, int]]:
    """'09:00-12:00, 13:00-17:30' -> [(540, 720), (780, 1050)] in minutes after midnight; '24:00' may end a range."""
    ranges = []
    for part in spec.split(","):
        match = _RANGE.fullmatch(part.strip())
        if not match:
            raise HoursError(f"{part.strip()!r} is not a time range; write HH:MM-HH:MM, e.g. '09:00-17:30'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > MINUTES_PER_DAY or end <= start:
            raise HoursError(
                f"{part.strip()!r}: the range must start before it ends within one day (00:00-24:00; "
                "a night shift is two ranges on two days)"
            )
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in itertools.pairwise(ranges):
        if start < end:
            raise HoursError(f"{spec!r}: the time ranges overlap")
    return ranges


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours per weekday (0 = Monday), minutes after midnight, in `timezone`."""

    timezone: str
    weekly: tuple[tuple[tuple[int, int], ...], ...]  # seven entries, Monday first

    @classmethod
    def parse(cls, timezone: str, days: dict[str, str]) -> BusinessHours:
        """From the tenant file's form: {"mon-fri": "09:00-17:00", "sat": "10:00-14:00"}; days not named are closed."""
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise HoursError(f"{timezone!r} is not an IANA time zone (e.g. 'Europe/Berlin', 'Asia/Shanghai')") from None
        weekly: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        for day_spec, range_spec in days.items():
            ranges = parse_ranges(range_spec)
            for day in parse_days(day_spec):
                if weekly[day]:
                    raise HoursError(f"{DAYS[day]} is named twice (in {day_spec!r} and before it)")
                weekly[day] = ranges
        if not any(weekly):
            raise HoursError("no day has opening hours; leave business_hours out for a queue that is always open")
        return cls(timezone, tuple(tuple(r) for r in weekly))

    def to_doc(self) -> dict:
        """As stored: ranges by day name, each {"from", "to"} in minutes (no nested arrays: FerretDB has none)."""
        return {
            "timezone": self.timezone,
            "weekly": {DAYS[i]: [{"from": a, "to": b} for a, b in day] for i, day in enumerate(self.weekly) if day},
        }

    @classmethod
    def from_doc(cls, doc: dict) -> BusinessHours:
        weekly = doc["weekly"]
        return cls(
            doc["timezone"],
            tuple(tuple((int(r["from"]), int(r["to"])) for r in weekly.get(day, [])) for day in DAYS),
        )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def is_open(self, now: dt.datetime) -> bool:
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.weekly[local.weekday()])

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """The next moment the queue opens, in the queue's zone; None when it is open now."""
        if self.is_open(now):
            return None
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        for ahead in range(8):
            day = (local.weekday() + ahead) % 7
            for start, _ in self.weekly[day]:
                if ahead == 0 and start <= minute:
                    continue
                date = local.date() + dt.timedelta(days=ahead)
                naive = dt.datetime.combine(date, dt.time(start // 60, start % 60))
                return naive.replace(tzinfo=self.zone)
        return None  # unreachable: parse() refuses hours with no open day

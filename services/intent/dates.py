"""Dates customers mention, in English and Chinese, resolved to calendar days.

Customers say "yesterday", "last Friday", "上周五" or "3月5日" far more often than "2024-03-05",
and the generator needs a real day to compare with order and delivery dates, so every expression
is resolved against the message's own time (`today`), never the clock of the worker that happens
to process it.

Conventions, chosen to be predictable rather than clever:
- "last Friday" is the most recent Friday before today, "next Friday" the first one after today,
  "this Friday" the Friday of the current Monday-to-Sunday week; "上周五"/"下周五"/"这周五" use
  calendar weeks (Monday first), as Chinese speakers do.
- A day without a year ("May 1", "3月5日") is the occurrence nearest to today, so "12月28日" said
  in January is last December.
- Slashed dates are month first (5/1/2024 is May 1): Chinese customers write 2024/5/1 or 5月1日.
- A bare weekday ("on Friday") is not resolved: it could be either direction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

_MONTHS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_EN_WEEKDAYS = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_EN_WEEKDAY = (
    r"(monday|mon|tuesday|tues|tue|wednesday|wed|thursday|thurs|thur|thu|friday|fri"
    r"|saturday|sat|sunday|sun)(?![A-Za-z])"
)
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_ZH_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_EN_COUNTS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_EN_RELATIVE_DAYS = {
    "the day before yesterday": -2,
    "yesterday": -1,
    "today": 0,
    "tonight": 0,
    "tomorrow": 1,
    "the day after tomorrow": 2,
}
_ZH_RELATIVE_DAYS = {
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "今天": 0,
    "今日": 0,
    "明天": 1,
    "明日": 1,
    "后天": 2,
    "大后天": 3,
}

# Latin word edges that also hold next to Chinese characters, which `\b` treats as word characters
# ("我在May 1下的单").
_L = r"(?<![A-Za-z0-9])"
_R = r"(?![A-Za-z0-9])"

DateMatch = tuple[int, int, dt.date]


def _zh_number(token: str) -> int:
    """Small Chinese or Arabic numbers as used in "3天前", "十天前", "十五天前"."""
    if token.isdigit():
        return int(token)
    if "十" in token:
        tens, _, units = token.partition("十")
        return _ZH_DIGITS.get(tens, 1) * 10 + _ZH_DIGITS.get(units, 0)
    return _ZH_DIGITS[token]


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _nearest(month: int, day: int, today: dt.date) -> dt.date | None:
    candidates = [d for y in (today.year - 1, today.year, today.year + 1) if (d := _safe_date(y, month, day))]
    if not candidates:
        return None
    return min(candidates, key=lambda d: (abs((d - today).days), d > today))


def _full_year(token: str) -> int:
    return int(token) + 2000 if len(token) == 2 else int(token)


def _week_start(today: dt.date, weeks: int) -> dt.date:
    return today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=weeks)


def _iso(m: re.Match, today: dt.date) -> dt.date | None:
    return _safe_date(int(m[1]), int(m[2]), int(m[3]))


def _slashed(m: re.Match, today: dt.date) -> dt.date | None:
    return _safe_date(_full_year(m[3]), int(m[1]), int(m[2]))


def _zh_full(m: re.Match, today: dt.date) -> dt.date | None:
    return _safe_date(int(m[1]), int(m[2]), int(m[3]))


def _zh_month_day(m: re.Match, today: dt.date) -> dt.date | None:
    return _nearest(int(m[1]), int(m[2]), today)


def _month_name_day(m: re.Match, today: dt.date) -> dt.date | None:
    month = _MONTHS[m[1][:3].lower()]
    day = int(m[2])
    return _safe_date(int(m[3]), month, day) if m[3] else _nearest(month, day, today)


def _day_month_name(m: re.Match, today: dt.date) -> dt.date | None:
    month = _MONTHS[m[2][:3].lower()]
    day = int(m[1])
    return _safe_date(int(m[3]), month, day) if m[3] else _nearest(month, day, today)


def _en_relative(m: re.Match, today: dt.date) -> dt.date:
    return today + dt.timedelta(days=_EN_RELATIVE_DAYS[re.sub(r"\s+", " ", m[0].lower())])


def _zh_relative(m: re.Match, today: dt.date) -> dt.date:
    return today + dt.timedelta(days=_ZH_RELATIVE_DAYS[m[0]])


def _en_weekday(m: re.Match, today: dt.date) -> dt.date:
    which, target = m[1].lower(), _EN_WEEKDAYS[m[2][:3].lower()]
    if which == "last":
        return today - dt.timedelta(days=(today.weekday() - target - 1) % 7 + 1)
    if which == "next":
        return today + dt.timedelta(days=(target - today.weekday() - 1) % 7 + 1)
    return _week_start(today, 0) + dt.timedelta(days=target)


def _zh_weekday(m: re.Match, today: dt.date) -> dt.date:
    weeks = {"上": -1, "这": 0, "本": 0, "下": 1}[m[1]]
    day = m[2]
    target = int(day) - 1 if day.isdigit() else _ZH_WEEKDAYS[day]
    return _week_start(today, weeks) + dt.timedelta(days=target)


def _en_ago(m: re.Match, today: dt.date) -> dt.date:
    count = int(m[1]) if m[1].isdigit() else _EN_COUNTS[m[1].lower()]
    return today - dt.timedelta(days=count * (7 if m[2].lower() == "week" else 1))


def _zh_ago(m: re.Match, today: dt.date) -> dt.date:
    return today - dt.timedelta(days=_zh_number(m[1]))


_Resolver = Callable[[re.Match, dt.date], dt.date | None]

_RULES: list[tuple[re.Pattern[str], _Resolver]] = [
    (re.compile(r"(?<![\d.])(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d.])"), _iso),
    (re.compile(r"(?<![\d/.])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])"), _slashed),
    (re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]"), _zh_full),
    (re.compile(r"(?<![\d.])(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]"), _zh_month_day),
    (
        re.compile(rf"{_L}{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?(?![A-Za-z0-9:])(?:,?\s*(\d{{4}})(?!\d))?", re.I),
        _month_name_day,
    ),
    (
        re.compile(
            rf"(?<![A-Za-z0-9.])(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?![A-Za-z])(?:,?\s*(\d{{4}})(?!\d))?",
            re.I,
        ),
        _day_month_name,
    ),
    (
        re.compile(
            _L + r"(?:the\s+day\s+before\s+yesterday|the\s+day\s+after\s+tomorrow|yesterday|today|tonight"
            r"|tomorrow)" + _R,
            re.I,
        ),
        _en_relative,
    ),
    (re.compile(rf"{_L}(last|this|next)\s+{_EN_WEEKDAY}", re.I), _en_weekday),
    (
        re.compile(
            _L + r"(\d{1,2}|an?|one|two|three|four|five|six|seven|eight|nine|ten)\s+(day|week)s?\s+ago" + _R, re.I
        ),
        _en_ago,
    ),
    # 前天/后天 inside 之前天气 or 以后天天 are not days: require no 之/以 before them.
    (re.compile(r"大前天|大后天|(?<![之以])前天|(?<![之以])后天|昨天|昨日|今天|今日|明天|明日"), _zh_relative),
    (re.compile(r"(上|这|本|下)个?(?:周|星期|礼拜)([一二三四五六日天1-7])"), _zh_weekday),
    (
        re.compile(r"(\d{1,2}|[一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九])\s*天(?:以|之)?前"),
        _zh_ago,
    ),
]


def find_dates(text: str, today: dt.date) -> Iterator[DateMatch]:
    """Every date expression in `text` as (start, end, day); spans may overlap (the caller picks)."""
    for pattern, resolve in _RULES:
        for m in pattern.finditer(text):
            day = resolve(m, today)
            if day is not None:
                yield m.start(), m.end(), day

"""Reporting periods in UTC: calendar months ("2026-11"), ISO weeks ("2026-W47") and
explicit date ranges ("2026-11-03..2026-11-09", both days included).

A period is a half-open interval ``[start, end)`` of ms since the epoch, so consecutive
periods tile time with no instant counted twice. Ledger times are UTC milliseconds; a
reporting period in another time zone would move orders near midnight between periods,
so every report here says UTC.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from supplyledger.errors import ValidationError

__all__ = ["KINDS", "Period", "containing", "date_range", "month", "span", "week"]

KINDS = ("month", "week")
_DAY_MS = 86_400_000
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True, order=True)
class Period:
    start: int
    end: int
    label: str

    def __contains__(self, ms: object) -> bool:
        return isinstance(ms, int) and self.start <= ms < self.end


def _ms(d: dt.date) -> int:
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()) * 1000


def _date(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms // 1000, dt.UTC).date()


def _month_end_ms(first: dt.date) -> int:
    """Start of the next month, counted in days: December 9999 ends in year 10000, which
    ``datetime.date`` cannot hold."""
    return _ms(first) + calendar.monthrange(first.year, first.month)[1] * _DAY_MS


def month(label: str) -> Period:
    """The calendar month ``YYYY-MM``."""
    m = _MONTH.fullmatch(label.strip())
    if m is None:
        raise ValidationError(f"month must be YYYY-MM, got {label!r}", arg="month")
    if not 1 <= int(m.group(2)) <= 12:
        raise ValidationError(f"month must be YYYY-MM, got {label!r}: there is no month "
                              f"{m.group(2)} (01-12)", arg="month")
    if int(m.group(1)) < 1970:
        raise ValidationError(f"month must be YYYY-MM, got {label!r}: ledger times start in "
                              "1970", arg="month")
    first = dt.date(int(m.group(1)), int(m.group(2)), 1)
    return Period(_ms(first), _month_end_ms(first), first.strftime("%Y-%m"))


def week(label: str) -> Period:
    """The ISO 8601 week ``YYYY-Www`` (Monday 00:00 UTC to the next Monday)."""
    m = _WEEK.fullmatch(label.strip())
    if m is None or int(m.group(1)) < 1970:
        raise ValidationError(f"week must be YYYY-Www, got {label!r}", arg="week")
    try:
        monday = dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise ValidationError(f"no ISO week {label!r}", arg="week") from None
    return Period(_ms(monday), _ms(monday) + 7 * _DAY_MS, label.strip())


def _parse_date(text: str, arg: str) -> dt.date:
    try:
        d = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{arg} must be a date YYYY-MM-DD, got {text!r}",
                              arg=arg) from None
    if d.year < 1970:
        raise ValidationError(f"{arg} is before 1970", arg=arg)
    return d


def date_range(first: str, last: str) -> Period:
    """From the start of day ``first`` to the end of day ``last`` (both included)."""
    a, b = _parse_date(first, "from"), _parse_date(last, "to")
    if b < a:
        raise ValidationError(f"the range ends ({b}) before it starts ({a})", arg="to")
    return Period(_ms(a), _ms(b) + _DAY_MS, f"{a}..{b}")


def containing(kind: str, ms: int) -> Period:
    """The month or ISO week that contains instant ``ms``."""
    d = _date(ms)
    if kind == "month":
        return month(d.strftime("%Y-%m"))
    if kind == "week":
        y, w, _ = d.isocalendar()
        return week(f"{y}-W{w:02d}")
    raise ValidationError(f"period must be one of {', '.join(KINDS)}, got {kind!r}",
                          arg="period")


def span(kind: str, first_ms: int, last_ms: int) -> list[Period]:
    """Every month or week from the one holding ``first_ms`` to the one holding
    ``last_ms``, with no gaps (empty periods are periods too)."""
    out = [containing(kind, first_ms)]
    while out[-1].end <= last_ms:
        out.append(containing(kind, out[-1].end))
    return out

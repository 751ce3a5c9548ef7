"""Business hours (pure): SLA clocks that run only while the team works.

A calendar is ``{"from": "09:00", "to": "18:00", "days": [1, …, 5], "holidays":
["2026-10-01", …], "workdays": ["2026-10-10", …]}`` on Beijing time; ``None`` means around the
clock. ``holidays`` are days off that would be working days; ``workdays`` are the make-up
working days (调休) that China's holiday schedule moves onto a weekend: they are worked with
the usual hours whatever their weekday. A window may not cross midnight (a night shift is two
policies' worth of thinking, not one window).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from scrm.tickets.routing import CHINA, RouteError, is_working_day, parse_days_off, parse_hours

MAX_DAYS = 3 * 366  # no calendar needs to look further ahead than this


class CalendarError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_calendar(value: Any) -> dict[str, Any]:
    """A validated calendar (`CalendarError` naming the part at fault)."""
    try:
        start, end, days = parse_hours(value)
    except RouteError as exc:
        raise CalendarError("business_hours", str(exc).replace("hours", "business_hours")) from None
    if not days:
        raise CalendarError("business_hours", "business_hours.days must name a working day")
    if start >= end:
        raise CalendarError("business_hours", "business_hours.from must be before .to")
    try:
        holidays, workdays = parse_days_off(value, "business_hours")
    except RouteError as exc:
        raise CalendarError(exc.field, str(exc)) from None
    return {
        "from": value["from"],
        "to": value["to"],
        "days": list(days),
        "holidays": holidays,
        "workdays": workdays,
    }


def _windows(calendar: Mapping[str, Any], since: float) -> Iterator[tuple[float, float]]:
    """The working windows from the day of ``since`` on, as unix-second intervals."""
    start, end, days = parse_hours(calendar)
    day = datetime.fromtimestamp(since, CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(MAX_DAYS):
        if is_working_day(calendar, day, days):
            opens = day + timedelta(minutes=start)
            yield opens.timestamp(), (day + timedelta(minutes=end)).timestamp()
        day = (day + timedelta(days=1, hours=3)).replace(hour=0)  # DST-proof, though CN has none
    raise CalendarError("business_hours", "no working time within three years")


def add_business_seconds(calendar: Mapping[str, Any] | None, start: float, seconds: float) -> float:
    """When ``seconds`` of working time after ``start`` have passed."""
    if calendar is None:
        return start + seconds
    remaining = seconds
    for opens, closes in _windows(calendar, start):
        at = max(start, opens)
        if at >= closes:
            continue
        if remaining <= closes - at:
            return at + remaining
        remaining -= closes - at
    raise AssertionError("unreachable")  # _windows raises first


def business_seconds(calendar: Mapping[str, Any] | None, start: float, end: float) -> float:
    """Working time between ``start`` and ``end``."""
    if calendar is None or end <= start:
        return max(end - start, 0.0)
    total = 0.0
    for opens, closes in _windows(calendar, start):
        if opens >= end:
            break
        total += max(min(closes, end) - max(opens, start), 0.0)
    return total

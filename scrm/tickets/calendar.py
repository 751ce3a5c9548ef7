"""Business hours (pure): SLA clocks that run only while the team works.

A calendar is ``{"from": "09:00", "to": "18:00", "days": [1, …, 5], "holidays":
["2026-10-01", …], "workdays": ["2026-10-10", …]}`` on Beijing time; ``None`` means around the
clock. ``holidays`` are days off that would be working days; ``workdays`` are the make-up
working days (调休) that China's holiday schedule moves onto a weekend: they are worked with
the usual hours whatever their weekday. A window may not cross midnight (a night shift is two
policies' worth of thinking, not one window).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from scrm.tickets.routing import CHINA, RouteError, parse_hours

MAX_DAYS = 3 * 366  # no calendar needs to look further ahead than this
MAX_DATES = 1000  # holidays or make-up working days in one calendar
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


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
    holidays = _dates(value, "holidays")
    workdays = _dates(value, "workdays")
    both = sorted(set(holidays) & set(workdays))
    if both:
        raise CalendarError(
            "business_hours.workdays", f"{both[0]} cannot be both a holiday and a working day"
        )
    return {
        "from": value["from"],
        "to": value["to"],
        "days": list(days),
        "holidays": holidays,
        "workdays": workdays,
    }


def _dates(value: Mapping[str, Any], name: str) -> list[str]:
    """``value[name]`` as sorted unique ``YYYY-MM-DD`` days (`CalendarError` naming it)."""
    field = f"business_hours.{name}"
    days = value.get(name, [])
    if not isinstance(days, list) or len(days) > MAX_DATES:
        raise CalendarError(field, f"{name} must be a list of at most {MAX_DATES} dates")
    try:
        if not all(isinstance(day, str) and ISO_DATE.match(day) for day in days):
            raise ValueError(name)
        return sorted({date.fromisoformat(day).isoformat() for day in days})
    except ValueError:
        raise CalendarError(field, f"{name} must be dates as YYYY-MM-DD") from None


def _windows(calendar: Mapping[str, Any], since: float) -> Iterator[tuple[float, float]]:
    """The working windows from the day of ``since`` on, as unix-second intervals."""
    start, end, days = parse_hours(calendar)
    holidays = set(calendar.get("holidays", ()))
    workdays = set(calendar.get("workdays", ()))
    day = datetime.fromtimestamp(since, CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(MAX_DAYS):
        iso = day.date().isoformat()
        if (day.isoweekday() in days or iso in workdays) and iso not in holidays:
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

"""Routing rules (pure): which route a ticket takes and who gets it.

Routes are tried by `order` (then id); the first whose `match` fits wins; when none does,
the default route (if any). Every listed criterion must fit; within one, any value may.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

CHINA = timezone(timedelta(hours=8))  # WeCom teams work on Beijing time
STRATEGIES = ("round_robin", "least_open")
MATCH_KEYS = ("category", "priority", "tags", "channel", "hours")
MAX_DATES = 1000  # holidays or make-up working days in one hours object
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class RouteError(ValueError):
    """A route definition is invalid; `field` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Route:
    id: int
    name: str
    order: int
    match: Mapping[str, Any]
    channels: tuple[int, ...] = ()
    escalation_channels: tuple[int, ...] = ()
    assignees: tuple[str, ...] = ()
    strategy: str = "round_robin"
    show_text: bool = False  # may the group see the customer's words (never by default)
    is_default: bool = False


@dataclass(frozen=True)
class TicketFacts:
    """What routing looks at."""

    category: str
    priority: str
    tags: Sequence[str] = ()
    channel: str | None = None  # the customer's source channel (contact-way state)
    at: float = 0.0


@dataclass
class RouteChoice:
    route: Route | None
    assignee: str | None = None
    candidates: list[str] = field(default_factory=list)


def parse_hours(value: Any) -> tuple[int, int, tuple[int, ...]]:
    """``{"from": "09:00", "to": "18:00", "days": [1..7]}`` → (start minute, end minute, days)."""
    if not isinstance(value, Mapping):
        raise RouteError("match.hours", 'hours must be {"from": "HH:MM", "to": "HH:MM"}')
    try:
        start = _minute(value["from"])
        end = _minute(value["to"])
    except (KeyError, TypeError, ValueError):
        raise RouteError("match.hours", "hours.from and hours.to must be HH:MM") from None
    days = value.get("days", [1, 2, 3, 4, 5, 6, 7])
    if not isinstance(days, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days
    ):
        raise RouteError("match.hours", "hours.days must be weekday numbers 1 (Mon)..7 (Sun)")
    return start, end, tuple(days)


def _minute(text: Any) -> int:
    hours, minutes = str(text).split(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= 24 * 60 or len(str(text)) != 5:
        raise ValueError(text)
    return value


def parse_days_off(value: Mapping[str, Any], prefix: str) -> tuple[list[str], list[str]]:
    """``holidays`` and ``workdays`` (调休) of an hours object as sorted ``YYYY-MM-DD`` lists.

    One rule for route hours and SLA calendars: a holiday is off whatever its weekday, a make-up
    working day is on whatever its weekday, and no day is both (`RouteError` naming the field).
    """
    holidays = _dates(value, "holidays", prefix)
    workdays = _dates(value, "workdays", prefix)
    both = sorted(set(holidays) & set(workdays))
    if both:
        raise RouteError(
            f"{prefix}.workdays", f"{both[0]} cannot be both a holiday and a working day"
        )
    return holidays, workdays


def _dates(value: Mapping[str, Any], name: str, prefix: str) -> list[str]:
    field = f"{prefix}.{name}"
    days = value.get(name, [])
    if not isinstance(days, list) or len(days) > MAX_DATES:
        raise RouteError(field, f"{name} must be a list of at most {MAX_DATES} dates")
    try:
        if not all(isinstance(day, str) and ISO_DATE.match(day) for day in days):
            raise ValueError(name)
        return sorted({date.fromisoformat(day).isoformat() for day in days})
    except ValueError:
        raise RouteError(field, f"{name} must be dates as YYYY-MM-DD") from None


def is_working_day(hours: Mapping[str, Any], day: datetime, days: tuple[int, ...]) -> bool:
    """``day`` (Beijing) is worked: its weekday or a make-up day, and not a holiday."""
    iso = day.date().isoformat()
    if iso in hours.get("holidays", ()):
        return False
    return day.isoweekday() in days or iso in hours.get("workdays", ())


def in_hours(hours: Any, at: float) -> bool:
    """``at`` falls in the window on a working day; the part of a window across midnight
    belongs to the day it started on (a Friday 22:00–06:00 shift covers Saturday 03:00)."""
    start, end, days = parse_hours(hours)
    local = datetime.fromtimestamp(at, CHINA)
    minute = local.hour * 60 + local.minute
    if start <= end:
        return start <= minute < end and is_working_day(hours, local, days)
    if minute >= start:
        return is_working_day(hours, local, days)
    return minute < end and is_working_day(hours, local - timedelta(days=1), days)


def matches(route: Route, facts: TicketFacts) -> bool:
    match = route.match
    for key, value in ((k, match.get(k)) for k in ("category", "priority", "channel")):
        if value and getattr(facts, key) not in value:
            return False
    tags = match.get("tags")
    if tags and not set(tags) & set(facts.tags):
        return False
    hours = match.get("hours")
    return not hours or in_hours(hours, facts.at)


def choose_route(routes: Sequence[Route], facts: TicketFacts) -> Route | None:
    """The first matching route by order, else the default route, else None."""
    ordered = sorted(routes, key=lambda r: (r.order, r.id))
    for route in ordered:
        if not route.is_default and matches(route, facts):
            return route
    return next((r for r in ordered if r.is_default), None)


def pick_assignee(route: Route, position: int, open_counts: Mapping[str, int]) -> str | None:
    """round_robin: the ``position``-th assignee; least_open: the one with fewest open tickets."""
    if not route.assignees:
        return None
    if route.strategy == "least_open":
        return min(
            route.assignees,
            key=lambda user: (open_counts.get(user, 0), route.assignees.index(user)),
        )
    return route.assignees[position % len(route.assignees)]

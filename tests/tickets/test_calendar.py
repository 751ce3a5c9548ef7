"""Business hours: working time added and measured across evenings, weekends and holidays."""

from __future__ import annotations

from datetime import datetime

import pytest

from scrm.tickets.calendar import (
    CalendarError,
    add_business_seconds,
    business_seconds,
    parse_calendar,
)
from scrm.tickets.routing import CHINA

WEEKDAYS = parse_calendar(
    {"from": "09:00", "to": "18:00", "days": [1, 2, 3, 4, 5], "holidays": ["2026-12-01"]}
)


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=CHINA).timestamp()


def dec(day: int, hour: int) -> float:
    return datetime(2026, 12, day, hour, tzinfo=CHINA).timestamp()


@pytest.mark.parametrize(
    ("start", "seconds", "due"),
    [
        (at(30, 10), 3600, at(30, 11)),  # Monday, inside the window
        (at(30, 17, 30), 3600, dec(2, 9) + 1800),  # over the evening and Tuesday's holiday
        (at(30, 7), 600, at(30, 9, 10)),  # before opening: the clock starts at 09:00
        (at(28, 12), 1800, at(30, 9, 30)),  # Saturday: starts on Monday
        (at(30, 10), 0, at(30, 10)),
    ],
)
def test_add_business_seconds(start: float, seconds: float, due: float) -> None:
    assert add_business_seconds(WEEKDAYS, start, seconds) == due
    assert business_seconds(WEEKDAYS, start, due) == seconds


def test_around_the_clock_is_plain_time() -> None:
    assert add_business_seconds(None, 100.0, 50) == 150.0
    assert business_seconds(None, 100.0, 150.0) == 50.0
    assert business_seconds(None, 150.0, 100.0) == 0.0


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"from": "18:00", "to": "09:00"}, "business_hours"),
        ({"from": "09:00", "to": "18:00", "days": []}, "business_hours"),
        ({"from": "09:00", "to": "18:00", "holidays": ["12/01"]}, "business_hours.holidays"),
        ({"from": "9", "to": "18:00"}, "business_hours"),
    ],
)
def test_bad_calendars(value: dict, field: str) -> None:
    with pytest.raises(CalendarError) as caught:
        parse_calendar(value)
    assert caught.value.field == field

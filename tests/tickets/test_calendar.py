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
        ({"from": "09:00", "to": "18:00", "holidays": ["20261001"]}, "business_hours.holidays"),
        ({"from": "09:00", "to": "18:00", "workdays": ["2026-10-32"]}, "business_hours.workdays"),
        ({"from": "09:00", "to": "18:00", "workdays": [20261010]}, "business_hours.workdays"),
        ({"from": "09:00", "to": "18:00", "workdays": "2026-10-10"}, "business_hours.workdays"),
        (
            {
                "from": "09:00",
                "to": "18:00",
                "holidays": ["2026-10-10"],
                "workdays": ["2026-10-10"],
            },
            "business_hours.workdays",
        ),
    ],
)
def test_bad_calendars(value: dict, field: str) -> None:
    with pytest.raises(CalendarError) as caught:
        parse_calendar(value)
    assert caught.value.field == field


# China's 2026 National Day: 1–7 October off, Sunday 20 September and Saturday 10 October worked.
NATIONAL_DAY = parse_calendar(
    {
        "from": "09:00",
        "to": "18:00",
        "days": [1, 2, 3, 4, 5],
        "holidays": [f"2026-10-0{day}" for day in range(1, 8)],
        "workdays": ["2026-10-10", "2026-09-20", "2026-10-10"],
    }
)


def october(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 10, day, hour, minute, tzinfo=CHINA).timestamp()


def test_a_make_up_saturday_is_worked() -> None:
    assert NATIONAL_DAY["workdays"] == ["2026-09-20", "2026-10-10"]  # sorted, once each
    friday_evening = october(9, 17, 50)
    assert add_business_seconds(NATIONAL_DAY, friday_evening, 3600) == october(10, 9, 50)
    assert business_seconds(NATIONAL_DAY, friday_evening, october(10, 9, 50)) == 3600
    plain = {key: value for key, value in NATIONAL_DAY.items() if key != "workdays"}
    assert add_business_seconds(plain, friday_evening, 3600) == october(12, 9, 50)  # Monday


def test_holidays_before_a_make_up_day() -> None:
    # Opened on the last evening before the break: the clock sleeps through 1–7 October.
    last_evening = datetime(2026, 9, 30, 17, 30, tzinfo=CHINA).timestamp()
    assert add_business_seconds(NATIONAL_DAY, last_evening, 3600) == october(8, 9, 30)


def test_a_calendar_without_workdays_still_reads() -> None:
    """Policies stored before make-up days existed carry no ``workdays`` key."""
    stored = {"from": "09:00", "to": "18:00", "days": [1, 2, 3, 4, 5], "holidays": []}
    assert add_business_seconds(stored, october(9, 17, 50), 3600) == october(12, 9, 50)

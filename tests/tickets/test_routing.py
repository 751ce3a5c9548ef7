"""Routing rules: order, first match wins, the default route, hours, assignee strategies."""

from __future__ import annotations

from datetime import datetime

import pytest

from scrm.tickets.routing import (
    CHINA,
    Route,
    RouteError,
    TicketFacts,
    choose_route,
    parse_days_off,
    parse_hours,
    pick_assignee,
)

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=CHINA).timestamp()
MONDAY_22 = datetime(2026, 11, 30, 22, 0, tzinfo=CHINA).timestamp()
SUNDAY_10 = datetime(2026, 11, 29, 10, 0, tzinfo=CHINA).timestamp()


def route(id: int, order: int, match: dict, **kw: object) -> Route:
    return Route(id=id, name=f"r{id}", order=order, match=match, **kw)  # type: ignore[arg-type]


ROUTES = [
    route(1, 20, {"category": ["food_safety"]}),
    route(
        2,
        10,
        {"priority": ["P0"], "hours": {"from": "09:00", "to": "18:00", "days": [1, 2, 3, 4, 5]}},
    ),
    route(3, 30, {"tags": ["VIP"], "channel": ["store-1"]}),
    route(4, 99, {}, is_default=True),
]


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (TicketFacts("food_safety", "P0", at=MONDAY_10), 2),  # lower order wins
        (TicketFacts("food_safety", "P0", at=MONDAY_22), 1),  # outside route 2's hours
        (TicketFacts("food_safety", "P0", at=SUNDAY_10), 1),  # not a weekday
        (TicketFacts("billing", "P2", ["VIP"], "store-1", MONDAY_10), 3),
        (TicketFacts("billing", "P2", ["VIP"], "store-2", MONDAY_10), 4),  # all criteria must fit
        (TicketFacts("billing", "P3", at=MONDAY_10), 4),  # the default
    ],
)
def test_first_match_by_order_then_default(facts: TicketFacts, expected: int) -> None:
    chosen = choose_route(ROUTES, facts)
    assert chosen is not None and chosen.id == expected


def test_no_route_and_no_default_is_none() -> None:
    assert choose_route(ROUTES[:1], TicketFacts("billing", "P3")) is None


def test_overnight_hours() -> None:
    night = [route(1, 1, {"hours": {"from": "20:00", "to": "08:00"}})]
    assert choose_route(night, TicketFacts("x", "P3", at=MONDAY_22)) is not None
    assert choose_route(night, TicketFacts("x", "P3", at=MONDAY_10)) is None


@pytest.mark.parametrize(
    "hours",
    [
        {"from": "9:00", "to": "18:00"},
        {"from": "09:00"},
        "9-18",
        {"from": "09:00", "to": "18:00", "days": [0]},
    ],
)
def test_bad_hours(hours: object) -> None:
    with pytest.raises(RouteError) as caught:
        parse_hours(hours)
    assert caught.value.field == "match.hours"


def test_assignee_strategies() -> None:
    rr = route(1, 1, {}, assignees=("a", "b", "c"))
    assert [pick_assignee(rr, n, {}) for n in range(4)] == ["a", "b", "c", "a"]
    least = route(1, 1, {}, assignees=("a", "b", "c"), strategy="least_open")
    assert pick_assignee(least, 0, {"a": 3, "b": 1, "c": 1}) == "b"
    assert pick_assignee(route(1, 1, {}), 0, {}) is None


WEEKDAY_HOURS = {"from": "09:00", "to": "18:00", "days": [1, 2, 3, 4, 5]}
SATURDAY_10 = datetime(2026, 10, 10, 10, 0, tzinfo=CHINA).timestamp()  # a 调休 Saturday
NATIONAL_DAY_10 = datetime(2026, 10, 1, 10, 0, tzinfo=CHINA).timestamp()  # a Thursday off


def test_route_hours_honour_holidays_and_make_up_days() -> None:
    hours = {**WEEKDAY_HOURS, "holidays": ["2026-10-01"], "workdays": ["2026-10-10"]}
    office = [route(1, 1, {"hours": hours})]
    assert choose_route(office, TicketFacts("x", "P3", at=NATIONAL_DAY_10)) is None
    assert choose_route(office, TicketFacts("x", "P3", at=SATURDAY_10)) is not None
    plain = [route(1, 1, {"hours": WEEKDAY_HOURS})]
    assert choose_route(plain, TicketFacts("x", "P3", at=NATIONAL_DAY_10)) is not None
    assert choose_route(plain, TicketFacts("x", "P3", at=SATURDAY_10)) is None


def test_the_small_hours_of_a_night_shift_belong_to_the_day_it_started() -> None:
    friday_night = {"from": "22:00", "to": "06:00", "days": [5]}
    shift = [route(1, 1, {"hours": friday_night})]
    saturday_3 = datetime(2026, 12, 5, 3, 0, tzinfo=CHINA).timestamp()
    friday_3 = datetime(2026, 12, 4, 3, 0, tzinfo=CHINA).timestamp()
    assert choose_route(shift, TicketFacts("x", "P3", at=saturday_3)) is not None
    assert choose_route(shift, TicketFacts("x", "P3", at=friday_3)) is None  # Thursday's shift


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"holidays": ["2026-10-1"]}, "match.hours.holidays"),
        ({"workdays": "2026-10-10"}, "match.hours.workdays"),
        ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "match.hours.workdays"),
    ],
)
def test_bad_days_off_name_their_field(extra: dict, field: str) -> None:
    with pytest.raises(RouteError) as caught:
        parse_days_off({**WEEKDAY_HOURS, **extra}, "match.hours")
    assert caught.value.field == field

"""The pure parts: the state parser, rotation with an injected clock, stats derivation."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from scrm.channels import rotation as rot
from scrm.channels.spec import SpecError, parse_spec
from scrm.channels.state import STATE_MAX, new_state, parse_state, state_problem
from scrm.channels.stats import Window, derive

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    """A wall-clock time in Shanghai as unix seconds (the injected clock)."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("fair_2026", "fair_2026"),
        ("  fair_2026 ", "fair_2026"),
        ("展会", "展会"),
        ("x" * STATE_MAX, "x" * STATE_MAX),
        ("x" * (STATE_MAX + 1), None),
        ("", None),
        ("   ", None),
        ("a\nb", None),
        (None, None),
        (12, None),
    ],
)
def test_parse_state(raw: object, parsed: str | None) -> None:
    assert parse_state(raw) == parsed


def test_state_problem_and_generated_states() -> None:
    assert state_problem("fair") is None
    assert state_problem(" fair") is not None
    assert state_problem("unattributed") is not None
    states = {new_state() for _ in range(50)}
    assert len(states) == 50 and all(parse_state(s) == s and len(s) <= 13 for s in states)


ROTATION = {
    "daily_cap": 2,
    "schedule": [
        {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00", "staff": ["a", "b"]},
        {"days": [6, 7], "start": "10:00", "end": "16:00", "staff": ["c"]},
    ],
    "backup": ["z"],
}


def test_schedule_picks_the_staff_of_the_slot_and_the_next_boundary() -> None:
    rotation = rot.parse_rotation(ROTATION)
    monday_noon = at("2026-11-30T12:00:00")  # a Monday
    plan = rot.plan(rotation, ["a", "b", "c"], {}, monday_noon)
    assert plan.staff == ("a", "b")
    assert plan.next_change_at == at("2026-11-30T18:00:00")
    evening = rot.plan(rotation, ["a", "b", "c"], {}, at("2026-11-30T19:00:00"))
    assert evening.staff == ("z",)  # nobody scheduled: the backup
    assert evening.next_change_at == at("2026-12-01T09:00:00")
    saturday = rot.plan(rotation, ["a", "b", "c"], {}, at("2026-12-05T11:00:00"))
    assert saturday.staff == ("c",)


def test_a_capped_member_leaves_until_midnight_then_backup_when_all_are_capped() -> None:
    rotation = rot.parse_rotation(ROTATION)
    noon = at("2026-11-30T12:00:00")
    plan = rot.plan(rotation, ["a", "b", "c"], {"a": 2, "b": 1}, noon)
    assert plan.staff == ("b",)
    assert plan.next_change_at == at("2026-11-30T18:00:00")
    all_capped = rot.plan(rotation, ["a", "b", "c"], {"a": 2, "b": 5}, at("2026-11-30T20:00:00"))
    assert all_capped.staff == ("z",)
    assert all_capped.next_change_at == at("2026-12-01T00:00:00")  # caps reset at midnight


def test_no_schedule_means_everyone_and_no_backup_means_everyone() -> None:
    rotation = rot.parse_rotation({"daily_cap": 1})
    plan = rot.plan(rotation, ["a", "b"], {"a": 1}, at("2026-11-30T12:00:00"))
    assert plan.staff == ("b",)
    everyone_capped = rot.plan(rotation, ["a", "b"], {"a": 1, "b": 1}, at("2026-11-30T12:00:00"))
    assert everyone_capped.staff == ("a", "b")
    assert rot.plan(None, ["a"], {}, 0).next_change_at is None


def test_day_start_is_local_midnight() -> None:
    rotation = rot.parse_rotation({"daily_cap": 1, "timezone": "Asia/Shanghai"})
    assert rot.day_start(rotation, at("2026-11-30T00:30:00")) == at("2026-11-30T00:00:00")


def test_rotation_round_trips_through_json() -> None:
    rotation = rot.parse_rotation(ROTATION)
    assert rotation is not None
    assert rot.rotation_from_json(rotation.to_json()) == rotation


def test_spec_requires_scheduled_staff_on_the_channel() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"name": "n", "staff": ["a"], "rotation": ROTATION})
    assert caught.value.field == "rotation.schedule[0].staff"


def test_stats_derivation_counts_customers_not_deliveries() -> None:
    window = Window(date(2026, 11, 29), date(2026, 11, 30), SHANGHAI)
    day1, day2 = int(at("2026-11-29T10:00:00")), int(at("2026-11-30T10:00:00"))
    links = [
        (1, "c1", "a", day1),
        (1, "c1", "b", day2),  # the same customer adds a second member: still one add
        (1, "c2", "a", day2),
        (2, "c2", "b", day2),
    ]
    relations = {
        ("c1", "a"): ("ended", day2),
        ("c1", "b"): ("active", None),
        ("c2", "a"): ("ended", day2 + 60),
        ("c2", "b"): ("active", None),
    }
    stats = derive(window, links, relations)
    one = stats[1].to_json(window)
    assert (one["adds"], one["retained"], one["lost"]) == (2, 1, 1)
    assert one["by_day"] == [
        {"date": "2026-11-29", "adds": 1, "lost": 0},
        {"date": "2026-11-30", "adds": 1, "lost": 1},
    ]
    two = stats[2].to_json(window)
    assert (two["adds"], two["retained"], two["lost"]) == (1, 1, 0)
    assert derive(window, links + links, relations)[1].to_json(window) == one

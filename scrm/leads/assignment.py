"""Who gets a new lead: a pure decision from the channel's rule and today's counts.

Rules: ``round_robin`` (take turns), ``least_open`` (fewest open leads, ties by list order),
``by_field`` (the form answer picks a staff list via ``map``; round-robin inside it; an answer
the map does not know falls back to ``staff``). ``daily_cap`` bounds assignments per member
per local day; when every member is at the cap the ``backup`` members take turns (under the
same cap), and when they are too, nobody is chosen and the lead goes to the public pool.
``hours`` (``{"start": "09:00", "end": "18:00", "timezone"?}``) with ``off_hours`` (userids):
outside working hours the off-hours members take the lead instead of the day staff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


def in_working_hours(rule: Mapping[str, Any], now: float) -> bool:
    """Whether ``now`` falls inside the rule's working hours (always, when it has none)."""
    hours = rule.get("hours")
    if not hours:
        return True
    local = datetime.fromtimestamp(now, ZoneInfo(hours.get("timezone") or DEFAULT_TIMEZONE))
    start = clock_time.fromisoformat(hours["start"])
    end = clock_time.fromisoformat(hours["end"])
    moment = local.time().replace(tzinfo=None)
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end  # a night shift across midnight


def candidates(
    rule: Mapping[str, Any],
    staff: Sequence[str],
    answers: Mapping[str, str],
    *,
    working: bool = True,
) -> list[str]:
    """The members the rule draws from for these answers at this hour (before caps)."""
    if not working and rule.get("off_hours"):
        return list(rule["off_hours"])
    pool = list(rule.get("staff") or staff)
    if rule.get("rule") == "by_field":
        mapped = (rule.get("map") or {}).get(answers.get(str(rule.get("field")), ""))
        if mapped:
            pool = list(mapped)
    return pool


def choose_assignee(
    rule: Mapping[str, Any],
    staff: Sequence[str],
    answers: Mapping[str, str],
    *,
    assigned_today: Mapping[str, int],
    open_leads: Mapping[str, int],
    turn: int,
    working: bool = True,
) -> str | None:
    """The member to assign, or None when everyone (backup included) is at the daily cap."""
    cap = rule.get("daily_cap")

    def under_cap(members: Sequence[str]) -> list[str]:
        if cap is None:
            return list(members)
        return [u for u in members if assigned_today.get(u, 0) < cap]

    available = under_cap(candidates(rule, staff, answers, working=working))
    if not available:
        available = under_cap(list(rule.get("backup") or ()))
    if not available:
        return None
    if rule.get("rule") == "least_open":
        return min(available, key=lambda u: (open_leads.get(u, 0), available.index(u)))
    return available[turn % len(available)]

"""Who gets a new lead: a pure decision from the channel's rule and today's counts.

Rules: ``round_robin`` (take turns), ``least_open`` (fewest open leads, ties by list order),
``by_field`` (the form answer picks a staff list via ``map``; round-robin inside it; an answer
the map does not know falls back to ``staff``). ``daily_cap`` bounds assignments per member
per local day; when every member is at the cap the ``backup`` members take turns (under the
same cap), and when they are too, nobody is chosen and the lead goes to the public pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def candidates(
    rule: Mapping[str, Any], staff: Sequence[str], answers: Mapping[str, str]
) -> list[str]:
    """The members the rule draws from for these answers (before caps)."""
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
) -> str | None:
    """The member to assign, or None when everyone (backup included) is at the daily cap."""
    cap = rule.get("daily_cap")

    def under_cap(members: Sequence[str]) -> list[str]:
        if cap is None:
            return list(members)
        return [u for u in members if assigned_today.get(u, 0) < cap]

    available = under_cap(candidates(rule, staff, answers))
    if not available:
        available = under_cap(list(rule.get("backup") or ()))
    if not available:
        return None
    if rule.get("rule") == "least_open":
        return min(available, key=lambda u: (open_leads.get(u, 0), available.index(u)))
    return available[turn % len(available)]

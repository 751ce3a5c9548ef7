"""The ticket state machine: which status may follow which (pure, table-tested).

open → assigned → in_progress → waiting_customer → resolved → closed, with the shortcuts a
service desk takes every day (start work on an open ticket, resolve straight from work or
from waiting, close an unanswered ticket) and *reopen*: resolved or closed → in_progress.
"""

from __future__ import annotations

STATUSES = ("open", "assigned", "in_progress", "waiting_customer", "resolved", "closed")
OPEN_STATUSES = ("open", "assigned", "in_progress", "waiting_customer")
PRIORITIES = ("P0", "P1", "P2", "P3")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("assigned", "in_progress", "closed"),
    "assigned": ("in_progress", "open", "closed"),
    "in_progress": ("waiting_customer", "resolved"),
    "waiting_customer": ("in_progress", "resolved"),
    "resolved": ("closed", "in_progress"),
    "closed": ("in_progress",),
}


class TransitionNotAllowed(Exception):
    """``to`` may not follow ``current``; `allowed` names what may."""

    def __init__(self, current: str, to: str) -> None:
        self.current, self.to, self.allowed = current, to, TRANSITIONS.get(current, ())
        allowed = ", ".join(self.allowed) or "nothing"
        super().__init__(f"a ticket in status {current} cannot become {to}; allowed: {allowed}")


def check_transition(current: str, to: str) -> str:
    """The timeline kind of a valid transition (``reopened`` or ``transition``), else raise."""
    if to not in TRANSITIONS.get(current, ()):
        raise TransitionNotAllowed(current, to)
    return "reopened" if current in ("resolved", "closed") and to == "in_progress" else "transition"


def raised(priority: str) -> str:
    """One step more urgent (P3 → P2 … P0 stays P0): what a breach does to a ticket."""
    index = PRIORITIES.index(priority)
    return PRIORITIES[max(index - 1, 0)]

"""The state machine, as a table: every (from, to) pair is allowed or refused as listed."""

from __future__ import annotations

import pytest

from scrm.tickets.states import (
    PRIORITIES,
    STATUSES,
    TRANSITIONS,
    TransitionNotAllowed,
    check_transition,
    raised,
)

ALLOWED = {
    ("open", "assigned"): "transition",
    ("open", "in_progress"): "transition",
    ("open", "closed"): "transition",
    ("assigned", "in_progress"): "transition",
    ("assigned", "open"): "transition",
    ("assigned", "closed"): "transition",
    ("in_progress", "waiting_customer"): "transition",
    ("in_progress", "resolved"): "transition",
    ("waiting_customer", "in_progress"): "transition",
    ("waiting_customer", "resolved"): "transition",
    ("resolved", "closed"): "transition",
    ("resolved", "in_progress"): "reopened",
    ("closed", "in_progress"): "reopened",
}


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("to", STATUSES)
def test_every_pair(current: str, to: str) -> None:
    if (current, to) in ALLOWED:
        assert check_transition(current, to) == ALLOWED[(current, to)]
        return
    with pytest.raises(TransitionNotAllowed) as caught:
        check_transition(current, to)
    assert caught.value.allowed == TRANSITIONS[current]
    for allowed in TRANSITIONS[current]:
        assert allowed in str(caught.value)


def test_the_refusal_reads_as_english() -> None:
    """Not "a assigned ticket": the status is named as such, whatever its first letter."""
    with pytest.raises(TransitionNotAllowed) as caught:
        check_transition("assigned", "resolved")
    assert str(caught.value) == (
        "a ticket in status assigned cannot become resolved; allowed: in_progress, open, closed"
    )


def test_the_table_lists_every_status() -> None:
    assert set(TRANSITIONS) == set(STATUSES)
    assert {pair for pair in ALLOWED} == {(a, b) for a, tos in TRANSITIONS.items() for b in tos}


@pytest.mark.parametrize(
    ("before", "after"), [("P3", "P2"), ("P2", "P1"), ("P1", "P0"), ("P0", "P0")]
)
def test_a_breach_raises_priority_one_step(before: str, after: str) -> None:
    assert raised(before) == after
    assert after in PRIORITIES

"""SLA with an injected clock: a warning at 80 %, a breach that escalates, each once; pauses."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from scrm.appkeys import SERVICES
from scrm.tickets import sla
from scrm.tickets.models import Ticket, TicketEvent, TicketNotice
from scrm.tickets.notices import BREACH, WARNING
from scrm.tickets.routing import CHINA
from tests.e2e.conftest import Stack
from tests.e2e.test_tickets_notices import Clock, post, shared_clock


async def robot(stack: Stack, name: str) -> tuple[int, str]:
    key = stack.sandbox.state.add_robot()
    body = {"name": name, "kind": "robot", "webhook_key": key}
    return (await post(stack, "/api/v1/group-channels", body))["id"], key


def texts(stack: Stack, key: str) -> list[str]:
    return [s["markdown"]["content"] for s in stack.sandbox.state.sent["robot"] if s["key"] == key]


async def setup(stack: Stack) -> tuple[Clock, str, str]:
    clock = shared_clock(stack)
    group, group_key = await robot(stack, "客服群")
    boss, boss_key = await robot(stack, "主管群")
    route = {"name": "all", "default": True, "channels": [group], "escalation_channels": [boss]}
    await post(stack, "/api/v1/routes", route)
    policy = {"priority": "P1", "first_response_seconds": 100, "resolution_seconds": 1000}
    await post(stack, "/api/v1/sla-policies", policy)
    return clock, group_key, boss_key


HOURS = {"from": "09:00", "to": "18:00", "days": [1, 2, 3, 4, 5]}


async def sweep(stack: Stack) -> int:
    return await sla.sweep(stack.server.app[SERVICES])


async def test_warning_at_80_percent_then_breach_escalates_each_once(stack: Stack) -> None:
    clock, group_key, boss_key = await setup(stack)
    start = clock.now
    ticket: dict[str, Any] = await post(
        stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P1"}
    )
    assert ticket["first_response_due"] == start + 100
    clock.now = start + 79.9
    assert await sweep(stack) == 0
    clock.now = start + 80
    assert await sweep(stack) == 1
    assert await sweep(stack) == 0  # once
    assert (
        WARNING in texts(stack, group_key)[-1] and ticket["number"] in texts(stack, group_key)[-1]
    )
    assert texts(stack, boss_key) == []

    clock.now = start + 100
    assert await sweep(stack) == 1
    assert await sweep(stack) == 0
    escalated = texts(stack, boss_key)
    assert len(escalated) == 1 and BREACH in escalated[0] and ticket["number"] in escalated[0]
    stored = await Ticket.get(id=ticket["id"])
    assert (stored.priority, stored.breaches) == ("P0", 1)  # raised one step
    kinds = await TicketEvent.filter(ticket_id=ticket["id"], kind__startswith="sla").values_list(
        "kind", flat=True
    )
    assert list(kinds) == ["sla_warning", "sla_breach"]


async def test_a_first_response_stops_its_clock_and_waiting_pauses_resolution(
    stack: Stack,
) -> None:
    clock, _, _ = await setup(stack)
    start = clock.now
    ticket = await post(stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P1"})
    path = f"/api/v1/tickets/{ticket['id']}"
    clock.now = start + 50
    await post(stack, path + "/comments", {"by": "lisi", "text": "在处理"})
    await post(stack, path + "/transitions", {"to": "in_progress", "by": "lisi"}, expect=200)
    clock.now = start + 200
    assert await sweep(stack) == 0  # no first-response warning or breach after a response
    await post(stack, path + "/transitions", {"to": "waiting_customer", "by": "lisi"}, expect=200)
    clock.now = start + 1200  # past the resolution warning (800) and due time (1000)
    assert await sweep(stack) == 0  # paused
    await post(stack, path + "/transitions", {"to": "in_progress", "by": "lisi"}, expect=200)
    _, shown = await stack.api("GET", path)
    assert shown["resolution_due"] == start + 1000 + 1000  # pushed on by the 1,000 s paused
    clock.now = start + 1799
    assert await sweep(stack) == 0
    clock.now = start + 1800
    assert await sweep(stack) == 1
    clock.now = start + 2000
    assert await sweep(stack) == 1
    await post(stack, path + "/transitions", {"to": "resolved", "by": "lisi"}, expect=200)
    clock.now = start + 99999
    assert await sweep(stack) == 0


async def test_a_reopened_ticket_gets_a_fresh_resolution_clock(stack: Stack) -> None:
    """Reopen restarts resolution from the policy (of the priority it has now); its warning and
    breach fire once more; the first response stays the first one."""
    clock, group_key, _ = await setup(stack)
    p0 = {"priority": "P0", "first_response_seconds": 50, "resolution_seconds": 500}
    await post(stack, "/api/v1/sla-policies", p0)
    start = clock.now
    ticket = await post(stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P1"})
    path = f"/api/v1/tickets/{ticket['id']}"
    clock.now = start + 10
    await post(stack, path + "/comments", {"by": "lisi", "text": "在处理"})
    await post(stack, path + "/transitions", {"to": "in_progress", "by": "lisi"}, expect=200)
    clock.now = start + 1000
    assert await sweep(stack) == 2  # the first cycle's resolution warning and breach: P1 → P0
    clock.now = start + 1100
    await post(stack, path + "/transitions", {"to": "resolved", "by": "lisi"}, expect=200)
    clock.now = start + 2000
    assert await sweep(stack) == 0  # resolved: no clock runs
    reopened = await post(
        stack, path + "/transitions", {"to": "in_progress", "by": "wangwu"}, expect=200
    )
    assert reopened["resolution_due"] == start + 2000 + 500  # P0's target, from the reopen
    assert reopened["resolved_at"] is None and reopened["status"] == "in_progress"
    assert (reopened["first_response_at"], reopened["first_response_by"]) == (start + 10, "lisi")
    assert reopened["first_response_due"] == ticket["first_response_due"]
    clock.now = start + 2399
    assert await sweep(stack) == 0
    clock.now = start + 2400  # 80 % of the new cycle
    assert await sweep(stack) == 1
    assert await sweep(stack) == 0  # once
    assert WARNING in texts(stack, group_key)[-1]
    clock.now = start + 2500
    assert await sweep(stack) == 1
    assert await sweep(stack) == 0
    stored = await Ticket.get(id=ticket["id"])
    assert (stored.priority, stored.breaches) == ("P0", 2)
    entries = await TicketEvent.filter(ticket_id=ticket["id"]).order_by("id")
    sla_entries = [(e.kind, e.key) for e in entries if e.kind.startswith("sla")]
    tid = ticket["id"]
    assert sla_entries == [
        ("sla_warning", f"sla_warning:resolution:{tid}"),
        ("sla_breach", f"sla_breach:resolution:{tid}"),
        ("sla_warning", f"sla_warning:resolution:{tid}:1"),
        ("sla_breach", f"sla_breach:resolution:{tid}:1"),
    ]
    assert [e.kind for e in entries].count("first_response") == 1
    assert (
        f'"resolution_due": {start + 2500}' in next(e for e in entries if e.kind == "reopened").data
    )


async def test_a_reopen_counts_in_business_hours_and_without_a_policy_runs_no_clock(
    stack: Stack,
) -> None:
    clock = shared_clock(stack)
    policy = {"priority": "P2", "first_response_seconds": 3600, "resolution_seconds": 7200}
    await post(stack, "/api/v1/sla-policies", policy | {"business_hours": HOURS})
    clock.now = beijing(23, 10)  # a Monday
    ticket = await post(stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P2"})
    path = f"/api/v1/tickets/{ticket['id']}/transitions"
    await post(stack, path, {"to": "in_progress", "by": "lisi"}, expect=200)
    await post(stack, path, {"to": "resolved", "by": "lisi"}, expect=200)
    clock.now = beijing(27, 17, 30)  # Friday, half an hour before closing
    reopened = await post(stack, path, {"to": "in_progress", "by": "lisi"}, expect=200)
    assert reopened["resolution_due"] == beijing(30, 10, 30)  # 30 min Friday, 90 min Monday

    untimed = await post(
        stack, "/api/v1/tickets", {"title": "u", "category": "c", "priority": "P3"}
    )
    path = f"/api/v1/tickets/{untimed['id']}/transitions"
    await post(stack, path, {"to": "closed", "by": "lisi"}, expect=200)
    again = await post(stack, path, {"to": "in_progress", "by": "lisi"}, expect=200)
    assert again["resolution_due"] is None
    clock.now = beijing(30, 12)
    assert await sweep(stack) == 2  # the reopened P2's warning and breach, nothing for P3


async def test_concurrent_sweeps_fire_each_breach_once(stack: Stack) -> None:
    """Several sweeps at once (on PostgreSQL, truly concurrent transactions): once each."""
    clock, _, _ = await setup(stack)
    start = clock.now
    for n in range(25):
        await post(stack, "/api/v1/tickets", {"title": f"t{n}", "category": "c", "priority": "P1"})
    clock.now = start + 100
    services = stack.server.app[SERVICES]
    fired = await asyncio.gather(*(sla.sweep(services, flush=False) for _ in range(4)))
    assert sum(fired) == 50  # 25 warnings + 25 breaches, not one more
    assert await TicketEvent.filter(kind="sla_breach").count() == 25
    assert await TicketNotice.filter(kind="sla_breach").count() == 50  # group + escalation
    assert await TicketEvent.filter(kind="sla_warning").count() == 25


async def test_bad_policies(stack: Stack) -> None:
    ok = {"priority": "P1", "first_response_seconds": 1, "resolution_seconds": 1}
    for change, field in [
        ({"priority": "P7"}, "priority"),
        ({"first_response_seconds": 0}, "first_response_seconds"),
        ({"resolution_seconds": "1"}, "resolution_seconds"),
        ({"business_hours": {}}, "business_hours"),
        ({"business_hours": HOURS | {"workdays": ["2026-10-32"]}}, "business_hours.workdays"),
        ({"business_hours": HOURS | {"holidays": ["10/01"]}}, "business_hours.holidays"),
        (
            {"business_hours": HOURS | {"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}},
            "business_hours.workdays",
        ),
    ]:
        body = ok | change
        answer = await post(stack, "/api/v1/sla-policies", body, expect=422)
        assert answer["error"]["field"] == field
    await post(stack, "/api/v1/sla-policies", ok)
    answer = await post(stack, "/api/v1/sla-policies", ok, expect=409)
    assert answer["error"]["code"] == "conflict"


async def test_a_breach_reaches_the_assignees_manager_once(stack: Stack) -> None:
    clock, _, _ = await setup(stack)
    stack.sandbox.state.add_staff("wangzong")
    stack.sandbox.state.add_staff("lisi").direct_leader.append("wangzong")
    start = clock.now
    body = {"title": "t", "category": "c", "priority": "P1", "assignee": "lisi"}
    ticket = await post(stack, "/api/v1/tickets", body)
    clock.now = start + 100
    assert await sweep(stack) == 2  # the warning and the breach, both due
    assert await sweep(stack) == 0
    sent = stack.sandbox.state.sent["app_message"]
    assert [m["touser"] for m in sent] == [["wangzong"]]
    assert BREACH in sent[0]["markdown"]["content"]
    assert ticket["number"] in sent[0]["markdown"]["content"]
    entry = await TicketEvent.get(ticket_id=ticket["id"], kind="sla_breach")
    assert '"managers": ["wangzong"]' in entry.data
    _, channels = await stack.api("GET", "/api/v1/group-channels")
    assert {"name": "主管:wangzong", "kind": "user", "userid": "wangzong"}.items() <= next(
        c for c in channels["channels"] if c["kind"] == "user"
    ).items()


async def test_business_hours_stop_the_clock_after_work_and_while_waiting(stack: Stack) -> None:
    clock = shared_clock(stack)
    hours = {"from": "09:00", "to": "18:00", "days": [1, 2, 3, 4, 5]}
    policy = {"priority": "P2", "first_response_seconds": 3600, "resolution_seconds": 7200}
    created = await post(stack, "/api/v1/sla-policies", policy | {"business_hours": hours})
    assert created["business_hours"]["days"] == [1, 2, 3, 4, 5]
    body = {"title": "t", "category": "c", "priority": "P2"}

    clock.now = beijing(27, 17, 30)  # a Friday, half an hour before closing
    ticket = await post(stack, "/api/v1/tickets", body)
    assert ticket["first_response_due"] == beijing(30, 9, 30)  # Monday morning
    clock.now = beijing(29, 12)
    assert await sweep(stack) == 0  # the weekend does not count
    clock.now = beijing(30, 9, 18)  # 80 % of an hour of working time
    assert await sweep(stack) == 1

    clock.now = beijing(30, 10)
    second = await post(stack, "/api/v1/tickets", body)
    assert second["resolution_due"] == beijing(30, 12)
    path = f"/api/v1/tickets/{second['id']}/transitions"
    clock.now = beijing(30, 11)  # an hour of the two left
    await post(stack, path, {"to": "in_progress", "by": "lisi"}, expect=200)
    await post(stack, path, {"to": "waiting_customer", "by": "lisi"}, expect=200)
    clock.now = beijing(30, 17, 30)
    moved = await post(stack, path, {"to": "in_progress", "by": "lisi"}, expect=200)
    assert moved["resolution_due"] == beijing_dec(1, 9, 30)  # 30 min today, 30 min tomorrow


async def test_a_make_up_saturday_runs_the_clock(stack: Stack) -> None:
    """调休: Saturday 10 October 2026 is a working day after the National Day week off."""
    clock = shared_clock(stack)
    calendar = HOURS | {"holidays": ["2026-10-08"], "workdays": ["2026-10-10"]}
    policy = {"priority": "P2", "first_response_seconds": 3600, "resolution_seconds": 7200}
    created = await post(stack, "/api/v1/sla-policies", policy | {"business_hours": calendar})
    assert created["business_hours"]["workdays"] == ["2026-10-10"]
    _, listed = await stack.api("GET", "/api/v1/sla-policies")
    assert listed["policies"][0]["business_hours"]["workdays"] == ["2026-10-10"]
    clock.now = october(9, 17, 50)  # a Friday, ten minutes before closing
    ticket = await post(stack, "/api/v1/tickets", {"title": "t", "category": "c", "priority": "P2"})
    assert ticket["first_response_due"] == october(10, 9, 50)  # the make-up Saturday
    assert ticket["resolution_due"] == october(10, 10, 50)
    clock.now = october(10, 9, 38)  # 80 % of the hour: 48 minutes of working time
    assert await sweep(stack) == 1
    stored = await Ticket.get(id=ticket["id"])
    assert stored.sla_calendar is not None and "2026-10-10" in stored.sla_calendar


def october(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 10, day, hour, minute, tzinfo=CHINA).timestamp()


def beijing(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=CHINA).timestamp()


def beijing_dec(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 12, day, hour, minute, tzinfo=CHINA).timestamp()

"""The public pool: release, first-claim-wins under concurrency, the claim cap, recycling."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest

from scrm.appkeys import SERVICES
from scrm.leads import pool
from scrm.leads.models import Lead, LeadEvent
from scrm.leads.pool import recycle_unworked
from tests.e2e.conftest import Stack
from tests.leads.flows import Visitor, form_channel

DAY = 86400.0


async def leads(stack: Stack, n: int = 1, **channel: object) -> list[Lead]:
    made = await form_channel(stack, **channel)
    visitor = Visitor(stack, made["state"])
    await visitor.open()
    for i in range(n):
        await visitor.submit(name=f"客户{i}", phone=f"1380000000{i}")
    await stack.drain()
    return list(await Lead.all().order_by("id"))


async def test_release_then_exactly_one_of_two_concurrent_claims_wins(stack: Stack) -> None:
    [lead] = await leads(stack)
    path = f"/api/v1/leads/{lead.id}"
    status, body = await stack.api(
        "POST", path + "/release", json={"by": "zhangsan", "reason": "客户暂无需求"}
    )
    assert status == 200 and (body["pooled"], body["owner"]) == (True, None)
    [released] = [h for h in body["history"] if h["kind"] == "released"]
    assert (released["userid"], released["actor"], released["reason"]) == (
        "zhangsan",
        "zhangsan",
        "客户暂无需求",
    )
    status, _ = await stack.api("POST", path + "/release", json={"by": "zhangsan"})
    assert status == 409
    _, pooled = await stack.api("GET", "/api/v1/leads?pooled=true")
    assert [x["id"] for x in pooled["leads"]] == [lead.id]
    for userid in ("lisi", "wangwu"):
        stack.sandbox.state.add_staff(userid)
    results = await asyncio.gather(
        stack.api("POST", path + "/claim", json={"by": "lisi"}),
        stack.api("POST", path + "/claim", json={"by": "wangwu"}),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409]
    winner = next(body for status, body in results if status == 200)
    after = await Lead.get(id=lead.id)
    assert (after.owner, after.pooled) == (winner["owner"], False)
    assert await LeadEvent.filter(lead_id=lead.id, kind="claimed").count() == 1


async def test_claims_per_day_are_capped(stack: Stack) -> None:
    services = stack.server.app[SERVICES]
    services.settings = dataclasses.replace(services.settings, leads_claim_cap=1)
    first, second = await leads(stack, 2)
    for lead in (first, second):
        await stack.api("POST", f"/api/v1/leads/{lead.id}/release", json={"by": "m"})
    status, _ = await stack.api("POST", f"/api/v1/leads/{first.id}/claim", json={"by": "lisi"})
    assert status == 200
    status, body = await stack.api("POST", f"/api/v1/leads/{second.id}/claim", json={"by": "lisi"})
    assert (status, body["error"]["code"]) == (409, "claim_cap")
    assert (await Lead.get(id=second.id)).pooled


async def test_closed_leads_stay_out_of_the_pool(stack: Stack) -> None:
    [lead] = await leads(stack)
    await stack.api("PATCH", f"/api/v1/leads/{lead.id}", json={"status": "converted"})
    status, _ = await stack.api("POST", f"/api/v1/leads/{lead.id}/release", json={"by": "m"})
    assert status == 409
    status, _ = await stack.api("POST", f"/api/v1/leads/{lead.id}/claim", json={"by": "lisi"})
    assert status == 409


async def test_unworked_leads_are_recycled_after_n_days_and_the_owner_told(stack: Stack) -> None:
    stack.sandbox.state.add_staff("boss")
    worked, idle = await leads(stack, 2, options={"pool": {"recycle_days": 3}})
    stack.sandbox.state.staff[str(idle.owner)].direct_leader = ["boss"]
    services = stack.server.app[SERVICES]
    assigned = idle.assigned_at or 0.0
    status, _ = await stack.api(
        "POST",
        f"/api/v1/leads/{worked.id}/followups",
        json={"by": worked.owner, "kind": "call", "note": "已电话沟通"},
    )
    assert status == 201
    later = dataclasses.replace(services, clock=lambda: assigned + 2 * DAY)
    assert await recycle_unworked(later) == 0
    later = dataclasses.replace(services, clock=lambda: assigned + 3 * DAY + 1)
    await Lead.filter(id=worked.id).update(last_followup_at=assigned + 2 * DAY)
    assert await recycle_unworked(later) == 1
    assert await recycle_unworked(later) == 0  # already pooled: nothing twice
    after = await Lead.get(id=idle.id)
    assert (after.pooled, after.owner) == (True, None)
    assert (await Lead.get(id=worked.id)).pooled is False
    [event] = await LeadEvent.filter(lead_id=idle.id, kind="recycled")
    assert (event.userid, event.reason) == (idle.owner, "no follow-up in 3 days")
    # The manager is the owner's direct leader in WeCom (user/get), not a setting.
    assert [c.query["userid"] for c in stack.sandbox_calls("user/get")] == [idle.owner]
    assert [m["touser"] for m in recycle_notices(stack)] == [[idle.owner, "boss"]]


def recycle_notices(stack: Stack) -> list[Any]:
    return [
        m for m in stack.sandbox.state.sent["app_message"] if "退回公海" in m["text"]["content"]
    ]


async def test_an_owner_without_a_leader_is_told_alone_each_once(stack: Stack) -> None:
    first, second = await leads(stack, 2, options={"pool": {"recycle_days": 3}})
    state = stack.sandbox.state
    state.add_staff("boss")
    state.staff[str(first.owner)].direct_leader = ["boss"]
    services = stack.server.app[SERVICES]
    later = dataclasses.replace(services, clock=lambda: (second.assigned_at or 0) + 4 * DAY)
    assert await recycle_unworked(later) == 2
    told = sorted(m["touser"] for m in recycle_notices(stack))
    assert told == sorted([[first.owner, "boss"], [second.owner]])
    # The same recycling again (as if a crash undid the move): the ledger sends nothing twice.
    for lead in (first, second):
        await Lead.filter(id=lead.id).update(pooled=False, owner=lead.owner)
    assert await recycle_unworked(later) == 2
    assert len(recycle_notices(stack)) == 2


async def test_a_notice_kept_back_by_a_crash_goes_out_on_the_next_sweep(stack: Stack) -> None:
    [lead] = await leads(stack, options={"pool": {"recycle_days": 3}})
    stack.sandbox.state.add_staff("boss")
    stack.sandbox.state.staff[str(lead.owner)].direct_leader = ["boss"]
    services = stack.server.app[SERVICES]
    later = dataclasses.replace(services, clock=lambda: (lead.assigned_at or 0) + 4 * DAY)
    # The move commits, then the process dies before the notice: as if this sweep stopped
    # right after `_recycle` — the history says whom to tell, the ledger has nothing.
    event = await pool._recycle(later, lead, 3, [str(lead.owner), "boss"])
    assert event is not None and recycle_notices(stack) == []
    assert await recycle_unworked(later) == 0  # nothing new to pool; the notice goes out
    assert [m["touser"] for m in recycle_notices(stack)] == [[lead.owner, "boss"]]
    assert await recycle_unworked(later) == 0
    assert len(recycle_notices(stack)) == 1  # once
    a_day_later = dataclasses.replace(services, clock=lambda: (lead.assigned_at or 0) + 6 * DAY)
    assert await recycle_unworked(a_day_later) == 0
    assert len(recycle_notices(stack)) == 1


async def test_a_wecom_error_still_recycles_and_tells_the_owner(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    [lead] = await leads(stack, options={"pool": {"recycle_days": 3}})
    stack.sandbox.state.faults.inject("user/get", errcode=60011, count=0)  # no directory right
    services = stack.server.app[SERVICES]
    later = dataclasses.replace(services, clock=lambda: (lead.assigned_at or 0) + 4 * DAY)
    with caplog.at_level(logging.WARNING, logger="scrm.leads.pool"):
        assert await recycle_unworked(later) == 1
    assert (await Lead.get(id=lead.id)).pooled
    assert [m["touser"] for m in recycle_notices(stack)] == [[lead.owner]]
    [record] = [r for r in caplog.records if r.name == "scrm.leads.pool"]
    assert "direct leader" in record.getMessage() and "60011" in record.getMessage()


async def test_recycling_can_be_off(stack: Stack) -> None:
    [lead] = await leads(stack, options={"pool": {"recycle_days": 0}})
    services = stack.server.app[SERVICES]
    later = dataclasses.replace(services, clock=lambda: (lead.assigned_at or 0) + 400 * DAY)
    assert await recycle_unworked(later) == 0

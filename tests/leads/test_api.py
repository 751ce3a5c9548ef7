"""/api/v1/leads: filters, search, paging, status moves and reassignment with who and why."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack
from tests.leads.flows import Visitor, form_channel


async def three_leads(stack: Stack) -> Any:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    for name, phone, company in (
        ("韩梅梅", "13812345678", "星河科技"),
        ("李雷", "13900001111", "远山贸易"),
        ("王芳", "15000002222", "星河科技"),
    ):
        assert (await visitor.submit(name=name, phone=phone, company=company))[0] == 303
    await stack.drain()
    return channel


async def names(stack: Stack, query: str) -> list[str]:
    status, body = await stack.api("GET", "/api/v1/leads" + query)
    assert status == 200, body
    return [lead["name"] for lead in body["leads"]]


async def test_filters_search_and_paging(stack: Stack) -> None:
    channel = await three_leads(stack)
    assert await names(stack, "") == ["王芳", "李雷", "韩梅梅"]
    assert await names(stack, "?owner=lisi") == ["李雷"]
    assert await names(stack, f"?channel={channel['id']}&status=new") == ["王芳", "李雷", "韩梅梅"]
    assert await names(stack, "?status=lost") == []
    assert await names(stack, "?q=星河") == ["王芳", "韩梅梅"]
    assert await names(stack, "?q=139 0000 1111") == ["李雷"]  # by the keyed hash
    _, first = await stack.api("GET", "/api/v1/leads?limit=2")
    assert [x["name"] for x in first["leads"]] == ["王芳", "李雷"] and first["next_cursor"]
    rest = await names(stack, f"?limit=2&cursor={first['next_cursor']}")
    assert rest == ["韩梅梅"]
    _, body = await stack.api("GET", "/api/v1/leads")
    assert all("****" in lead["phone"] for lead in body["leads"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=won", "status"),
        ("?channel=x", "channel"),
        ("?limit=0", "limit"),
        ("?pooled=maybe", "pooled"),
    ],
)
async def test_bad_query_is_422_naming_the_parameter(stack: Stack, query: str, field: str) -> None:
    status, body = await stack.api("GET", "/api/v1/leads" + query)
    assert (status, body["error"]["field"]) == (422, field)


async def test_status_moves_forward_or_to_lost_and_is_recorded(stack: Stack) -> None:
    await three_leads(stack)
    _, body = await stack.api("GET", "/api/v1/leads?owner=zhangsan")
    lead_id = body["leads"][0]["id"]
    path = f"/api/v1/leads/{lead_id}"
    status, lead = await stack.api("PATCH", path, json={"status": "contacted", "by": "zhangsan"})
    assert (status, lead["status"]) == (200, "contacted")
    status, body = await stack.api("PATCH", path, json={"status": "new"})
    assert (status, body["error"]["field"]) == (409, "status")
    status, lead = await stack.api("PATCH", path, json={"status": "converted"})
    assert lead["status"] == "converted"
    status, body = await stack.api("PATCH", path, json={"status": "lost"})
    assert status == 409
    assert [h["data"] for h in lead["history"] if h["kind"] == "status"] == [
        {"from": "new", "to": "contacted"},
        {"from": "contacted", "to": "converted"},
    ]


async def test_reassignment_records_who_and_why_and_tells_the_new_owner(stack: Stack) -> None:
    await three_leads(stack)
    stack.sandbox.state.add_staff("wangwu")
    _, body = await stack.api("GET", "/api/v1/leads?owner=zhangsan")
    lead_id = body["leads"][0]["id"]
    before = len(stack.sandbox.state.sent["app_message"])
    status, lead = await stack.api(
        "PATCH",
        f"/api/v1/leads/{lead_id}",
        json={"owner": "wangwu", "by": "manager1", "reason": "客户在华南"},
    )
    assert status == 200 and lead["owner"] == "wangwu"
    [moved] = [h for h in lead["history"] if h["kind"] == "reassigned"]
    assert (moved["actor"], moved["reason"], moved["data"]) == (
        "manager1",
        "客户在华南",
        {"from": "zhangsan", "to": "wangwu"},
    )
    sent = stack.sandbox.state.sent["app_message"]
    assert len(sent) == before + 1 and sent[-1]["touser"] == ["wangwu"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "status"),
        ({"status": "won"}, "status"),
        ({"owner": "wangwu"}, "by"),
        ({"owner": "", "by": "m"}, "owner"),
        ({"colour": "red"}, "colour"),
        ([], "body"),
    ],
)
async def test_bad_patch_is_422_naming_the_field(stack: Stack, body: Any, field: str) -> None:
    await three_leads(stack)
    _, page = await stack.api("GET", "/api/v1/leads")
    status, error = await stack.api("PATCH", f"/api/v1/leads/{page['leads'][0]['id']}", json=body)
    assert (status, error["error"]["field"]) == (422, field)


async def test_unknown_lead_is_404(stack: Stack) -> None:
    for path in ("/api/v1/leads/999", "/api/v1/leads/abc"):
        status, body = await stack.api("GET", path)
        assert (status, body["error"]["code"]) == (404, "not_found")


async def test_daily_cap_sends_overflow_to_backup_then_to_the_pool(stack: Stack) -> None:
    stack.sandbox.state.add_staff("backup1")
    channel = await form_channel(
        stack,
        staff=("zhangsan",),
        assignment={"rule": "round_robin", "daily_cap": 1, "backup": ["backup1"]},
    )
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    for phone in ("13800000001", "13800000002", "13800000003"):
        await visitor.submit(name="客户", phone=phone)
        await stack.drain()
    _, body = await stack.api("GET", "/api/v1/leads")
    assert [(x["owner"], x["pooled"]) for x in reversed(body["leads"])] == [
        ("zhangsan", False),
        ("backup1", False),
        (None, True),
    ]
    assert [m["touser"] for m in stack.sandbox.state.sent["app_message"]] == [
        ["zhangsan"],
        ["backup1"],
    ]


async def test_by_field_routes_by_the_answer(stack: Stack) -> None:
    stack.sandbox.state.add_staff("south1")
    channel = await form_channel(
        stack,
        assignment={"rule": "by_field", "field": "region", "map": {"华南": ["south1"]}},
    )
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    await visitor.submit(name="甲", phone="13800000001", region="华南")
    await visitor.submit(name="乙", phone="13800000002", region="华东")
    await stack.drain()
    _, body = await stack.api("GET", "/api/v1/leads")
    # 乙 falls back to the staff; the channel's second rule assignment: the second member.
    assert {x["name"]: x["owner"] for x in body["leads"]} == {"甲": "south1", "乙": "lisi"}


async def test_an_assignment_decided_on_a_stale_read_does_not_override_a_reassignment(
    stack: Stack,
) -> None:
    from scrm.appkeys import SERVICES
    from scrm.channels.models import Channel
    from scrm.leads.assign import _assign
    from scrm.leads.models import Lead

    channel = await form_channel(stack, options={"pool": {"recycle_days": 0}})
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    await visitor.submit(name="韩梅梅", phone="13812345678")
    stale = await Lead.get()  # read before the worker and the manager act
    stack.sandbox.state.add_staff("wangwu")
    status, _ = await stack.api(
        "PATCH", f"/api/v1/leads/{stale.id}", json={"owner": "wangwu", "by": "manager1"}
    )
    assert status == 200
    services = stack.server.app[SERVICES]
    assert await _assign(services, stale, await Channel.get(id=channel["id"])) is None
    assert (await Lead.get(id=stale.id)).owner == "wangwu"


async def test_nul_in_json_text_is_refused_naming_the_field(stack: Stack) -> None:
    await three_leads(stack)
    _, page = await stack.api("GET", "/api/v1/leads")
    lead_id = page["leads"][0]["id"]
    for path, body, field in (
        (f"/api/v1/leads/{lead_id}/claim", {"by": "a\x00b"}, "by"),
        (f"/api/v1/leads/{lead_id}/followups", {"by": "zhangsan", "note": "x\x00"}, "note"),
        (f"/api/v1/leads/{lead_id}", {"owner": "a\x00", "by": "m"}, "owner"),
        (f"/api/v1/leads/{lead_id}", {"owner": None, "by": "m"}, "owner"),
    ):
        method = "PATCH" if path.endswith(str(lead_id)) else "POST"
        status, error = await stack.api(method, path, json=body)
        # text no database stores (NUL) is refused with 400 while the body is read
        expected = 422 if body.get(field) is None else 400
        assert (status, error["error"]["field"]) == (expected, field), (path, error)


async def test_a_lead_whose_event_was_never_stored_is_assigned_by_the_sweep(stack: Stack) -> None:
    import dataclasses

    from scrm.appkeys import SERVICES
    from scrm.channels.models import Channel
    from scrm.leads.assign import assign_stragglers
    from scrm.leads.models import Lead
    from scrm.leads.service import submit_lead

    channel = await form_channel(stack)
    services = stack.server.app[SERVICES]
    crashed = dataclasses.replace(services, inbox=None)  # died before the event was stored
    found = await Channel.get(id=channel["id"])
    await submit_lead(crashed, found, {"name": "韩梅梅", "phone": "13812345678"})
    assert await stack.drain() == 0
    lead = await Lead.get()
    assert await assign_stragglers(services) == 0  # too young: its event may be on its way
    later = dataclasses.replace(services, clock=lambda: lead.last_submitted_at + 121)
    assert await assign_stragglers(later) == 1
    assert (await Lead.get(id=lead.id)).owner == "zhangsan"
    [notice] = stack.sandbox.state.sent["app_message"]
    assert notice["touser"] == ["zhangsan"]
    assert await assign_stragglers(later) == 0

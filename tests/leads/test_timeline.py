"""A customer's timeline also lists their tickets: opened, status changes, resolved."""

from __future__ import annotations

from typing import Any

from scrm.models import Customer
from tests.e2e.conftest import Stack


async def post(stack: Stack, path: str, body: Any, expect: int = 201) -> Any:
    status, answer = await stack.api("POST", path, json=body)
    assert status == expect, answer
    return answer


async def test_tickets_are_on_the_customer_timeline_in_time_order(stack: Stack) -> None:
    await Customer.create(external_userid="wmTICKET1", name="韩梅梅", updated_at=0.0)
    await post(stack, "/api/v1/customers/wmTICKET1/followups", {"by": "lisi", "note": "来电咨询"})
    ticket = await post(
        stack,
        "/api/v1/tickets",
        {"title": "配送延误", "category": "delivery", "priority": "P2", "customer": "wmTICKET1"},
    )
    await post(stack, "/api/v1/tickets", {"title": "别人的", "category": "x", "priority": "P3"})
    path = f"/api/v1/tickets/{ticket['id']}"
    await post(stack, path + "/comments", {"by": "lisi", "text": "已联系物流"})
    for to in ("in_progress", "resolved", "in_progress", "resolved"):
        await post(stack, path + "/transitions", {"to": to, "by": "lisi"}, expect=200)
    status, body = await stack.api("GET", "/api/v1/customers/wmTICKET1/timeline")
    assert status == 200
    items = body["items"]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert [(i["type"], i.get("kind")) for i in items] == [
        ("followup", "note"),
        ("ticket", "opened"),
        ("ticket", "status"),
        ("ticket", "resolved"),
        ("ticket", "reopened"),
        ("ticket", "resolved"),
    ]  # the comment stays on the ticket; the other customer's ticket is not here
    opened, moved, resolved, reopened, _ = items[1:]
    assert (opened["ticket_id"], opened["number"], opened["title"]) == (
        ticket["id"],
        ticket["number"],
        "配送延误",
    )
    assert (opened["priority"], opened["category"]) == ("P2", "delivery")
    assert (moved["from"], moved["to"], moved["userid"]) == (
        ticket["status"],
        "in_progress",
        "lisi",
    )
    assert (resolved["from"], resolved["to"]) == ("in_progress", "resolved")
    assert (reopened["from"], reopened["to"]) == ("resolved", "in_progress")

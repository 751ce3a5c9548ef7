"""The tickets API through the whole app, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack


async def post(stack: Stack, path: str, body: Any, expect: int = 201) -> Any:
    status, answer = await stack.api("POST", path, json=body)
    assert status == expect, answer
    return answer


def ticket(**overrides: Any) -> dict[str, Any]:
    return {"title": "孩子吃了过敏", "category": "food_safety", "priority": "P1"} | overrides


async def test_create_numbers_lists_and_reads(stack: Stack) -> None:
    first = await post(stack, "/api/v1/tickets", ticket(customer="wmA"))
    second = await post(stack, "/api/v1/tickets", ticket(category="billing", priority="P3"))
    day = first["number"][2:10]
    assert first["number"] == f"T-{day}-0001" and second["number"] == f"T-{day}-0002"
    assert first["status"] == "open" and first["source"] == "api"
    assert first["link"] == f"{stack.settings.public_url}/s/tickets/{first['id']}"

    status, page = await stack.api("GET", "/api/v1/tickets?category=billing")
    assert status == 200 and [t["id"] for t in page["tickets"]] == [second["id"]]
    status, page = await stack.api("GET", "/api/v1/tickets?customer=wmA&priority=P1")
    assert [t["id"] for t in page["tickets"]] == [first["id"]]
    status, page = await stack.api("GET", "/api/v1/tickets?limit=1")
    assert [t["id"] for t in page["tickets"]] == [second["id"]]
    status, page = await stack.api("GET", f"/api/v1/tickets?limit=1&cursor={page['next_cursor']}")
    assert [t["id"] for t in page["tickets"]] == [first["id"]] and page["next_cursor"] is None
    status, page = await stack.api("GET", f"/api/v1/tickets?q={day}-0002")
    assert [t["id"] for t in page["tickets"]] == [second["id"]]

    status, one = await stack.api("GET", f"/api/v1/tickets/{first['id']}")
    assert status == 200 and [e["kind"] for e in one["timeline"]] == ["created"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "x", "priority": "P1"}, "title"),
        (ticket(priority="P9"), "priority"),
        (ticket(category=""), "category"),
        (ticket(category=5), "category"),
        (ticket(source="fax"), "source"),
        (ticket(route=12345), "route"),
        (ticket(route=True), "route"),
        ([1, 2], "body"),
    ],
)
async def test_bad_input_is_422_naming_the_field(stack: Stack, body: Any, field: str) -> None:
    answer = await post(stack, "/api/v1/tickets", body, expect=422)
    assert answer["error"]["code"] == "invalid" and answer["error"]["field"] == field
    _, page = await stack.api("GET", "/api/v1/tickets")
    assert page["tickets"] == []  # nothing partial is stored


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("priority=P7", "priority"),
        ("cursor=x", "cursor"),
        ("route=0", "route"),
    ],
)
async def test_bad_filters_are_422(stack: Stack, query: str, field: str) -> None:
    status, answer = await stack.api("GET", f"/api/v1/tickets?{query}")
    assert status == 422 and answer["error"]["field"] == field


async def test_transitions_comments_first_response_and_patch(stack: Stack) -> None:
    created = await post(stack, "/api/v1/tickets", ticket())
    path = f"/api/v1/tickets/{created['id']}"
    answer = await post(stack, path + "/transitions", {"to": "resolved"}, expect=409)
    assert answer["error"]["code"] == "transition_not_allowed"
    assert "assigned, in_progress, closed" in answer["error"]["message"]

    moved = await post(
        stack, path + "/transitions", {"to": "in_progress", "by": "lisi"}, expect=200
    )
    assert moved["status"] == "in_progress" and moved["first_response_by"] == "lisi"
    await post(stack, path + "/comments", {"by": "wangwu", "text": "已联系客户"})
    answer = await post(stack, path + "/comments", {"by": "wangwu"}, expect=422)
    assert answer["error"]["field"] == "text"

    changed = await stack.api("PATCH", path, json={"priority": "P0", "assignee": "zhaoliu"})
    assert changed[0] == 200 and changed[1]["priority"] == "P0"
    assert changed[1]["assignee"] == "zhaoliu"
    status, answer = await stack.api("PATCH", path, json={"status": "closed"})
    assert status == 422 and answer["error"]["field"] == "status"

    for to in ("waiting_customer", "resolved", "closed", "in_progress"):
        await post(stack, path + "/transitions", {"to": to, "by": "lisi"}, expect=200)
    status, one = await stack.api("GET", path)
    kinds = [entry["kind"] for entry in one["timeline"]]
    assert kinds == [
        "created", "transition", "first_response", "comment", "updated",
        "transition", "transition", "transition", "reopened",
    ]  # fmt: skip
    assert one["first_response_at"] == one["timeline"][2]["at"]  # the first, not the later ones
    assert one["resolved_at"] is None and one["status"] == "in_progress"


async def test_unknown_ticket_is_404(stack: Stack) -> None:
    for path in ("/api/v1/tickets/999", "/api/v1/tickets/abc", "/api/v1/tickets/1" + "0" * 30):
        status, answer = await stack.api("GET", path)
        assert status == 404 and answer["error"]["code"] == "not_found"

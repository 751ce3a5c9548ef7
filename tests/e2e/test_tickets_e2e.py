"""The issue's end to end: "孩子吃了过敏了" → a P0 ticket → a robot message naming it → a staff
comment → the first response recorded → the stats show it."""

from __future__ import annotations

import pytest

from scrm.appkeys import SERVICES
from scrm.jobs import ticket_jobs, ticket_sla
from tests.e2e.conftest import Stack
from tests.e2e.test_tickets_flow import customer, message, post, robot_channel, robot_texts
from tests.e2e.test_tickets_notices import shared_clock

RULE = {
    "name": "过敏预警",
    "keywords_any": ["过敏"],
    "actions": [{"type": "create_ticket", "category": "food_safety", "priority": "P0"}],
}


async def test_allergy_message_to_ticket_to_robot_to_first_response_to_stats(
    stack: Stack,
) -> None:
    clock = shared_clock(stack)
    channel, _ = await robot_channel(stack)
    route = {"name": "食安", "match": {"category": ["food_safety"]}, "channels": [channel]}
    await post(stack, "/api/v1/routes", route)
    policy = {"priority": "P0", "first_response_seconds": 1800, "resolution_seconds": 86400}
    await post(stack, "/api/v1/sla-policies", policy)
    await post(stack, "/api/v1/tag-rules", RULE)
    who = await customer(stack)
    chat = message("e2e-1", who, "孩子吃了过敏了") | {"msgtime": int(clock.now * 1000)}
    await post(stack, "/api/v1/messages", [chat], expect=200)
    await stack.drain()

    _, page = await stack.api("GET", "/api/v1/tickets?priority=P0&category=food_safety")
    [ticket] = page["tickets"]
    assert ticket["customer"] == who and ticket["keywords"] == ["过敏"]
    [text] = robot_texts(stack)
    assert ticket["number"] in text and ticket["link"] in text and "P0" in text
    assert stack.metric("scrm_keyword_notice_seconds_count") == 1

    clock.now += 600  # ten minutes later, a staff member answers
    path = f"/api/v1/tickets/{ticket['id']}"
    await post(stack, path + "/comments", {"by": "zhangsan", "text": "已联系家长，安排退款"})
    await stack.drain()  # a worker sends the notices the API queued
    _, shown = await stack.api("GET", path)
    assert shown["first_response_by"] == "zhangsan"
    assert shown["first_response_at"] - shown["created_at"] == 600
    await ticket_sla(stack.server.app[SERVICES])  # the job: nothing is due
    clock.now += 3000
    await post(stack, path + "/transitions", {"to": "in_progress", "by": "zhangsan"}, expect=200)
    await stack.drain()
    await post(stack, path + "/transitions", {"to": "resolved", "by": "zhangsan"}, expect=200)
    await stack.drain()

    status, stats = await stack.api("GET", "/api/v1/tickets/stats?group_by=category")
    assert status == 200
    total = stats["total"]
    assert total["tickets"] == 1 and total["breaches"] == 0
    assert total["first_response"] == {
        "count": 1,
        "p50_seconds": 600,
        "p90_seconds": 600,
        "within_30_minutes": 1,
        "share_within_30_minutes": 1.0,
    }
    assert total["resolution"]["p50_seconds"] == 3600
    assert [g["key"] for g in stats["groups"]] == ["food_safety"]
    assert len(robot_texts(stack)) == 4  # created, comment, two status changes


async def test_stats_percentiles_and_share(stack: Stack) -> None:
    clock = shared_clock(stack)
    start = clock.now
    for n, answer_after in enumerate((60, 600, 1200, 3600, None)):
        clock.now = start + n
        created = await post(
            stack, "/api/v1/tickets", {"title": "t", "category": f"c{n % 2}", "priority": "P2"}
        )
        if answer_after is not None:
            clock.now = start + n + answer_after
            path = f"/api/v1/tickets/{created['id']}/comments"
            await post(stack, path, {"by": "lisi", "text": "好的"})
    _, stats = await stack.api("GET", f"/api/v1/tickets/stats?from={int(start)}&group_by=category")
    first = stats["total"]["first_response"]
    assert (first["count"], first["p50_seconds"], first["p90_seconds"]) == (4, 600, 3600)
    assert first["share_within_30_minutes"] == 0.6  # 3 of 5 tickets, the unanswered one counts
    assert {g["key"]: g["tickets"] for g in stats["groups"]} == {"c0": 3, "c1": 2}
    _, later = await stack.api("GET", f"/api/v1/tickets/stats?from={int(start) + 10}")
    assert later["total"]["tickets"] == 0


@pytest.mark.parametrize(
    ("query", "field"), [("group_by=day", "group_by"), ("from=x", "from"), ("to=-1", "to")]
)
async def test_bad_stats_queries(stack: Stack, query: str, field: str) -> None:
    status, answer = await stack.api("GET", f"/api/v1/tickets/stats?{query}")
    assert status == 422 and answer["error"]["field"] == field


def test_the_sweep_period_comes_from_the_settings(stack: Stack) -> None:
    jobs = {job.name: job for job in ticket_jobs(stack.settings)}
    assert jobs["ticket-sla"].every_seconds == stack.settings.tickets.sla_sweep_seconds == 10.0
    assert "ticket-notices" in jobs

"""Entrances and notices: keyword rules → tickets (once, merged) → group robots, end to end."""

from __future__ import annotations

import json
import time
from typing import Any

from scrm.appkeys import SERVICES
from scrm.events.router import EventRecord
from scrm.models import Event
from scrm.sandbox import events as wecom_events
from scrm.tickets.handlers import open_ticket
from scrm.tickets.models import Ticket, TicketEvent
from tests.e2e.conftest import Stack

RULE = {
    "name": "过敏预警",
    "keywords_any": ["过敏"],
    "actions": [{"type": "create_ticket", "category": "food_safety", "priority": "P0"}],
}
ALERT_RULE = {
    "name": "食品安全",
    "keywords_any": ["食品安全"],
    "actions": [{"type": "alert", "channel": "值班群"}],
}


def message(msgid: str, customer: str, text: str) -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": customer,
        "tolist": ["zhangsan"],
        "roomid": "",
        "msgtime": int(time.time() * 1000),
        "msgtype": "text",
        "text": {"content": text},
    }


async def post(stack: Stack, path: str, body: Any, expect: int = 201) -> Any:
    status, answer = await stack.api("POST", path, json=body)
    assert status == expect, answer
    return answer


async def customer(stack: Stack, external_userid: str = "wmFX" + "0" * 28) -> str:
    stack.sandbox.state.add_relation("zhangsan", external_userid)
    await stack.sender.send(
        wecom_events.add_external_contact(stack.corp_id, "zhangsan", external_userid)
    )
    await stack.drain()
    return external_userid


async def robot_channel(stack: Stack, name: str = "客服群") -> tuple[int, str]:
    key = stack.sandbox.state.add_robot()
    channel = await post(
        stack, "/api/v1/group-channels", {"name": name, "kind": "robot", "webhook_key": key}
    )
    assert key not in str(channel) and channel["webhook_key"].startswith(key[:4])
    return channel["id"], key


def robot_texts(stack: Stack) -> list[str]:
    return [sent["markdown"]["content"] for sent in stack.sandbox.state.sent["robot"]]


async def test_a_keyword_request_becomes_one_ticket_and_a_robot_message(stack: Stack) -> None:
    channel, _ = await robot_channel(stack)
    route = {"name": "食安", "match": {"category": ["food_safety"]}, "channels": [channel]}
    await post(stack, "/api/v1/routes", route | {"assignees": ["lisi"]})
    await post(stack, "/api/v1/tag-rules", RULE)
    stack.sandbox.state.add_customer("wmFX" + "0" * 28, name="王小明")
    who = await customer(stack)
    await post(stack, "/api/v1/messages", [message("m1", who, "孩子吃了过敏了")], expect=200)
    await stack.drain()

    tickets = await Ticket.all()
    assert len(tickets) == 1
    ticket = tickets[0]
    assert (ticket.category, ticket.priority, ticket.source) == (
        "food_safety",
        "P0",
        "keyword_rule",
    )
    assert (ticket.customer, ticket.assignee, ticket.status) == (who, "lisi", "assigned")
    texts = robot_texts(stack)
    assert len(texts) == 1 and ticket.number in texts[0] and "过敏" in texts[0]
    assert "孩子吃了" not in texts[0]  # the customer's words stay out of the group
    assert "客户：王小明" in texts[0]  # the name staff know, not the opaque external_userid
    kinds = await TicketEvent.filter(ticket_id=ticket.id).values_list("kind", flat=True)
    assert list(kinds) == ["created", "notice"]

    # Redelivered: nothing new, nothing sent again.
    row = await Event.get(name="ticket.requested")
    record = EventRecord(row.id, row.name, row.source, json.loads(row.payload), None, attempt=2)
    await open_ticket(record, stack.server.app[SERVICES])
    assert await Ticket.all().count() == 1 and len(robot_texts(stack)) == 1

    # The same customer again, within the window: merged into the open ticket.
    await post(stack, "/api/v1/messages", [message("m2", who, "还是过敏")], expect=200)
    await stack.drain()
    assert await Ticket.all().count() == 1
    kinds = await TicketEvent.filter(ticket_id=ticket.id).values_list("kind", flat=True)
    assert list(kinds) == ["created", "notice", "merged", "notice"]


async def test_both_keyword_shapes_and_the_merge_window(stack: Stack) -> None:
    services = stack.server.app[SERVICES]
    now = time.time()
    services.clock = lambda: now
    base = {"rule": "过敏预警", "external_userid": "wmA", "category": "c", "priority": "P1"}
    old = {**base, "keywords": [{"keyword": "过敏", "start": 4, "end": 6}]}
    new = {**base, "keywords": ["过敏", "食品"]}
    await open_ticket(EventRecord(1, "ticket.requested", "autotag", old, None), services)
    await open_ticket(EventRecord(2, "ticket.requested", "autotag", new, None), services)
    first = await Ticket.get()
    assert first.keywords == '["过敏"]'
    merged = await TicketEvent.get(kind="merged")
    assert '"keywords": ["过敏", "食品"]' in merged.data
    services.clock = lambda: now + 24 * 3600 + 1  # past the window: a new ticket
    await open_ticket(EventRecord(3, "ticket.requested", "autotag", new, None), services)
    assert await Ticket.all().count() == 2


async def test_an_alert_is_a_p0_ticket_noticed_in_its_named_channel(stack: Stack) -> None:
    _, key = await robot_channel(stack, "值班群")
    await post(stack, "/api/v1/tag-rules", ALERT_RULE)
    who = await customer(stack)
    await post(stack, "/api/v1/messages", [message("m1", who, "你们的食品安全有问题")], expect=200)
    await stack.drain()
    ticket = await Ticket.get()
    assert (ticket.priority, ticket.source, ticket.category) == ("P0", "alert", "alert")
    sent = stack.sandbox.state.sent["robot"]
    assert [s["key"] for s in sent] == [key] and ticket.number in sent[0]["markdown"]["content"]


async def test_routes_match_the_customers_source_channel(stack: Stack) -> None:
    store, store_key = await robot_channel(stack, "门店群")
    default, default_key = await robot_channel(stack, "总群")
    match = {"category": ["food_safety"], "channel": ["store-7"]}
    await post(stack, "/api/v1/routes", {"name": "门店", "match": match, "channels": [store]})
    await post(stack, "/api/v1/routes", {"name": "其他", "default": True, "channels": [default]})
    await post(stack, "/api/v1/tag-rules", RULE)
    walk_in, other = "wmFX" + "7" * 28, "wmFX" + "8" * 28
    stack.sandbox.state.add_customer(walk_in, name="门店客人")
    stack.sandbox.state.add_customer(other, name="线上客人")
    stack.sandbox.state.add_relation("zhangsan", walk_in, state="store-7")
    await stack.sender.send(wecom_events.add_external_contact(stack.corp_id, "zhangsan", walk_in))
    await customer(stack, other)
    chats = [message("s1", walk_in, "过敏了"), message("s2", other, "过敏了")]
    await post(stack, "/api/v1/messages", chats, expect=200)
    await stack.drain()
    sent = {s["key"]: s["markdown"]["content"] for s in stack.sandbox.state.sent["robot"]}
    assert "门店客人" in sent[store_key] and "线上客人" in sent[default_key]


async def test_route_hours_take_holidays_and_make_up_days(stack: Stack) -> None:
    hours = {"from": "09:00", "to": "18:00", "days": [1, 2, 3, 4, 5]}
    both = {**hours, "holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}
    bad = await post(stack, "/api/v1/routes", {"name": "值班", "match": {"hours": both}}, 422)
    assert bad["error"]["field"] == "match.hours.workdays", bad
    status, listed = await stack.api("GET", "/api/v1/routes")
    assert status == 200 and listed["routes"] == []  # nothing stored
    days = {**hours, "holidays": ["2026-10-01"], "workdays": ["2026-10-10"]}
    made = await post(stack, "/api/v1/routes", {"name": "值班", "match": {"hours": days}})
    assert made["match"]["hours"]["workdays"] == ["2026-10-10"]

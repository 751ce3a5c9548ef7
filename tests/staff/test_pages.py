"""The customer, lead and ticket pages: what each member sees and may do."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from scrm.leads.models import FollowUp, Lead, LeadEvent
from scrm.staff.session import SESSION_COOKIE, STAFF_AUTH, Staff
from scrm.staff.signing import verify
from scrm.tickets.models import Ticket, TicketEvent
from tests.e2e.conftest import Stack
from tests.staff.flows import Phone, added_customer, csrf, submitted_lead, ticket

CUSTOMER = "/s/customers/wmSTAFF0000001"


@pytest.fixture
async def phone(stack: Stack) -> AsyncIterator[Phone]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Phone(stack, http)


@pytest.fixture
async def other(stack: Stack) -> AsyncIterator[Phone]:
    """Another member's phone (lisi), signed in on a page anyone may open."""
    stack.sandbox.state.add_staff("lisi")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Phone(stack, http)


def token_of(stack: Stack, phone: Phone) -> str:
    """The form token a page would give this phone's session."""
    auth = stack.server.app[STAFF_AUTH]
    claims = verify(auth.key, "session", phone.cookie(SESSION_COOKIE), time.time())
    assert claims is not None
    return auth.csrf(Staff(claims["u"], claims["sid"]))


async def test_customer_page_and_follow_up_as_the_signed_in_member(
    stack: Stack, phone: Phone, caplog: pytest.LogCaptureFixture
) -> None:
    await added_customer(stack)
    with caplog.at_level(logging.INFO, logger="scrm.staff.customers"):
        html = await phone.login(CUSTOMER, "zhangsan")
    assert "李雷" in html and "展会 2026" in html and "zhangsan" in html and "展会" in html
    [line] = [r.getMessage() for r in caplog.records if r.name == "scrm.staff.customers"]
    assert "userid=zhangsan" in line and "allowed=True" in line
    assert "李雷" not in line and "wmSTAFF" not in line  # nothing personal in the log
    token = csrf(html)
    form = {"csrf_token": token, "kind": "call", "note": "电话沟通，周五回访", "by": "mallory"}
    status, _, location = await phone.post(CUSTOMER + "/followups", form)
    assert (status, location) == (303, CUSTOMER + "#timeline")
    [followup] = await FollowUp.all()
    assert (followup.userid, followup.kind, followup.external_userid) == (
        "zhangsan",  # the signed-in member, not the form's "by"
        "call",
        "wmSTAFF0000001",
    )
    status, html, _ = await phone.get(CUSTOMER)
    assert "电话沟通，周五回访" in html
    # An empty note: the form again with the message and the values kept; nothing stored.
    status, html, _ = await phone.post(
        CUSTOMER + "/followups", {"csrf_token": token, "kind": "visit", "note": " "}
    )
    assert status == 422 and "请填写跟进内容" in html and 'value="visit" selected' in html
    # A reminder in Beijing time.
    status, _, _ = await phone.post(
        CUSTOMER + "/followups",
        {"csrf_token": token, "note": "回访", "remind_at": "2030-01-02T09:30"},
    )
    assert status == 303
    reminded = await FollowUp.get(note="回访")
    assert reminded.remind_at == 1893547800.0  # 2030-01-02 01:30 UTC
    assert await FollowUp.all().count() == 2


async def test_a_post_without_this_sessions_token_stores_nothing(
    stack: Stack, phone: Phone
) -> None:
    await added_customer(stack)
    await phone.login(CUSTOMER, "zhangsan")
    for token in ("", "x" * 32):
        form = {"csrf_token": token, "note": "伪造"}
        status, html, _ = await phone.post(CUSTOMER + "/followups", form)
        assert status == 403 and "页面已过期" in html
    assert await FollowUp.all().count() == 0


async def test_another_member_gets_403_on_each_page(
    stack: Stack, phone: Phone, other: Phone, caplog: pytest.LogCaptureFixture
) -> None:
    await added_customer(stack)
    lead = await submitted_lead(stack)
    created = await ticket(stack)
    with caplog.at_level(logging.INFO, logger="scrm.staff.customers"):
        back = await other.authorize(await other.start_login(CUSTOMER), "lisi")
        assert (await other.callback(back["code"], back["state"]))[0] == 302
        status, html, _ = await other.get(CUSTOMER)
    assert status == 403 and "无权查看" in html and "李雷" not in html
    assert any(
        "userid=lisi" in r.getMessage() and "allowed=False" in r.getMessage()
        for r in caplog.records
    )
    for path in (f"/s/leads/{lead.id}", f"/s/tickets/{created['id']}"):
        status, html, _ = await other.get(path)
        assert status == 403, path
        assert "138" not in html and "商品破损" not in html
    # Nor may they act through a page's form (with their own, valid token).
    status, _, _ = await other.post(
        f"/s/tickets/{created['id']}/comments", {"csrf_token": token_of(stack, other), "text": "x"}
    )
    assert status == 403
    assert await TicketEvent.filter(kind="comment").count() == 0


async def test_unknown_records_are_404(stack: Stack, phone: Phone) -> None:
    await added_customer(stack)
    await phone.login(CUSTOMER, "zhangsan")
    for path in ("/s/customers/wmNOBODY", "/s/leads/999", "/s/tickets/999", "/s/leads/²"):
        status, html, _ = await phone.get(path)
        assert status == 404 and "不存在" in html, path


async def test_lead_page_owner_and_pool(stack: Stack, phone: Phone, other: Phone) -> None:
    lead = await submitted_lead(stack)
    page = f"/s/leads/{lead.id}"
    html = await phone.login(page, "zhangsan")
    assert "13812345678" in html and "韩梅梅" in html  # the owner sees the number
    assert "地区：华东" in html  # the form's own label for a custom field
    token = csrf(html)
    status, _, _ = await phone.post(page + "/status", {"csrf_token": token, "to": "contacted"})
    assert status == 303
    assert (await Lead.get(id=lead.id)).status == "contacted"
    status, html, _ = await phone.post(page + "/status", {"csrf_token": token, "to": "new"})
    assert status == 409 and "不能改为" in html
    status, _, _ = await phone.post(page + "/followups", {"csrf_token": token, "note": "已加微信"})
    assert status == 303
    fresh = await Lead.get(id=lead.id)
    assert fresh.last_followup_at is not None  # the owner's follow-up keeps it out of the pool
    event = await LeadEvent.get(lead_id=lead.id, kind="status")
    assert event.actor == "zhangsan"
    # Released to the pool: anyone sees it masked and may claim it.
    status, _ = await stack.api("POST", f"/api/v1/leads/{lead.id}/release", json={"by": "m"})
    assert status == 200
    html = await other.login(page, "lisi")
    assert "138****5678" in html and "13812345678" not in html and "领取这条线索" in html
    assert f'action="/s/leads/{lead.id}/followups"' not in html  # not theirs to follow up
    status, _, _ = await other.post(page + "/claim", {"csrf_token": csrf(html)})
    assert status == 303
    claimed = await Lead.get(id=lead.id)
    assert (claimed.owner, claimed.pooled) == ("lisi", False)
    status, html, _ = await other.get(page)
    assert "13812345678" in html  # now the owner
    status, html, _ = await other.get("/s/")  # their desk lists it among their leads
    assert status == 200 and f'<a href="{page}">韩梅梅</a>' in html.split("公海线索")[0]
    status, _, _ = await phone.get(page)
    assert status == 403  # and zhangsan no longer sees it


async def test_ticket_page_comment_transition_and_first_response(
    stack: Stack, phone: Phone
) -> None:
    created = await ticket(stack)
    page = f"/s/tickets/{created['id']}"
    html = await phone.login(page, "zhangsan")
    assert created["number"] in html and "商品破损" in html
    assert re.search(r"还剩 (29|30) 分钟", html)  # first response due in 30 minutes
    assert "开始处理" in html and "退回待分配" in html  # assigned → in_progress | open | closed
    token = csrf(html)
    form = {"csrf_token": token, "text": "已联系客户，安排换货", "by": "mallory"}
    status, _, location = await phone.post(page + "/comments", form)
    assert (status, location) == (303, page + "#timeline")
    row = await Ticket.get(id=created["id"])
    assert (row.first_response_by, row.status) == ("zhangsan", "assigned")
    comment = await TicketEvent.get(ticket_id=row.id, kind="comment")
    assert comment.by == "zhangsan"
    form = {"csrf_token": token, "to": "in_progress", "note": "处理中", "by": "mallory"}
    status, _, _ = await phone.post(page + "/transitions", form)
    assert status == 303
    assert (await Ticket.get(id=row.id)).status == "in_progress"
    move = await TicketEvent.get(ticket_id=row.id, kind="transition")
    assert move.by == "zhangsan"
    status, html, _ = await phone.post(page + "/transitions", {"csrf_token": token, "to": "closed"})
    assert status == 409 and "不能关闭工单" in html
    status, html, _ = await phone.get(page)
    assert "已响应" in html and "已联系客户，安排换货" in html and "标记已解决" in html
    _, one = await stack.api("GET", f"/api/v1/tickets/{row.id}")
    assert one["link"] == f"{stack.settings.public_url}{page}"


async def test_a_member_on_the_route_sees_its_tickets(stack: Stack, other: Phone) -> None:
    status, route = await stack.api(
        "POST",
        "/api/v1/routes",
        json={
            "name": "售后",
            "order": 1,
            "match": {"category": ["售后"]},
            "assignees": ["zhangsan", "lisi"],
        },
    )
    assert status == 201, route
    created = await ticket(stack, assignee="zhangsan")
    assert created["route"] == route["id"]
    await other.login(f"/s/tickets/{created['id']}", "lisi")


async def test_notices_link_to_the_staff_pages(stack: Stack) -> None:
    await added_customer(stack)
    lead = await submitted_lead(stack)
    base = stack.settings.public_url
    texts = [m["text"]["content"] for m in stack.sandbox.state.sent["app_message"]]
    assert any(f"{base}/s/customers/wmSTAFF0000001" in text for text in texts), texts
    assert any(f"{base}/s/leads/{lead.id}" in text for text in texts), texts


async def test_a_member_told_in_person_sees_the_ticket_and_page_changes_notify(
    stack: Stack, phone: Phone, other: Phone
) -> None:
    status, channel = await stack.api(
        "POST", "/api/v1/group-channels", json={"name": "李四", "kind": "user", "userid": "lisi"}
    )
    assert status == 201, channel
    route = {"name": "售后", "order": 1, "match": {}, "channels": [channel["id"]]}
    status, body = await stack.api("POST", "/api/v1/routes", json=route)
    assert status == 201, body
    created = await ticket(stack, assignee="zhangsan")
    page = f"/s/tickets/{created['id']}"
    await stack.drain()
    sent = stack.sandbox.state.sent["app_message"]
    assert [m["touser"] for m in sent] == [["lisi"]]
    assert f"{stack.settings.public_url}{page}" in str(sent[0])  # the notice links the page
    await other.login(page, "lisi")  # told in person: may open it
    html = await phone.login(page, "zhangsan")
    status, _, _ = await phone.post(page + "/comments", {"csrf_token": csrf(html), "text": "好的"})
    assert status == 303
    await stack.drain()  # the page's change rang for its notice; a worker sends it
    assert len(stack.sandbox.state.sent["app_message"]) == 2


async def test_the_assignee_of_a_customers_open_ticket_sees_the_customer(
    stack: Stack, other: Phone
) -> None:
    await added_customer(stack)  # followed by zhangsan only
    created = await ticket(stack, assignee="lisi", customer="wmSTAFF0000001")
    html = await other.login(f"/s/tickets/{created['id']}", "lisi")
    assert f'href="{CUSTOMER}"' in html
    status, html, _ = await other.get(CUSTOMER)
    assert status == 200 and "李雷" in html
    status, _ = await stack.api(
        "POST", f"/api/v1/tickets/{created['id']}/transitions", json={"to": "closed"}
    )
    assert status == 200
    assert (await other.get(CUSTOMER))[0] == 403  # once it is closed, no longer

"""The staff pages in a real browser at 360 px: a notice's link → WeCom's login (the sandbox)
→ the customer page → a follow-up; a ticket page → a comment and a transition; a lead page
→ a status change.

Debian's Chromium through Playwright, JavaScript off (the pages must work without it);
screenshots under tests/artifacts/ (gitignored). A loud skip without Chromium or Playwright.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scrm.leads.models import FollowUp
from scrm.tickets.models import Ticket, TicketEvent
from tests.browser.test_lead_form import ARGS, ARTIFACTS, CHROMIUM, require_browser
from tests.e2e.conftest import Stack
from tests.staff.flows import added_customer, submitted_lead, ticket


async def fits(page: Any) -> None:
    """Nothing wider than the phone's screen: no sideways scrolling at 360 px."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width is None or width <= 360


async def shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / name
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_notice_link_login_customer_follow_up_and_ticket_in_chromium(stack: Stack) -> None:
    require_browser()
    from playwright.async_api import async_playwright

    await added_customer(stack)  # zhangsan: the sandbox's first member, whom it signs in
    [notice] = stack.sandbox.state.sent["app_message"]
    link = re.search(r"查看：(\S+)", notice["text"]["content"])
    assert link is not None
    assert link.group(1) == f"{stack.settings.public_url}/s/customers/wmSTAFF0000001"
    created = await ticket(stack)
    lead = await submitted_lead(stack)
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": 360, "height": 740},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                java_script_enabled=False,
                locale="zh-CN",
            )
            page = await context.new_page()
            visited: list[str] = []
            page.on("request", lambda r: visited.append(r.url))
            response = await page.goto(link.group(1))
            assert response is not None and response.status == 200
            # Back from WeCom's login on the customer page (a browser keeps #wechat_redirect
            # across redirects that carry no fragment of their own).
            assert page.url.split("#")[0] == link.group(1)
            assert any("/connect/oauth2/authorize?" in url for url in visited)
            assert any("/s/oauth/callback?" in url for url in visited)
            assert await page.title() == "李雷"
            assert "展会 2026" in (await page.text_content("main") or "")
            await fits(page)
            await shot(page, "staff_customer.png")
            await page.select_option("#f-kind", "call")
            await page.fill("#f-note", "电话沟通，客户周五到店")
            await page.click("#followup button[type=submit]")
            assert page.url.endswith("/s/customers/wmSTAFF0000001#timeline")
            assert "电话沟通，客户周五到店" in (await page.text_content("#timeline") or "")
            await shot(page, "staff_customer_followup.png")

            response = await page.goto(f"{stack.url}/s/tickets/{created['id']}")
            assert response is not None and response.status == 200
            main = await page.text_content("main") or ""
            assert created["number"] in main and re.search(r"还剩 (29|30) 分钟", main)
            await fits(page)
            await shot(page, "staff_ticket.png")
            await page.fill("#f-text", "已联系客户，安排换货")
            await page.click("text=发表评论")
            assert "已联系客户，安排换货" in (await page.text_content("#timeline") or "")
            await page.click("button[value=in_progress]")
            main = await page.text_content("main") or ""
            assert "处理中" in main and "已响应" in main and "标记已解决" in main
            await fits(page)
            await shot(page, "staff_ticket_in_progress.png")

            response = await page.goto(f"{stack.url}/s/leads/{lead.id}")
            assert response is not None and response.status == 200
            main = await page.text_content("main") or ""
            assert "13812345678" in main and "地区：华东" in main  # the owner's full view
            await fits(page)
            await page.click("button[value=contacted]")
            assert "已联系" in (await page.text_content("main") or "")
            await shot(page, "staff_lead.png")
            outside = [u for u in visited if not u.startswith((stack.url, stack.sandbox.url))]
            assert outside == []
        finally:
            await browser.close()
    [followup] = await FollowUp.all()
    assert (followup.userid, followup.kind) == ("zhangsan", "call")
    row = await Ticket.get(id=created["id"])
    assert (row.status, row.first_response_by) == ("in_progress", "zhangsan")
    assert await TicketEvent.filter(ticket_id=row.id, kind="comment", by="zhangsan").exists()

"""The lead form in a real browser: Debian's Chromium driven by Playwright (no browser download).

scan URL → the page at 360 px → a wrong number is refused in Chinese with the values kept →
fixed → submitted → thank-you page with the contact QR → the lead is assigned and the assignee
gets an app message in the sandbox. Screenshots are kept under tests/artifacts/ (gitignored).
Without Chromium or Playwright this is a loud skip; with SCRM_REQUIRE_SERVICES=1 a failure.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from scrm.leads.models import Lead
from tests.e2e.conftest import Stack
from tests.leads.flows import form_channel

CHROMIUM = Path(os.environ.get("SCRM_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (requirements-dev.txt)")
    if not missing:
        return
    message = "browser test NOT RUN: missing " + " and ".join(missing)
    if os.environ.get("SCRM_REQUIRE_SERVICES") == "1":
        pytest.fail(message + " (SCRM_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip("!!! " + message)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_scan_fill_submit_assign_notify_in_chromium(stack: Stack) -> None:
    require_browser()
    from playwright.async_api import async_playwright

    channel = await form_channel(stack, options={"show_contact_qr": True})
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": 360, "height": 740},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
                java_script_enabled=False,  # the page must work without it
                locale="zh-CN",
            )
            page = await context.new_page()
            outside: list[str] = []
            page.on(
                "request",
                lambda r: None if r.url.startswith(stack.url) else outside.append(r.url),
            )
            response = await page.goto(f"{stack.url}/c/{channel['state']}")
            assert response is not None and response.status == 200
            assert await page.title() == "展会表单"
            # Nothing wider than the phone's screen: no sideways scrolling at 360 px.
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width is None or width <= 360
            await page.fill("#f-name", "韩梅梅")
            await page.fill("#f-phone", "138 1234 567")
            await page.fill("#f-company", "星河科技")
            await page.select_option("#f-region", "华南")
            await page.check("input[name=consent]")
            await page.click("button[type=submit]")
            assert await page.text_content("#phone-error") == "请输入正确的 11 位手机号"
            assert await page.input_value("#f-name") == "韩梅梅"  # values kept
            assert await page.input_value("#f-region") == "华南"
            await page.screenshot(path=str(ARTIFACTS / "lead_form_error.png"), full_page=True)
            await page.fill("#f-phone", "１３８ １２３４ ５６７８")
            await page.click("button[type=submit]")
            assert page.url.endswith(f"/c/{channel['state']}/thanks")
            assert "提交成功" in (await page.text_content("h1") or "")
            qr = page.locator("img")
            natural = await qr.evaluate("img => img.naturalWidth")
            assert natural and natural > 0  # the contact-way QR, served by us
            await page.screenshot(path=str(ARTIFACTS / "lead_form_thanks.png"), full_page=True)
            assert outside == []
        finally:
            await browser.close()
    await stack.drain()
    [lead] = await Lead.all()
    assert (lead.name, lead.owner, lead.answers) == ("韩梅梅", "zhangsan", {"region": "华南"})
    [notice] = stack.sandbox.state.sent["app_message"]
    assert notice["touser"] == ["zhangsan"] and "138****5678" in notice["text"]["content"]
    assert (ARTIFACTS / "lead_form_thanks.png").stat().st_size > 1000

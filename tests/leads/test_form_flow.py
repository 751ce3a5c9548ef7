"""The form channel end to end against the sandbox: scan → page → submit → lead → assignee told."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from scrm.appkeys import SERVICES
from scrm.leads import web as leads_web
from scrm.leads.models import Lead, LeadEvent
from scrm.models import HandlerRun
from tests.e2e.conftest import Stack
from tests.leads.flows import Visitor, form_channel

PHONE = "13812345678"


async def test_scan_submit_assign_notify(stack: Stack) -> None:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    status, html = await visitor.open()
    assert status == 200 and "展会表单" in html and visitor.token
    assert "我们收集姓名、手机号和公司" in html and "<script" not in html
    assert "http" not in html.split("<main>")[1]  # no asset from elsewhere
    status, _, location = await visitor.submit(
        name="韩梅梅", phone="１３８ １２３４ ５６７８", company="星河科技", region="华东"
    )
    assert (status, location) == (303, f"/c/{channel['state']}/thanks")
    assert await stack.drain() >= 1
    [lead] = await Lead.all()
    assert (lead.name, lead.company, lead.answers, lead.owner) == (
        "韩梅梅",
        "星河科技",
        {"region": "华东"},
        "zhangsan",
    )
    assert PHONE not in lead.phone_sealed
    [notice] = stack.sandbox.state.sent["app_message"]
    assert notice["touser"] == ["zhangsan"]
    content = notice["text"]["content"]
    assert "韩梅梅" in content and "138****5678" in content and PHONE not in content
    assert f"{stack.settings.public_url}/s/leads/{lead.id}" in content
    # A crash after the notice: the run is delivered again, the ledger answers instead.
    await HandlerRun.all().update(status="pending", next_attempt_at=0)
    await stack.drain()
    assert len(stack.sandbox.state.sent["app_message"]) == 1
    # Lists mask the phone; the lead's own record shows it in full, with its history.
    status, page = await stack.api("GET", "/api/v1/leads")
    assert status == 200
    assert [(x["phone"], x["owner"]) for x in page["leads"]] == [("138****5678", "zhangsan")]
    status, one = await stack.api("GET", f"/api/v1/leads/{lead.id}")
    assert one["phone"] == PHONE
    assert [h["kind"] for h in one["history"]] == ["submitted", "assigned"]


async def test_a_second_submission_updates_the_lead_and_round_robin_moves_on(
    stack: Stack,
) -> None:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    assert (await visitor.submit(name="韩梅梅", phone=PHONE))[0] == 303
    assert (await visitor.submit(name="韩梅梅", phone="138 1234 5678", company="新公司"))[0] == 303
    await stack.drain()
    [lead] = await Lead.all()
    assert (lead.submissions, lead.company, lead.owner) == (2, "新公司", "zhangsan")
    kinds = await LeadEvent.filter(lead_id=lead.id).order_by("id").values_list("kind", "data")
    assert kinds == [
        ("submitted", {}),
        ("resubmitted", {"changed": ["company"]}),
        ("assigned", {}),
    ]
    assert len(stack.sandbox.state.sent["app_message"]) == 1  # one assignment, one notice
    assert (await visitor.submit(name="李雷", phone="13900000000"))[0] == 303
    await stack.drain()
    owners = await Lead.all().order_by("id").values_list("owner", flat=True)
    assert owners == ["zhangsan", "lisi"]


async def test_after_30_days_the_same_phone_is_a_new_lead(stack: Stack) -> None:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    await visitor.submit(name="韩梅梅", phone=PHONE)
    await Lead.all().update(last_submitted_at=0.0, first_submitted_at=0.0)
    await visitor.submit(name="韩梅梅", phone=PHONE)
    assert await Lead.all().count() == 2


async def test_invalid_fields_show_the_page_again_with_messages_and_values(stack: Stack) -> None:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    status, html, _ = await visitor.submit(
        name="<b>韩</b>", phone="1381234", company="星河", region="火星", consent=""
    )
    assert status == 422
    assert "请输入正确的 11 位手机号" in html and "请选择地区" in html
    assert "请阅读并勾选同意后提交" in html
    assert 'value="&lt;b&gt;韩&lt;/b&gt;"' in html and 'value="1381234"' in html
    assert "<b>韩</b>" not in html
    assert await Lead.all().count() == 0
    assert stack.sandbox.state.sent["app_message"] == []


async def test_unknown_state_is_a_friendly_404(stack: Stack) -> None:
    async with stack.http.get(f"{stack.url}/c/no_such_code") as r:
        assert r.status == 404
        assert "二维码已失效" in await r.text()
    stack.sandbox.state.add_staff("zhangsan")
    body = {"name": "门店", "staff": ["zhangsan"], "state": "shop"}
    assert (await stack.api("POST", "/api/v1/channels", json=body))[0] == 201
    async with stack.http.get(f"{stack.url}/c/shop") as r:  # a contact-way channel: no form
        assert r.status == 404


async def test_a_post_without_the_csrf_cookie_is_refused(stack: Stack) -> None:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    visitor.cookies = {}
    status, html, _ = await visitor.submit(name="韩梅梅", phone=PHONE)
    assert status == 403 and "页面已过期" in html
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    visitor.token = "x" * 43
    assert (await visitor.submit(name="韩梅梅", phone=PHONE))[0] == 403
    assert await Lead.all().count() == 0


async def test_rate_limits_per_phone_and_per_address_answer_429(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = await form_channel(stack)
    monkeypatch.setattr(leads_web, "PHONE_LIMIT", (2, 3600.0))
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    statuses = [(await visitor.submit(name="韩", phone=PHONE))[0] for _ in range(3)]
    assert statuses == [303, 303, 429]
    status, html, _ = await visitor.submit(name="韩", phone=PHONE)
    assert status == 429 and "提交太频繁" in html
    monkeypatch.setattr(leads_web, "IP_LIMIT", (1, 600.0))
    assert (await visitor.submit(name="李", phone="13900000000"))[0] == 429


async def test_the_database_holds_no_phone_number_in_clear(stack: Stack) -> None:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    await visitor.submit(name="韩梅梅", phone=PHONE)
    await stack.drain()
    services = stack.server.app[SERVICES]
    if services.db.is_postgres:
        rows = await services.db.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'jsonb', 'json')",
            [],
        )
        found = []
        for row in rows:
            hits = await services.db.fetch(
                f'SELECT 1 FROM "{row["table_name"]}" WHERE "{row["column_name"]}"::text LIKE $1',
                ["%12345678%"],
            )
            if hits:
                found.append((row["table_name"], row["column_name"]))
        assert found == []
    else:
        url = stack.settings.database_url.removeprefix("sqlite://")
        from tortoise import Tortoise

        await Tortoise.get_connection("default").execute_script("PRAGMA wal_checkpoint(FULL)")
        data = b"".join(p.read_bytes() for p in Path(url).parent.glob(Path(url).name + "*"))
        assert b"12345678" not in data
        assert b"\xef\xbc\x91\xef\xbc\x93" not in data  # nor the full-width form


async def test_form_channel_bad_settings_are_422_naming_the_field(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    body: dict[str, Any] = {"name": "x", "kind": "form", "staff": ["zhangsan"], "fields": ["name"]}
    status, error = await stack.api("POST", "/api/v1/channels", json=body)
    assert (status, error["error"]["field"]) == (422, "fields")
    assert stack.sandbox_calls("add_contact_way") == []


async def test_a_form_channels_qrcode_opens_the_public_form(stack: Stack) -> None:
    from scrm.channels.qr import decode_code

    channel = await form_channel(stack)
    status, png = await stack.api("GET", f"/api/v1/channels/{channel['id']}/qrcode.png")
    assert status == 200
    assert decode_code(png) == f"{stack.settings.public_url}/c/{channel['state']}"
    status, poster = await stack.api("GET", f"/api/v1/channels/{channel['id']}/qrcode.png?poster=1")
    assert status == 200 and poster[:8] == b"\x89PNG\r\n\x1a\n"
    status, svg = await stack.api("GET", f"/api/v1/channels/{channel['id']}/qrcode.svg")
    assert status == 200 and svg.startswith(b"<?xml")


async def test_an_oversize_form_post_is_400_and_stores_nothing(stack: Stack) -> None:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    status, html, _ = await visitor.submit(name="韩" * 20_000, phone=PHONE)
    assert status == 400 and "提交失败" in html
    assert await Lead.all().count() == 0


async def test_no_log_line_carries_the_phone_number(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    await visitor.submit(name="韩梅梅", phone="138 1234 5678")
    await visitor.submit(name="韩梅梅", phone="1381234")  # refused: the number is shown back
    await stack.drain()
    lead = await Lead.get()
    await stack.api("GET", f"/api/v1/leads/{lead.id}")
    assert caplog.records  # the capture works
    assert all(
        "12345678" not in record.getMessage() and "1234 5678" not in record.getMessage()
        for record in caplog.records
    )


async def test_control_characters_are_refused_not_sent_to_the_database(stack: Stack) -> None:
    channel = await form_channel(stack)
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    status, html, _ = await visitor.submit(name="韩\x00梅梅", phone=PHONE)
    assert status == 422 and "姓名含有无效字符" in html
    assert await Lead.all().count() == 0
    for path, field in (("/api/v1/leads?q=a%00b", "q"), ("/api/v1/leads?owner=%00", "owner")):
        status, body = await stack.api("GET", path)
        assert (status, body["error"]["field"]) == (422, field)
    status, _ = await stack.api("GET", "/api/v1/customers/a%00b/timeline")
    assert status == 404

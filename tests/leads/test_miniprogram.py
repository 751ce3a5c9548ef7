"""The mini-program side: login, scans, the same form, wxacode.png, unionid linking."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.appkeys import SERVICES
from scrm.channels.qr import decode_code
from scrm.leads.linking import link_customers
from scrm.leads.models import Lead, MiniProgramScan, MiniProgramUser
from scrm.models import Customer
from tests.e2e.conftest import Stack
from tests.leads.flows import form_channel


async def mp(stack: Stack, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await stack.api("POST", path, json=body, headers=headers)


async def login(stack: Stack, unionid: str | None = "uHAN001") -> str:
    code = stack.sandbox.state.issue_js_code(openid="oHAN001", unionid=unionid)
    status, body = await mp(stack, "/mp/login", {"code": code})
    assert status == 200, body
    assert set(body) == {"token", "expires_in"}  # no session_key, ever
    return str(body["token"])


async def test_login_scan_and_submit_like_the_web_form(stack: Stack) -> None:
    channel = await form_channel(stack)
    token = await login(stack)
    user = await MiniProgramUser.get(openid="oHAN001")
    assert user.unionid == "uHAN001" and user.session_key_sealed
    assert user.session_key_sealed.startswith("1:")
    status, shown = await mp(stack, "/mp/scan", {"scene": channel["state"]}, token)
    assert status == 200, shown
    assert shown["show"] == "form" and [f["key"] for f in shown["fields"]][:2] == ["name", "phone"]
    [scan] = await MiniProgramScan.all()
    assert (scan.openid, scan.unionid, scan.channel_id) == ("oHAN001", "uHAN001", channel["id"])  # type: ignore[attr-defined]
    body = {
        "scene": channel["state"],
        "values": {"name": "韩梅梅", "phone": "13812345678"},
        "consent": True,
    }
    status, answer = await mp(stack, "/mp/forms", body, token)
    assert status == 201 and answer["created"] is True
    status, answer = await mp(stack, "/mp/forms", body, token)
    assert status == 200 and answer["created"] is False  # the same dedupe as the web form
    await stack.drain()
    [lead] = await Lead.all()
    assert (lead.source, lead.unionid, lead.owner, lead.submissions) == (
        "miniprogram",
        "uHAN001",
        "zhangsan",
        2,
    )
    assert len(stack.sandbox.state.sent["app_message"]) == 1


async def test_a_contact_way_channel_scan_shows_its_qr(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    status, channel = await stack.api(
        "POST", "/api/v1/channels", json={"name": "门店", "staff": ["zhangsan"], "state": "shop1"}
    )
    assert status == 201
    token = await login(stack)
    status, shown = await mp(stack, "/mp/scan", {"scene": "shop1"}, token)
    assert (status, shown["show"], shown["qr_code"]) == (200, "contact_way", channel["qr_code"])


async def test_a_reused_or_bad_code_is_401_naming_the_errcode(stack: Stack) -> None:
    code = stack.sandbox.state.issue_js_code(openid="oX")
    assert (await mp(stack, "/mp/login", {"code": code}))[0] == 200
    status, body = await mp(stack, "/mp/login", {"code": code})
    assert status == 401 and "40029" in body["error"]["message"]
    status, body = await mp(stack, "/mp/login", {"code": "nonsense"})
    assert status == 401 and "40029" in body["error"]["message"]


@pytest.mark.parametrize("token", [None, "not-a-session"])
async def test_calls_without_a_valid_session_are_401(stack: Stack, token: str | None) -> None:
    channel = await form_channel(stack)
    for path in ("/mp/scan", "/mp/forms"):
        status, body = await mp(stack, path, {"scene": channel["state"]}, token)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert await MiniProgramScan.all().count() == 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"scene": "no_such"}, 404, None),
        ({"scene": "x" * 33}, 422, "scene"),
        (
            {"scene": "STATE", "values": {"name": "韩", "phone": "123"}, "consent": True},
            422,
            "values.phone",
        ),
        ({"scene": "STATE", "values": {"name": "韩", "phone": "13812345678"}}, 422, "consent"),
        ({"scene": "STATE", "values": "x", "consent": True}, 422, "values"),
    ],
)
async def test_bad_form_submissions_store_nothing(
    stack: Stack, body: dict[str, Any], status: int, field: str | None
) -> None:
    channel = await form_channel(stack)
    token = await login(stack)
    if body.get("scene") == "STATE":
        body = body | {"scene": channel["state"]}
    got, answer = await mp(stack, "/mp/forms", body, token)
    assert got == status and answer["error"].get("field") == field, answer
    assert await Lead.all().count() == 0


async def test_malformed_and_oversize_bodies_are_400(stack: Stack) -> None:
    token = await login(stack)
    headers = {"Authorization": f"Bearer {token}"}
    status, _ = await stack.api("POST", "/mp/scan", data=b"{not json", headers=headers)
    assert status == 400
    status, _ = await stack.api(
        "POST", "/mp/scan", data=b'{"scene": "' + b"x" * 20000 + b'"}', headers=headers
    )
    assert status == 400
    # These were 500s: a body nested past the parser's recursion, a lone surrogate sent on
    # to WeChat. Now the same checks as every /api/v1 body (NUL too).
    status, body = await stack.api("POST", "/mp/scan", data=b"[" * 5000, headers=headers)
    assert (status, body["error"]["code"]) == (400, "too_deep")
    for code in ('"a\\u0000b"', '"\\ud800"'):
        status, body = await stack.api(
            "POST", "/mp/login", data=b'{"code": ' + code.encode() + b"}", headers={}
        )
        assert (status, body["error"]["code"], body["error"]["field"]) == (400, "invalid", "code")


async def test_wxacode_png_encodes_the_scene_and_json_is_502(stack: Stack) -> None:
    channel = await form_channel(stack)
    status, png = await stack.api("GET", f"/api/v1/channels/{channel['id']}/wxacode.png")
    assert status == 200
    assert decode_code(png) == channel["state"]
    [call] = stack.sandbox.state.sent["wxacode"]
    assert call["scene"] == channel["state"]
    status, body = await stack.api(
        "GET", f"/api/v1/channels/{channel['id']}/wxacode.png?page=/bad?page"
    )
    assert status == 502 and "41030" in body["error"]["message"]
    status, _ = await stack.api("GET", "/api/v1/channels/999/wxacode.png")
    assert status == 404


async def test_a_customer_with_the_same_unionid_converts_the_lead(stack: Stack) -> None:
    channel = await form_channel(stack)
    token = await login(stack)
    await mp(stack, "/mp/scan", {"scene": channel["state"]}, token)
    body = {
        "scene": channel["state"],
        "values": {"name": "韩梅梅", "phone": "13812345678"},
        "consent": True,
    }
    await mp(stack, "/mp/forms", body, token)
    await stack.drain()
    services = stack.server.app[SERVICES]
    assert await link_customers(services) == 0  # no such customer yet
    await Customer.create(external_userid="wmHAN001", unionid="uHAN001", updated_at=0.0)
    assert await link_customers(services) == 1
    assert await link_customers(services) == 0
    lead = await Lead.get()
    assert (lead.external_userid, lead.status, lead.pooled) == ("wmHAN001", "converted", False)
    assert (await MiniProgramScan.get()).external_userid == "wmHAN001"
    status, _ = await stack.api("POST", f"/api/v1/leads/{lead.id}/release", json={"by": "m"})
    assert status == 409  # converted: out of the pool for good
    _, timeline = await stack.api("GET", "/api/v1/customers/wmHAN001/timeline")
    assert [i["kind"] for i in timeline["items"] if i["type"] == "lead"][-1] == "linked"
    [scan] = [i for i in timeline["items"] if i["type"] == "scan"]
    assert (scan["channel_id"], scan["channel"]) == (channel["id"], "展会表单")


async def test_a_miniprogram_channel_gets_a_code_and_shows_its_staff_qr(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    body = {
        "name": "小程序",
        "kind": "miniprogram",
        "staff": ["zhangsan"],
        "options": {"page": "pages/scan/index"},
    }
    status, channel = await stack.api("POST", "/api/v1/channels", json=body)
    assert status == 201, channel
    status, png = await stack.api("GET", f"/api/v1/channels/{channel['id']}/wxacode.png")
    assert status == 200 and decode_code(png) == channel["state"]
    [call] = stack.sandbox.state.sent["wxacode"]
    assert call["page"] == "pages/scan/index"
    token = await login(stack)
    status, shown = await mp(stack, "/mp/scan", {"scene": channel["state"]}, token)
    assert (status, shown["show"], shown["qr_code"]) == (200, "contact_way", channel["qr_code"])

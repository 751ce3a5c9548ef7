"""Signing in to the staff pages through WeCom's OAuth, played by the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from scrm.staff import oauth
from scrm.staff.session import LOGIN_COOKIE, SESSION_COOKIE
from tests.e2e.conftest import Stack
from tests.staff.flows import Phone, added_customer

PAGE = "/s/customers/wmSTAFF0000001"


@pytest.fixture
async def phone(stack: Stack) -> AsyncIterator[Phone]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Phone(stack, http)


async def test_a_good_code_signs_in_and_lands_on_the_page(stack: Stack, phone: Phone) -> None:
    await added_customer(stack)
    query = await phone.start_login(PAGE)
    wecom = stack.settings.wecom
    assert query["appid"] == wecom.corp_id
    assert query["redirect_uri"] == stack.settings.public_url + "/s/oauth/callback"
    assert (query["response_type"], query["scope"]) == ("code", "snsapi_base")
    assert query["agentid"] == str(wecom.agent_id)
    assert query["state"].isalnum() and len(query["state"]) <= 128
    back = await phone.authorize(query, "zhangsan")
    assert back["state"] == query["state"]
    async with phone.http.get(
        stack.url + "/s/oauth/callback", params=back, allow_redirects=False
    ) as r:
        assert (r.status, r.headers["Location"]) == (302, PAGE)
        cookies = r.headers.getall("Set-Cookie")
    [session] = [c for c in cookies if c.startswith(SESSION_COOKIE + "=")]
    attributes = {part.strip().split("=")[0].lower() for part in session.split(";")}
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "Path=/s/" in session and "SameSite=Lax" in session
    assert any(c.startswith(LOGIN_COOKIE + '=""') for c in cookies)  # the login is used up
    status, html, _ = await phone.get(PAGE)
    assert status == 200 and "李雷" in html and "展会 2026" in html
    assert len(stack.sandbox_calls("auth/getuserinfo")) == 1
    assert stack.sandbox.state.oauth_codes[back["code"]].used


async def test_a_reused_code_is_401_naming_wecoms_errcode(stack: Stack, phone: Phone) -> None:
    await added_customer(stack)
    back = await phone.authorize(await phone.start_login(PAGE), "zhangsan")
    assert (await phone.callback(back["code"], back["state"]))[0] == 302
    phone.http.cookie_jar.clear()
    again = await phone.start_login(PAGE)  # a fresh login, replaying the old code
    status, html, location = await phone.callback(back["code"], again["state"])
    assert (status, location) == (401, "")
    assert "errcode 40029" in html
    assert phone.cookie(SESSION_COOKIE) is None


async def test_an_external_user_is_403(stack: Stack, phone: Phone) -> None:
    query = await phone.start_login(PAGE)
    async with stack.http.post(
        stack.sandbox.url + "/_sandbox/oauth_codes", json={"openid": "oCUSTOMER0001"}
    ) as r:
        code = (await r.json())["code"]
    status, html, location = await phone.callback(code, query["state"])
    assert (status, location) == (403, "")
    assert "仅限企业成员" in html
    assert phone.cookie(SESSION_COOKIE) is None


async def test_a_callback_this_browser_did_not_start_is_refused(stack: Stack, phone: Phone) -> None:
    """Login CSRF: someone else's code and state, delivered to this browser, sign nobody in."""
    stack.sandbox.state.add_staff("attacker")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        attacker = Phone(stack, other)
        back = await attacker.authorize(await attacker.start_login(PAGE), "attacker")
    assert (await phone.callback(back["code"], back["state"]))[0] == 400  # no login cookie
    await phone.start_login(PAGE)  # its own login, but the attacker's state
    status, html, _ = await phone.callback(back["code"], back["state"])
    assert status == 400 and "登录已失效" in html
    assert phone.cookie(SESSION_COOKIE) is None
    assert stack.sandbox_calls("auth/getuserinfo") == []  # the code was never exchanged


async def test_a_tampered_session_cookie_sends_back_to_login(stack: Stack, phone: Phone) -> None:
    await added_customer(stack)
    await phone.login(PAGE, "zhangsan")
    token = phone.cookie(SESSION_COOKIE)
    assert token is not None
    body, mac = token.split(".")
    forged = body.replace(body[5], "A" if body[5] != "A" else "B", 1)  # claims changed
    phone.http.cookie_jar.clear()
    for value in (token, f"{forged}.{mac}", f"{body}.{mac[:-2]}", f"{body}.", "garbage", ""):
        async with phone.http.get(
            stack.url + PAGE, headers={"Cookie": f"{SESSION_COOKIE}={value}"}, allow_redirects=False
        ) as r:
            if value == token:  # the real one still works
                assert r.status == 200
                continue
            assert r.status == 302, value
            assert "/connect/oauth2/authorize?" in r.headers["Location"]


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/s/x", "//evil.example/s/", "/\\evil.example", "/api/v1/leads", "/s//x"],
)
async def test_login_refuses_to_send_the_browser_elsewhere(
    stack: Stack, phone: Phone, target: str
) -> None:
    status, html, location = await phone.get(f"/s/login?next={aiohttp.helpers.quote(target)}")
    assert (status, location) == (400, "") and "链接无效" in html


async def test_login_by_hand_goes_to_the_page_asked_for(stack: Stack, phone: Phone) -> None:
    await added_customer(stack)
    status, _, location = await phone.get("/s/login?next=" + PAGE)
    assert status == 302
    back = await phone.authorize({"url": location}, "zhangsan")
    assert (await phone.callback(back["code"], back["state"]))[2] == PAGE


async def test_code_exchanges_are_rate_limited_per_address(
    stack: Stack, phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oauth, "CALLBACK_LIMIT", (2, 600.0))
    query = await phone.start_login(PAGE)
    for _ in range(2):
        assert (await phone.callback("not-a-code", query["state"]))[0] == 401
    status, html, _ = await phone.callback("not-a-code", query["state"])
    assert status == 429 and "登录太频繁" in html
    assert len(stack.sandbox_calls("auth/getuserinfo")) == 2


async def test_a_post_without_a_session_logs_in_back_to_its_page(
    stack: Stack, phone: Phone
) -> None:
    await added_customer(stack)
    status, _, location = await phone.post(PAGE + "/followups", {"note": "x"})
    assert status == 302 and "/connect/oauth2/authorize?" in location
    back = await phone.authorize({"url": location}, "zhangsan")
    assert (await phone.callback(back["code"], back["state"]))[2] == PAGE  # the page, not the post


async def test_pages_forbid_scripts_and_framing(stack: Stack, phone: Phone) -> None:
    await added_customer(stack)
    await phone.login(PAGE, "zhangsan")
    async with phone.http.get(stack.url + PAGE) as r:
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-store"

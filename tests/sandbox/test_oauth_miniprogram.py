from __future__ import annotations

import struct
import zlib

import pytest
from aiohttp.test_utils import TestClient

from scrm.sandbox import SandboxState
from tests.sandbox.conftest import AGENT_SECRET, CORP_ID, Clock, call, get_token


async def test_getuserinfo_codes_are_single_use(sandbox: TestClient, state: SandboxState) -> None:
    code = (
        await (await sandbox.post("/_sandbox/oauth_codes", json={"userid": "zhangsan"})).json()
    )["code"]
    data = await call(sandbox, "GET", "/cgi-bin/auth/getuserinfo", params={"code": code})
    assert data["errcode"] == 0 and data["userid"] == "zhangsan"
    again = await call(sandbox, "GET", "/cgi-bin/auth/getuserinfo", params={"code": code})
    assert again["errcode"] == 40029


async def test_getuserinfo_codes_expire_after_5_minutes(
    sandbox: TestClient, state: SandboxState, clock: Clock
) -> None:
    code = state.issue_oauth_code(openid="oVisitor")
    clock.now += 300
    assert (await call(sandbox, "GET", "/cgi-bin/auth/getuserinfo", params={"code": code}))[
        "errcode"
    ] == 40029


async def test_authorize_redirects_back_with_a_code(
    sandbox: TestClient, state: SandboxState
) -> None:
    state.add_staff("zhangsan")
    params = {
        "appid": CORP_ID,
        "redirect_uri": "http://svc/sidebar?x=1",
        "state": "s1",
        "response_type": "code",
    }
    resp = await sandbox.get("/connect/oauth2/authorize", params=params, allow_redirects=False)
    assert resp.status == 302
    location = resp.headers["Location"]
    assert location.startswith("http://svc/sidebar?x=1&code=") and location.endswith("&state=s1")
    code = location.split("code=")[1].split("&")[0]
    assert state.oauth_codes[code].payload["userid"] == "zhangsan"


async def test_tickets(sandbox: TestClient) -> None:
    token = await get_token(sandbox, AGENT_SECRET)
    corp = await call(sandbox, "GET", "/cgi-bin/get_jsapi_ticket", token=token)
    agent = await call(
        sandbox, "GET", "/cgi-bin/ticket/get", token=token, params={"type": "agent_config"}
    )
    assert corp["expires_in"] == agent["expires_in"] == 7200 and corp["ticket"] != agent["ticket"]
    bad = await call(sandbox, "GET", "/cgi-bin/ticket/get", token=token, params={"type": "other"})
    assert bad["errcode"] == 40058


def jscode_params(state: SandboxState, code: str, **extra: str) -> dict[str, str]:
    config = state.config
    return {
        "appid": config.miniprogram_appid,
        "secret": config.miniprogram_secret.value,
        "js_code": code,
        "grant_type": "authorization_code",
        **extra,
    }


async def test_jscode2session(sandbox: TestClient, state: SandboxState) -> None:
    issued = await (await sandbox.post("/_sandbox/js_codes", json={"unionid": "oU"})).json()
    data = await (
        await sandbox.get("/sns/jscode2session", params=jscode_params(state, issued["code"]))
    ).json()
    assert data["errcode"] == 0 and data["openid"] == issued["openid"] and data["unionid"] == "oU"
    assert data["session_key"]
    again = await (
        await sandbox.get("/sns/jscode2session", params=jscode_params(state, issued["code"]))
    ).json()
    assert again["errcode"] == 40029


@pytest.mark.parametrize(
    ("extra", "errcode"), [({"appid": "wxother"}, 40013), ({"secret": "bad"}, 40125)]
)
async def test_jscode2session_checks_the_app(
    sandbox: TestClient, state: SandboxState, extra: dict[str, str], errcode: int
) -> None:
    code = state.issue_js_code()
    data = await (
        await sandbox.get("/sns/jscode2session", params=jscode_params(state, code, **extra))
    ).json()
    assert data["errcode"] == errcode


async def wechat_token(sandbox: TestClient, state: SandboxState) -> str:
    params = {
        "grant_type": "client_credential",
        "appid": state.config.miniprogram_appid,
        "secret": state.config.miniprogram_secret.value,
    }
    return str((await (await sandbox.get("/cgi-bin/token", params=params)).json())["access_token"])


async def test_wxacode_is_a_real_png_of_the_requested_width(
    sandbox: TestClient, state: SandboxState
) -> None:
    token = await wechat_token(sandbox, state)
    resp = await sandbox.post(
        "/wxa/getwxacodeunlimit",
        params={"access_token": token},
        json={"scene": "c=1", "width": 430},
    )
    assert resp.status == 200 and resp.content_type == "image/png"
    png = await resp.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height and 280 <= width <= 430
    idat_len = struct.unpack(">I", png[33:37])[0]
    assert len(zlib.decompress(png[41 : 41 + idat_len])) == height * (width + 1)


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"scene": ""}, 40169),
        ({"scene": "a" * 33}, 40169),
        ({"scene": "中文"}, 40169),
        ({"scene": "a%20"}, 40169),
        ({"scene": "ok", "page": "/pages/a"}, 41030),
        ({"scene": "ok", "page": "pages/a?x=1"}, 41030),
    ],
)
async def test_wxacode_errors(
    sandbox: TestClient, state: SandboxState, body: dict, errcode: int
) -> None:  # type: ignore[type-arg]
    token = await wechat_token(sandbox, state)
    resp = await sandbox.post("/wxa/getwxacodeunlimit", params={"access_token": token}, json=body)
    assert resp.content_type == "application/json" and (await resp.json())["errcode"] == errcode


async def test_wxacode_needs_a_wechat_token(sandbox: TestClient) -> None:
    data = await call(sandbox, "POST", "/wxa/getwxacodeunlimit", json={"scene": "a"})
    assert data["errcode"] == 40014

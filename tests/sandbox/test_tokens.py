from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from scrm.sandbox import SandboxState
from tests.sandbox.conftest import AGENT_SECRET, CORP_ID, Clock, call, get_token

TICKET = "/cgi-bin/get_jsapi_ticket"


async def test_gettoken_issues_a_7200s_token(sandbox: TestClient) -> None:
    resp = await sandbox.get(
        "/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": AGENT_SECRET}
    )
    data = await resp.json()
    assert data["errcode"] == 0 and data["errmsg"] == "ok"
    assert data["expires_in"] == 7200 and len(data["access_token"]) >= 40


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"corpid": "wwother", "corpsecret": "x"}, 40013),
        ({"corpid": CORP_ID, "corpsecret": "wrong"}, 40001),
        ({"corpsecret": "x"}, 41002),
        ({"corpid": CORP_ID}, 41004),
    ],
)
async def test_gettoken_rejects_bad_credentials(
    sandbox: TestClient, params: dict[str, str], errcode: int
) -> None:
    data = await (await sandbox.get("/cgi-bin/gettoken", params=params)).json()
    assert data["errcode"] == errcode


async def test_missing_token_is_41001(sandbox: TestClient) -> None:
    data = await (await sandbox.get(TICKET)).json()
    assert data["errcode"] == 41001


async def test_unknown_token_is_40014(sandbox: TestClient) -> None:
    assert (await call(sandbox, "GET", TICKET, token="nope"))["errcode"] == 40014


async def test_token_expires_with_the_clock(sandbox: TestClient, clock: Clock) -> None:
    token = await get_token(sandbox)
    clock.now += 7199
    assert (await call(sandbox, "GET", TICKET, token=token))["errcode"] == 0
    clock.now += 1
    assert (await call(sandbox, "GET", TICKET, token=token))["errcode"] == 42001


async def test_force_expire_all_tokens(sandbox: TestClient, state: SandboxState) -> None:
    token = await get_token(sandbox)
    resp = await sandbox.post("/_sandbox/tokens/expire")
    assert (await resp.json())["expired"] == 1
    assert (await call(sandbox, "GET", TICKET, token=token))["errcode"] == 42001
    assert (await call(sandbox, "GET", TICKET))["errcode"] == 0  # a new token works


async def test_short_token_expiry_is_configurable(aiohttp_client, config, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from scrm.sandbox import create_sandbox_app

    client = await aiohttp_client(create_sandbox_app(replace(config, token_expires_in=2)))
    token = await get_token(client)
    clock.now += 2
    assert (await call(client, "GET", TICKET, token=token))["errcode"] == 42001


async def test_wechat_token_is_separate(sandbox: TestClient, state: SandboxState) -> None:
    config = state.config
    params = {
        "grant_type": "client_credential",
        "appid": config.miniprogram_appid,
        "secret": config.miniprogram_secret.value,
    }
    data = await (await sandbox.get("/cgi-bin/token", params=params)).json()
    assert data["errcode"] == 0
    # A WeChat token is not a WeCom token.
    assert (await call(sandbox, "GET", TICKET, token=data["access_token"]))["errcode"] == 40014
    data = await (await sandbox.get("/cgi-bin/token", params={**params, "secret": "bad"})).json()
    assert data["errcode"] == 40125

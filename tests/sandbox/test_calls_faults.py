from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from scrm.sandbox import SandboxState
from tests.sandbox.conftest import CONTACT_SECRET, CORP_ID, call, get_token

TICKET = "/cgi-bin/get_jsapi_ticket"


async def test_calls_are_logged_without_credentials(
    sandbox: TestClient, state: SandboxState
) -> None:
    await call(
        sandbox,
        "POST",
        "/cgi-bin/externalcontact/mark_tag",
        json={"userid": "u", "external_userid": "e"},
    )
    data = await (await sandbox.get("/_sandbox/calls")).json()
    gettoken, mark = data["calls"]
    assert gettoken["path"] == "/cgi-bin/gettoken" and gettoken["query"] == {
        "corpid": CORP_ID,
        "corpsecret": "***",
    }
    assert gettoken["errcode"] == 0 and gettoken["status"] == 200
    assert mark["method"] == "POST" and mark["query"] == {"access_token": "***"}
    assert mark["json"] == {"userid": "u", "external_userid": "e"} and mark["errcode"] == 40058
    assert mark["time"] == 1_700_000_000.0
    assert CONTACT_SECRET not in str(data)
    filtered = await (await sandbox.get("/_sandbox/calls", params={"path": "mark_tag"})).json()
    assert len(filtered["calls"]) == 1
    await sandbox.delete("/_sandbox/calls")
    assert (await (await sandbox.get("/_sandbox/calls")).json())["calls"] == []


@pytest.mark.parametrize("errcode", [-1, 45009, 42001])
async def test_errcode_fault_hits_the_next_n_calls(sandbox: TestClient, errcode: int) -> None:
    resp = await sandbox.post(
        "/_sandbox/faults", json={"path": TICKET, "errcode": errcode, "count": 2}
    )
    assert (await resp.json())["count"] == 2
    token = await get_token(sandbox)  # other paths are untouched
    results = [(await call(sandbox, "GET", TICKET, token=token))["errcode"] for _ in range(3)]
    assert results == [errcode, errcode, 0]


async def test_wildcard_fault_and_clear(sandbox: TestClient, state: SandboxState) -> None:
    state.faults.inject("*", errcode=-1, count=0)
    resp = await sandbox.get(
        "/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": CONTACT_SECRET}
    )
    assert (await resp.json())["errcode"] == -1
    assert len((await (await sandbox.get("/_sandbox/faults")).json())["faults"]) == 1
    await sandbox.delete("/_sandbox/faults")
    assert (await call(sandbox, "GET", TICKET))["errcode"] == 0


async def test_http_fault_answers_a_bare_status(sandbox: TestClient, state: SandboxState) -> None:
    state.faults.inject("get_jsapi_ticket", "http", status=503)
    token = await get_token(sandbox)
    resp = await sandbox.get(TICKET, params={"access_token": token})
    assert resp.status == 503
    assert state.calls.find(TICKET)[0].status == 503


async def test_hang_outlasts_a_client_timeout(sandbox: TestClient, state: SandboxState) -> None:
    token = await get_token(sandbox)
    state.faults.inject("get_jsapi_ticket", "hang")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await sandbox.get(TICKET, params={"access_token": token})


async def test_slow_answers_after_the_delay(sandbox: TestClient, state: SandboxState) -> None:
    token = await get_token(sandbox)
    state.faults.inject("get_jsapi_ticket", "slow", delay=0.15)
    loop = asyncio.get_running_loop()
    started = loop.time()
    data = await call(sandbox, "GET", TICKET, token=token)
    assert data["errcode"] == 0 and loop.time() - started >= 0.15


async def test_bad_fault_is_400(sandbox: TestClient) -> None:
    assert (await sandbox.post("/_sandbox/faults", json={"kind": "explode"})).status == 400
    assert (await sandbox.post("/_sandbox/faults", json={"nope": 1})).status == 400

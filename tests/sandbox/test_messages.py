from __future__ import annotations

from aiohttp.test_utils import TestClient

from scrm.sandbox import SandboxState
from tests.sandbox.conftest import AGENT_SECRET, Clock, call, get_token

SEND = "/cgi-bin/message/send"


async def test_app_message_reports_invalid_users(sandbox: TestClient, state: SandboxState) -> None:
    state.add_staff("zhangsan")
    token = await get_token(sandbox, AGENT_SECRET)
    body = {
        "touser": "zhangsan|ghost",
        "msgtype": "text",
        "agentid": 1000002,
        "text": {"content": "跟进"},
    }
    data = await call(sandbox, "POST", SEND, token=token, json=body)
    assert data["errcode"] == 0 and data["invaliduser"] == "ghost" and data["msgid"]
    assert state.sent["app_message"][0]["touser"] == ["zhangsan"]


async def test_app_message_errors(sandbox: TestClient, state: SandboxState) -> None:
    body = {"touser": "ghost", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}}
    assert (await call(sandbox, "POST", SEND, json=body))["errcode"] == 81013
    assert (await call(sandbox, "POST", SEND, json={**body, "agentid": 1}))["errcode"] == 40056
    assert (await call(sandbox, "POST", SEND, json={**body, "text": None}))["errcode"] == 40058


async def test_appchat_send(sandbox: TestClient, state: SandboxState) -> None:
    chatid = state.add_appchat("salesteam", "销售群", ["zhangsan", "lisi"])
    body = {"chatid": chatid, "msgtype": "markdown", "markdown": {"content": "**新工单**"}}
    assert (await call(sandbox, "POST", "/cgi-bin/appchat/send", json=body))["errcode"] == 0
    assert state.sent["appchat"] == [
        {"chatid": "salesteam", "msgtype": "markdown", "markdown": {"content": "**新工单**"}}
    ]
    unknown = {**body, "chatid": "nochat"}
    assert (await call(sandbox, "POST", "/cgi-bin/appchat/send", json=unknown))["errcode"] == 86003


async def robot(sandbox: TestClient, key: str, body: dict) -> int:  # type: ignore[type-arg]
    resp = await sandbox.post("/cgi-bin/webhook/send", params={"key": key}, json=body)
    return int((await resp.json())["errcode"])


async def test_robot_webhook_needs_a_known_key_and_no_token(
    sandbox: TestClient, state: SandboxState
) -> None:
    key = state.add_robot()
    text = {"msgtype": "text", "text": {"content": "hello", "mentioned_list": ["@all"]}}
    assert await robot(sandbox, key, text) == 0
    assert state.sent["robot"][0]["text"]["content"] == "hello"
    assert await robot(sandbox, "unknown", text) == 93000


async def test_robot_markdown_limit_is_4096_bytes(sandbox: TestClient, state: SandboxState) -> None:
    key = state.add_robot()
    assert (
        await robot(sandbox, key, {"msgtype": "markdown", "markdown": {"content": "x" * 4096}}) == 0
    )
    assert (
        await robot(sandbox, key, {"msgtype": "markdown", "markdown": {"content": "x" * 4097}})
        == 40058
    )


async def test_robot_allows_20_per_minute(
    sandbox: TestClient, state: SandboxState, clock: Clock
) -> None:
    key = (await (await sandbox.post("/_sandbox/robots", json={})).json())["key"]
    text = {"msgtype": "text", "text": {"content": "x"}}
    assert [await robot(sandbox, key, text) for _ in range(21)] == [0] * 20 + [45009]
    clock.now += 60
    assert await robot(sandbox, key, text) == 0

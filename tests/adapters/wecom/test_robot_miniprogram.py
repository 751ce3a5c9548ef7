from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.kv.memory import MemoryKV
from adapters.wecom import MiniProgramClient, RetryPolicy, RobotWebhookClient, WeComAPIError
from config import Secret
from scrm.sandbox import SandboxState


@pytest.fixture
def robot(
    session: aiohttp.ClientSession, server: TestServer, retry: RetryPolicy
) -> RobotWebhookClient:
    return RobotWebhookClient(session, str(server.make_url("")), retry=retry)


@pytest.fixture
def mini(
    session: aiohttp.ClientSession, server: TestServer, retry: RetryPolicy, state: SandboxState
) -> MiniProgramClient:
    config = state.config
    return MiniProgramClient(
        session,
        MemoryKV(),
        appid=config.miniprogram_appid,
        secret=config.miniprogram_secret,
        api_base=str(server.make_url("")),
        timeout=2.0,
        retry=retry,
    )


async def test_robot_sends_text_and_markdown(
    robot: RobotWebhookClient, state: SandboxState
) -> None:
    key = state.add_robot()
    await robot.send_text(Secret(key), "有新客户", mentioned_list=["@all"])
    await robot.send_markdown(key, "**工单** 已创建")
    assert [m["msgtype"] for m in state.sent["robot"]] == ["text", "markdown"]
    assert state.sent["robot"][0]["text"] == {"content": "有新客户", "mentioned_list": ["@all"]}


async def test_robot_errors_never_show_the_key(
    robot: RobotWebhookClient,
    state: SandboxState,
    caplog: pytest.LogCaptureFixture,
    sleeps: list[float],
) -> None:
    caplog.set_level(logging.DEBUG)
    key = "0123456789abcdef-robot-key"
    with pytest.raises(WeComAPIError) as caught:
        await robot.send_text(key, "hi")
    assert caught.value.errcode == 93000 and sleeps == []
    state.add_robot(key)
    state.faults.inject("webhook/send", errcode=45009, count=0)
    with pytest.raises(WeComAPIError):
        await robot.send_text(key, "hi")
    assert sleeps == [0.5, 1.0]
    client_logs = [caplog.handler.format(r) for r in caplog.records if r.name != "aiohttp.access"]
    assert client_logs and all(key not in line for line in client_logs)
    assert key not in str(caught.value)


async def test_code2session(mini: MiniProgramClient, state: SandboxState) -> None:
    code = state.issue_js_code(openid="oOpen1", unionid="oUnion1")
    session = await mini.code2session(code)
    assert (session.openid, session.unionid) == ("oOpen1", "oUnion1") and session.session_key
    assert session.session_key not in repr(session)
    with pytest.raises(WeComAPIError) as caught:
        await mini.code2session(code)
    assert caught.value.errcode == 40029


async def test_wxacode_returns_png_bytes(mini: MiniProgramClient, state: SandboxState) -> None:
    image = await mini.get_wxacode_unlimit("ch=fair&s=zhangsan", "pages/index/index", width=280)
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert state.sent["wxacode"] == [
        {"scene": "ch=fair&s=zhangsan", "page": "pages/index/index", "width": 280}
    ]
    assert len(state.calls.find("/cgi-bin/token")) == 1


@pytest.mark.parametrize(
    ("scene", "page", "errcode"),
    [("x" * 33, None, 40169), ("100%", None, 40169), ("ok", "/pages/a", 41030)],
)
async def test_wxacode_errors_are_json(
    mini: MiniProgramClient, scene: str, page: str | None, errcode: int
) -> None:
    with pytest.raises(WeComAPIError) as caught:
        await mini.get_wxacode_unlimit(scene, page)
    assert caught.value.errcode == errcode

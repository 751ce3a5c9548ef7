"""The sandbox answers as Tencent's errcode list says, and the client classifies each answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.wecom import WeComAPIError, WeComClient
from adapters.wecom.transport import decode_json, exchange
from scrm.sandbox import SandboxState
from tests.sandbox.conftest import AGENT_SECRET, call, get_token

EXTERNAL = "/cgi-bin/externalcontact"
TEXT = {"touser": "zhangsan", "msgtype": "text", "agentid": 1000002, "text": {"content": "hi"}}

# (method, path, body, errcode): each row was seen differing from WeCom (issue 8, §4).
ERRCODES = [
    pytest.param("GET", f"{EXTERNAL}/get", None, 41035, id="get-missing-external_userid"),
    pytest.param(
        "POST",
        f"{EXTERNAL}/mark_tag",
        {"userid": "zhangsan", "add_tag": ["etX"]},
        41035,
        id="mark_tag-missing-external_userid",
    ),
    pytest.param(
        "POST",
        f"{EXTERNAL}/send_welcome_msg",
        {"text": {"content": "欢迎"}},
        41049,
        id="welcome-missing-welcome_code",
    ),
    pytest.param(
        "POST",
        f"{EXTERNAL}/add_contact_way",
        {"scene": 2, "user": ["zhangsan"]},
        41037,
        id="contact_way-missing-type",
    ),
    pytest.param(
        "POST",
        f"{EXTERNAL}/add_contact_way",
        {"type": 1, "user": ["zhangsan"]},
        41038,
        id="contact_way-missing-scene",
    ),
    pytest.param(
        "POST",
        "/cgi-bin/message/send",
        {k: v for k, v in TEXT.items() if k != "touser"},
        82001,
        id="message_send-no-recipients",
    ),
    pytest.param("POST", "/cgi-bin/message/send", b"{not json", 40058, id="body-not-json"),
    pytest.param("POST", f"{EXTERNAL}/mark_tag", b"[1, 2]", 40058, id="body-not-an-object"),
    pytest.param("GET", "/cgi-bin/message/send", None, 40058, id="wrong-method"),
    pytest.param("POST", f"{EXTERNAL}/get", {}, 40058, id="wrong-method-post"),
    pytest.param("GET", "/cgi-bin/no/such/api", None, 404, id="unknown-path"),
    pytest.param("POST", "/cgi-bin/no/such/api", {}, 404, id="unknown-path-post"),
]


async def answer(
    sandbox: TestClient, method: str, path: str, body: Any, token: str
) -> tuple[int, str, dict[str, Any]]:
    kwargs: dict[str, Any] = {}
    if isinstance(body, bytes):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    resp = await sandbox.request(method, path, params={"access_token": token}, **kwargs)
    return resp.status, resp.content_type, await resp.json(content_type=None)


@pytest.mark.parametrize(("method", "path", "body", "errcode"), ERRCODES)
async def test_errcode_matches_wecom(
    sandbox: TestClient,
    state: SandboxState,
    method: str,
    path: str,
    body: Any,
    errcode: int,
) -> None:
    state.add_staff("zhangsan")
    token = await get_token(sandbox, AGENT_SECRET)
    status, content_type, data = await answer(sandbox, method, path, body, token)
    assert (status, content_type) == (200, "application/json")  # JSON, never plain text
    assert data["errcode"] == errcode and data["errmsg"]
    assert state.calls.find(path)[-1].errcode == errcode


# The client always sends JSON, so the garbage-body rows are the sandbox's alone.
CLIENT_ERRCODES = [p for p in ERRCODES if not isinstance(p.values[2], bytes)]


@pytest.mark.parametrize(("method", "path", "body", "errcode"), CLIENT_ERRCODES)
async def test_client_classifies_each_answer(
    sandbox: TestClient,
    state: SandboxState,
    method: str,
    path: str,
    body: Any,
    errcode: int,
) -> None:
    """The adapter's transport turns every one of these into a terminal `WeComAPIError`."""
    state.add_staff("zhangsan")
    token = await get_token(sandbox, AGENT_SECRET)
    response = await exchange(
        sandbox.session,
        method,
        str(sandbox.make_url(path)),
        params={"access_token": token},
        json=body,
        timeout=2.0,
        what=path,
    )
    with pytest.raises(WeComAPIError) as caught:
        decode_json(response, path)
    assert caught.value.errcode == errcode and not caught.value.retryable


async def test_text_over_2048_bytes_is_truncated_not_refused(
    sandbox: TestClient, state: SandboxState
) -> None:
    state.add_staff("zhangsan")
    token = await get_token(sandbox, AGENT_SECRET)
    body = {**TEXT, "text": {"content": "字" * 700}}  # 2100 bytes of 3-byte characters
    data = await call(sandbox, "POST", "/cgi-bin/message/send", token=token, json=body)
    assert data["errcode"] == 0
    sent = state.sent["app_message"][0]["text"]["content"]
    assert sent == "字" * 682 and len(sent.encode()) == 2046  # no character split
    chatid = state.add_appchat("sales", "销售", ["zhangsan"])
    chat = {"chatid": chatid, "msgtype": "text", "text": {"content": "x" * 3000}}
    assert (await call(sandbox, "POST", "/cgi-bin/appchat/send", token=token, json=chat))[
        "errcode"
    ] == 0
    assert state.sent["appchat"][0]["text"]["content"] == "x" * 2048


async def test_markdown_over_the_limit_is_still_refused(
    sandbox: TestClient, state: SandboxState
) -> None:
    state.add_staff("zhangsan")
    token = await get_token(sandbox, AGENT_SECRET)
    body = {**TEXT, "msgtype": "markdown", "markdown": {"content": "x" * 2049}}
    body.pop("text")
    data = await call(sandbox, "POST", "/cgi-bin/message/send", token=token, json=body)
    assert data["errcode"] == 40058


async def test_client_reports_missing_external_userid_as_41035(
    make_client: Callable[..., WeComClient],
) -> None:
    with pytest.raises(WeComAPIError) as caught:
        await make_client().get_external_contact("")
    assert caught.value.errcode == 41035


@pytest.fixture
def make_client(sandbox: TestClient) -> Callable[..., WeComClient]:
    from adapters.kv.memory import MemoryKV
    from config import Secret
    from tests.sandbox.conftest import CORP_ID

    server = sandbox.server
    assert isinstance(server, TestServer)

    def make() -> WeComClient:
        return WeComClient(
            sandbox.session,
            MemoryKV(),
            corp_id=CORP_ID,
            secret=Secret(AGENT_SECRET),
            api_base=str(server.make_url("")),
            timeout=2.0,
            token_name="agent",
        )

    return make

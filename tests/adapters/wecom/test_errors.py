"""The error policy: what is retried with backoff, what is terminal, and what stays secret."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.kv.memory import MemoryKV
from adapters.wecom import (
    RetryPolicy,
    WeComAPIError,
    WeComClient,
    WeComConnectionError,
    WeComError,
    WeComPermissionError,
)
from adapters.wecom.transport import exchange
from config import Secret
from scrm.sandbox import SandboxState

from .conftest import CONTACT_SECRET, CORP_ID

TICKET = "get_jsapi_ticket"


@pytest.mark.parametrize("errcode", [-1, 45009, 45033])
async def test_system_busy_backs_off_and_succeeds(
    client: WeComClient, state: SandboxState, sleeps: list[float], errcode: int
) -> None:
    state.faults.inject(TICKET, errcode=errcode, count=2)
    assert await client.get_jsapi_ticket()
    assert sleeps == [0.5, 1.0]
    assert [c.errcode for c in state.calls.find(TICKET)] == [errcode, errcode, 0]


async def test_persistent_busy_fails_after_three_tries(
    client: WeComClient, state: SandboxState, sleeps: list[float]
) -> None:
    state.faults.inject(TICKET, errcode=-1, count=0)
    with pytest.raises(WeComAPIError) as caught:
        await client.get_jsapi_ticket()
    assert caught.value.errcode == -1 and caught.value.retryable
    assert len(state.calls.find(TICKET)) == 3 and sleeps == [0.5, 1.0]


async def test_5xx_is_retried(client: WeComClient, state: SandboxState) -> None:
    state.faults.inject(TICKET, "http", status=502)
    assert await client.get_jsapi_ticket()
    assert [c.status for c in state.calls.find(TICKET)] == [502, 200]


async def test_business_errors_are_terminal_and_typed(
    client: WeComClient, state: SandboxState, sleeps: list[float]
) -> None:
    state.add_staff("zhangsan")
    with pytest.raises(WeComAPIError) as caught:
        await client.mark_tag("zhangsan", "wmNobody", add=["etX"])
    assert caught.value.errcode == 84061 and not caught.value.retryable
    assert "84061" in str(caught.value)
    assert len(state.calls.find("mark_tag")) == 1 and sleeps == []


async def test_hanging_server_is_a_connection_error(
    make_client: Callable[..., WeComClient], state: SandboxState, sleeps: list[float]
) -> None:
    client = make_client(timeout=0.2)
    await client.access_token()
    state.faults.inject(TICKET, "hang", count=0)
    with pytest.raises(WeComConnectionError, match=r"no answer within 0\.2s"):
        await client.get_jsapi_ticket()
    assert sleeps == [0.5, 1.0]


async def test_slow_answer_within_timeout_succeeds(
    client: WeComClient, state: SandboxState
) -> None:
    state.faults.inject(TICKET, "slow", delay=0.1)
    assert await client.get_jsapi_ticket()


async def test_connection_refused_is_a_connection_error(
    session: aiohttp.ClientSession, sleeps: list[float], retry: RetryPolicy, unused_tcp_port: int
) -> None:
    client = WeComClient(
        session,
        MemoryKV(),
        corp_id=CORP_ID,
        secret=Secret(CONTACT_SECRET),
        api_base=f"http://127.0.0.1:{unused_tcp_port}",
        timeout=1.0,
        retry=retry,
    )
    with pytest.raises(WeComConnectionError):
        await client.access_token()
    assert sleeps == [0.5, 1.0]


async def test_no_token_or_secret_in_errors_or_logs(
    client: WeComClient, state: SandboxState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await client.access_token()
    errors: list[WeComError] = []
    for kind, fields in [
        ("errcode", {"errcode": -1, "count": 0}),
        ("http", {"status": 500, "count": 0}),
        ("errcode", {"errcode": 42001, "count": 0}),
    ]:
        state.faults.clear()
        state.faults.inject(TICKET, kind, **fields)
        with pytest.raises(WeComError) as caught:
            await client.get_jsapi_ticket()
        errors.append(caught.value)
    state.faults.clear()
    state.faults.inject("gettoken", errcode=40001)
    state.expire_tokens()
    with pytest.raises(WeComError) as caught:
        await client.get_jsapi_ticket()
    errors.append(caught.value)
    # aiohttp.access is the sandbox's server-side log from the test harness, not the client's.
    client_logs = [caplog.handler.format(r) for r in caplog.records if r.name != "aiohttp.access"]
    assert any("refreshing the access_token" in line for line in client_logs)
    texts = [repr(e) + str(e) for e in errors] + client_logs + [repr(client)]
    for text in texts:
        assert token not in text
        assert CONTACT_SECRET not in text


def test_secret_is_hidden_in_client_repr(client: WeComClient) -> None:
    assert CONTACT_SECRET not in repr(client) and CONTACT_SECRET not in repr(vars(client))


async def test_permission_error_is_typed_and_terminal(
    client: WeComClient, state: SandboxState, sleeps: list[float]
) -> None:
    state.faults.inject("mark_tag", errcode=48002)
    with pytest.raises(WeComPermissionError) as caught:
        await client.mark_tag("zhangsan", "wmX", add=["etX"])
    assert caught.value.errcode == 48002 and not caught.value.retryable and sleeps == []


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, b'{"errcode": 404, "errmsg": "api not found"}', WeComAPIError),
        (403, b'{"errcode": 48002, "errmsg": "api forbidden"}', WeComPermissionError),
        (404, b"404 page not found", WeComError),
    ],
)
async def test_non_200_answers_are_classified_by_their_errcode(
    aiohttp_server: Callable[..., Any], status: int, body: bytes, expected: type[Exception]
) -> None:
    """An errcode in a non-200 answer says more than the status, so it is used when present."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/cgi-bin/x", handler)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(expected) as caught:
            await exchange(
                session,
                "GET",
                str(server.make_url("/cgi-bin/x")),
                params=None,
                json=None,
                timeout=2.0,
                what="x",
            )
    assert type(caught.value) is expected

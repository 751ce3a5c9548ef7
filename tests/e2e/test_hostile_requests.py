"""Hostile bytes in requests: a non-UTF-8 Authorization is a 401, and no request data ever
puts a raw CR/LF into a log line (issue 9 §4)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from scrm.api.errors import error_middleware
from scrm.logsafe import OneLineFilter, install, loggable
from tests.e2e.conftest import Stack

PATHS = [
    ("GET", "/api/v1/events/stats"),
    ("GET", "/api/v1/events%0AFORGED%20200%20OK"),
    ("GET", "/api/v1/tag-rules"),
    ("POST", "/api/v1/tag-rules/backtest"),
    ("GET", "/api/v1/customers/wmA/tag-hits"),
    ("POST", "/api/v1/archive/search"),
    ("POST", "/api/v1/archive/backtest"),
    ("GET", "/api/v1/archive/audit"),
    ("POST", "/mp/scan"),  # a mini-program session token, not the admin token
    ("POST", "/mp/forms"),
]


async def raw_request(stack: Stack, method: str, path: str, authorization: bytes) -> int:
    """Send bytes aiohttp's client would refuse to send; return the status code."""
    host, port = stack.server.host, stack.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    body = b'{"justification": "a reason long enough"}'
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n".encode()
        + b"Authorization: "
        + authorization
        + b"\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return int(status_line.split()[1])


def no_raw_line_breaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    messages = [record.getMessage() for record in caplog.records]
    return [message for message in messages if "\n" in message or "\r" in message]


@pytest.mark.parametrize("value", [b"Bearer \xff", b"Bearer \xc3\x28abc", b"bearer \xe4\xb8"])
async def test_a_non_utf8_authorization_is_401_on_every_path(
    stack: Stack, caplog: pytest.LogCaptureFixture, value: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    for method, path in PATHS:
        assert await raw_request(stack, method, path, value) == 401, path
    assert no_raw_line_breaks(caplog) == []
    assert stack.metric("scrm_api_errors_total", {"status": "500", "code": "internal"}) == 0


async def test_a_line_break_in_a_path_is_escaped_in_the_error_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    app = web.Application(middlewares=[error_middleware(lambda status, code: None)])
    app.router.add_get(r"/boom/{rest:[\s\S]*}", boom)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/boom/a%0D%0A2026-11-30 INFO scrm: admin logged in")
        assert response.status == 500
    [record] = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message
    assert "/boom/a\\x0d\\x0a2026-11-30" in message


async def test_an_event_name_with_a_line_break_is_logged_escaped(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    plaintext = json.dumps(
        {
            "ToUserName": stack.corp_id,
            "FromUserName": "sys",
            "CreateTime": int(time.time()),
            "MsgType": "event",
            "Event": "unknown_kind\n2026-11-30 INFO scrm: forged",
        }
    ).encode()
    assert await send_json_callback(stack, plaintext) == 200
    assert no_raw_line_breaks(caplog) == []
    assert any("unknown_kind\\x0a2026" in r.getMessage() for r in caplog.records)


async def send_json_callback(stack: Stack, plaintext: bytes) -> int:
    """Sign and encrypt ``plaintext`` as WeCom does in JSON mode; return the status."""
    timestamp, nonce = str(int(time.time())), "nonce1"
    encrypt = stack.crypto.encrypt(plaintext)
    params = {
        "msg_signature": stack.crypto.signature(timestamp, nonce, encrypt),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    status, _ = await stack.post_callback(params, json.dumps({"encrypt": encrypt}))
    return status


def test_the_log_filter_escapes_whatever_still_carries_a_line_break() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", ("a\r\nb",), None)
    assert OneLineFilter().filter(record)
    assert record.getMessage() == "got a\\r\\nb"
    assert loggable("x\ny\u2028z\x00", 100) == "x\\x0ay\\u2028z\\x00"
    assert loggable("a" * 10, 4) == "aaaa…"


def test_an_exception_quoting_a_request_cannot_start_a_line() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("scrm.test.logsafe")
    logger.addHandler(handler)
    logger.propagate = False
    install([handler])
    try:
        try:
            raise ValueError("bad id x\nINFO admin logged in")
        except ValueError:
            logger.exception("failed on %s", "/p\r\nINFO forged")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert lines[0] == "ERROR failed on /p\\r\\nINFO forged"
    assert [line for line in lines if line.startswith("INFO")] == []
    assert "| INFO admin logged in" in lines


async def test_raw_utf8_in_a_url_is_a_counted_400_warning_not_an_error_traceback(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    host, port = stack.server.host, stack.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        "GET /api/v1/leads?q=王小明 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"400"
    served = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert served and all(r.levelno == logging.WARNING and not r.exc_info for r in served)
    assert "malformed HTTP request" in served[0].getMessage()
    assert stack.metric("scrm_api_errors_total", {"status": "400", "code": "malformed_http"}) == 1

"""WeCom's wire conventions on the server side: the errcode envelope and JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

ERRCODE = web.ResponseKey("sandbox_errcode", int)
"""The errcode an answer carried, read back by the call log."""
JSON_BODY = web.RequestKey("sandbox_json_body", dict)


class ApiError(Exception):
    """Raised by a handler to answer ``{"errcode": code, "errmsg": msg}`` (HTTP 200, like WeCom)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def reply(**fields: Any) -> web.Response:
    """A successful answer; WeCom always includes ``errcode: 0`` and ``errmsg: "ok"``."""
    return answer(0, "ok", **fields)


def answer(errcode: int, errmsg: str, **fields: Any) -> web.Response:
    response = web.json_response({"errcode": errcode, "errmsg": errmsg, **fields})
    response[ERRCODE] = errcode
    return response


def body(request: web.Request) -> dict[str, Any]:
    """The JSON body parsed by the middleware (``{}`` for GET)."""
    data: dict[str, Any] = request.get(JSON_BODY) or {}
    return data


async def parse_body(request: web.Request) -> dict[str, Any] | None:
    """Parse a POST body; raise 47001 (WeCom's "data format error") for non-JSON."""
    if request.method != "POST":
        return None
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(47001, "data format error") from None
    if not isinstance(data, dict):
        raise ApiError(47001, "data format error")
    return data


def require(data: dict[str, Any] | Any, name: str) -> Any:
    """A required field; WeCom answers 40058 (invalid parameter) when it is missing."""
    value = data.get(name) if isinstance(data, dict) else None
    if value in (None, "", []):
        raise ApiError(40058, f"{name} missing or empty")
    return value


def byte_len(text: str) -> int:
    return len(text.encode())

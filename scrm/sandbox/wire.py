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


# WeCom's global errcode page: a body that is not valid JSON gets an errmsg containing
# "Warning: wrong json format."; the errcode is 40058 (invalid parameter).
WRONG_JSON = "invalid parameter, Warning: wrong json format."


async def parse_body(request: web.Request) -> dict[str, Any] | None:
    """Parse a POST body; raise 40058 ("wrong json format") for a body that is not a JSON
    object."""
    if request.method != "POST":
        return None
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(40058, WRONG_JSON) from None
    if not isinstance(data, dict):
        raise ApiError(40058, WRONG_JSON)
    return data


def require(data: dict[str, Any] | Any, name: str, errcode: int = 40058) -> Any:
    """A required field; WeCom answers the API's own "missing X" errcode (41035 external
    userid, 41049 welcome_code, …) or 40058 (invalid parameter) when it is missing."""
    value = data.get(name) if isinstance(data, dict) else None
    if value in (None, "", []):
        raise ApiError(errcode, f"{name} missing or empty")
    return value


def truncate_bytes(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes without splitting a character."""
    return text.encode()[:limit].decode(errors="ignore")


def byte_len(text: str) -> int:
    return len(text.encode())

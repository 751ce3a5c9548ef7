"""One error shape everywhere: ``{"error": {"code", "message", "field"?}}``, precise status."""

from __future__ import annotations

import json
import logging
import re
from array import array
from collections.abc import Awaitable, Callable
from itertools import accumulate
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from scrm.logsafe import loggable
from scrm.storable import UnstorableText, check_storable

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 64  # our deepest body (a draft rule's action) nests 4 levels
_JSON_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_JSON_STRING = re.compile(rb'"[^"]*"')  # once escapes are gone; only the last " can fail
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # +1 / -1 as signed bytes


class ApiError(Exception):
    """Raise from a view to answer with the error shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def json_depth(raw: bytes) -> int:
    """How deep a JSON text nests, found without recursion (exact for valid JSON).

    Escapes and then strings are cut out (a bracket inside a string does not nest), then each
    bracket becomes +1 or -1 and the running sum's maximum is the depth: a few linear C-level
    passes over the bytes. (One regex for strings with escapes backtracked quadratically on
    ``"\\"\\"\\"…``.)
    """
    unescaped = _JSON_ESCAPE.sub(b"", raw)
    brackets = _JSON_STRING.sub(b"", unescaped).translate(None, _NOT_BRACKETS)
    steps = array("b", brackets.translate(_BRACKET_STEPS))
    return max(accumulate(steps), default=0)


async def json_body(request: web.Request, *, check_strings: bool = True) -> Any:
    """The request's JSON body, or a 400: ``bad_json`` when it does not parse, ``too_deep``
    past `MAX_JSON_DEPTH` (checked before the recursive parser runs), ``invalid`` naming the
    field when a string holds NUL or a lone surrogate. Callers check the shape.

    ``check_strings=False`` leaves the string check to a caller that refuses items one by one
    (`check_storable`), so one bad item does not refuse its siblings.
    """
    return parse_json(await request.read(), check_strings=check_strings)


def parse_json(raw: bytes, *, check_strings: bool = True) -> Any:
    """`json_body` for a body already read (a route that caps its own size)."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, "too_deep", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are both
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    if check_strings:
        try:
            check_storable(body)
        except UnstorableText as exc:
            field = exc.field or "body"
            raise ApiError(400, "invalid", f"{field} {exc.reason}", field) from None
    return body


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python reads them, JSON has none


def json_error(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return web.json_response({"error": error}, status=status)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
}


def error_middleware(
    count: Callable[[int, str], None],
) -> Middleware:
    """Turn `ApiError`, aiohttp's own HTTP errors and crashes into the JSON error shape."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            count(exc.status, exc.code)
            return json_error(exc.status, exc.code, exc.message, exc.field)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _HTTP_CODES.get(exc.status, "error")
            count(exc.status, code)
            return json_error(exc.status, code, exc.reason)
        except Exception:
            log.exception(
                "unhandled error on %s %s", loggable(request.method), loggable(request.path)
            )
            count(500, "internal")
            return json_error(500, "internal", "internal error")

    return middleware

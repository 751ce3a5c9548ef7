"""One error shape everywhere: ``{"error": {"code", "message", "field"?}}``, precise status."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from scrm.logsafe import loggable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raise from a view to answer with the error shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; 400 ``bad_json`` when it does not parse (callers check shape)."""
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None


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

"""Query-parameter parsing that answers 422 naming the parameter."""

from __future__ import annotations

from typing import overload

from aiohttp import web

from scrm.api.errors import ApiError


@overload
def int_param(request: web.Request, name: str, *, default: int, low: int, high: int) -> int: ...
@overload
def int_param(
    request: web.Request, name: str, *, default: None, low: int, high: int
) -> int | None: ...
def int_param(
    request: web.Request, name: str, *, default: int | None, low: int, high: int
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid", f"{name} must be a whole number", name) from None
    if not low <= value <= high:
        raise ApiError(422, "invalid", f"{name} must be between {low} and {high}", name)
    return value

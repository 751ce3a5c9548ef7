"""Body parsing for the tickets API: every bad value is a 422 naming its field."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scrm.api.errors import ApiError, json_body
from scrm.api.params import path_id
from scrm.tickets.states import PRIORITIES

TITLE_MAX, TEXT_MAX, ID_MAX, NAME_MAX = 200, 4000, 64, 100


async def body(request: web.Request) -> dict[str, Any]:
    data = await json_body(request)
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", "the body must be a JSON object", "body")
    return data


def text(data: dict[str, Any], name: str, *, limit: int, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(422, "invalid", f"{name} is required", name)
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ApiError(
            422, "invalid", f"{name} must be a non-empty string of at most {limit} characters", name
        )
    return value.strip() or value


def priority(data: dict[str, Any], required: bool) -> str | None:
    value = data.get("priority")
    if value is None and not required:
        return None
    if value not in PRIORITIES:
        raise ApiError(
            422, "invalid", f"priority must be one of {', '.join(PRIORITIES)}", "priority"
        )
    return str(value)


def whole(value: Any) -> int | None:
    """A JSON whole number (``3`` or ``3.0``, as JSON Schema's integer allows), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**62:
        return int(value)
    return None


def named_id(request: web.Request, name: str) -> int:
    """The path's ``name`` (``route_id``) as an id; a 404 naming the thing (``route``)."""
    return path_id(request, name, name.removesuffix("_id").replace("_", " "))

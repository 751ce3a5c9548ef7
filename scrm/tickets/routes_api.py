"""`/api/v1/routes`: which tickets go to which group channels and people (first match wins)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from scrm.api.errors import ApiError
from scrm.appkeys import SERVICES
from scrm.tickets import params as api
from scrm.tickets.models import GroupChannel, TicketRoute
from scrm.tickets.params import NAME_MAX, named_id, whole
from scrm.tickets.routing import MATCH_KEYS, STRATEGIES, RouteError, parse_days_off, parse_hours
from scrm.tickets.states import PRIORITIES


def _strings(value: Any, field: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and 0 < len(v) <= 64 for v in value
    ):
        raise ApiError(422, "invalid", f"{field} must be a list of strings", field)
    if allowed is not None:
        for v in value:
            if v not in allowed:
                raise ApiError(
                    422, "invalid", f"{field} values must be among {', '.join(allowed)}", field
                )
    return list(value)


async def _definition(data: dict[str, Any]) -> dict[str, Any]:
    match = data.get("match", {})
    if not isinstance(match, dict):
        raise ApiError(422, "invalid", "match must be an object", "match")
    for key in match:
        if key not in MATCH_KEYS:
            raise ApiError(422, "invalid", f"match.{key} is not a criterion", f"match.{key}")
    clean: dict[str, Any] = {}
    for key in ("category", "tags", "channel"):
        if key in match:
            clean[key] = _strings(match[key], f"match.{key}")
    if "priority" in match:
        clean["priority"] = _strings(match["priority"], "match.priority", PRIORITIES)
    if "hours" in match:
        try:
            parse_hours(match["hours"])
            holidays, workdays = parse_days_off(match["hours"], "match.hours")
        except RouteError as exc:
            raise ApiError(422, "invalid", str(exc), exc.field) from None
        clean["hours"] = dict(match["hours"])
        for name, dates in (("holidays", holidays), ("workdays", workdays)):
            if name in match["hours"]:
                clean["hours"][name] = dates
    definition: dict[str, Any] = {"match": clean}
    for key in ("channels", "escalation_channels"):
        raw = data.get(key, [])
        ids = [whole(i) for i in raw] if isinstance(raw, list) else [None]
        if not all(i is not None and 0 < i < 2**62 for i in ids):
            raise ApiError(422, "invalid", f"{key} must be a list of group channel ids", key)
        found = await GroupChannel.filter(id__in=ids).count() if ids else 0
        if found != len(set(ids)):
            raise ApiError(422, "invalid", f"{key} names a group channel that does not exist", key)
        definition[key] = list(dict.fromkeys(ids))
    definition["assignees"] = _strings(data.get("assignees", []), "assignees")
    strategy = data.get("strategy", "round_robin")
    if strategy not in STRATEGIES:
        raise ApiError(
            422, "invalid", f"strategy must be one of {', '.join(STRATEGIES)}", "strategy"
        )
    definition["strategy"] = strategy
    show = data.get("show_text", False)
    if not isinstance(show, bool):
        raise ApiError(422, "invalid", "show_text must be true or false", "show_text")
    definition["show_text"] = show
    return definition


def route_json(row: TicketRoute) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "order": row.order,
        "default": row.is_default,
    } | json.loads(row.definition)


def _order(data: dict[str, Any], default: int) -> int:
    order = whole(data.get("order", default))
    if order is None or not 0 <= order <= 1_000_000:
        raise ApiError(422, "invalid", "order must be a whole number 0..1000000", "order")
    return order


def _default(data: dict[str, Any]) -> bool:
    value = data.get("default", False)
    if not isinstance(value, bool):
        raise ApiError(422, "invalid", "default must be true or false", "default")
    return value


async def _default_is_free(is_default: bool, route_id: int | None = None) -> None:
    others = TicketRoute.filter(is_default=True)
    if route_id is not None:
        others = others.exclude(id=route_id)
    if is_default and await others.exists():
        raise ApiError(409, "conflict", "there is already a default route", "default")


async def create_route(request: web.Request) -> web.Response:
    data = await api.body(request)
    name = api.text(data, "name", limit=NAME_MAX, required=True)
    order, is_default = _order(data, 100), _default(data)
    definition = await _definition(data)
    if await TicketRoute.exists(name=name):
        raise ApiError(409, "conflict", f"a route named {name!r} already exists", "name")
    await _default_is_free(is_default)
    now = request.app[SERVICES].clock()
    try:
        row = await TicketRoute.create(
            name=name,
            order=order,
            definition=json.dumps(definition, ensure_ascii=False),
            is_default=is_default,
            created_at=now,
            updated_at=now,
        )
    except IntegrityError:
        raise ApiError(409, "conflict", f"a route named {name!r} already exists", "name") from None
    return web.json_response(route_json(row), status=201)


async def list_routes(request: web.Request) -> web.Response:
    rows = await TicketRoute.all().order_by("order", "id")
    return web.json_response({"routes": [route_json(row) for row in rows]})


async def _route(request: web.Request) -> TicketRoute:
    row = await TicketRoute.get_or_none(id=named_id(request, "route_id"))
    if row is None:
        raise ApiError(404, "not_found", "no such route")
    return row


async def get_route(request: web.Request) -> web.Response:
    return web.json_response(route_json(await _route(request)))


async def patch_route(request: web.Request) -> web.Response:
    row = await _route(request)
    data = await api.body(request)
    merged = {**route_json(row), **data}
    for key in ("id",):
        merged.pop(key, None)
    name = api.text(merged, "name", limit=NAME_MAX, required=True)
    order, is_default = _order(merged, row.order), _default(merged)
    definition = await _definition(merged)
    if await TicketRoute.filter(name=name).exclude(id=row.id).exists():
        raise ApiError(409, "conflict", f"a route named {name!r} already exists", "name")
    await _default_is_free(is_default, row.id)
    row.name, row.order, row.is_default = name or row.name, order, is_default
    row.definition = json.dumps(definition, ensure_ascii=False)
    row.updated_at = request.app[SERVICES].clock()
    await row.save()
    return web.json_response(route_json(row))


async def delete_route(request: web.Request) -> web.Response:
    row = await _route(request)
    await row.delete()  # tickets keep its id: their history stays readable
    return web.Response(status=204)


def register(app: web.Application) -> None:
    app.router.add_post("/api/v1/routes", create_route)
    app.router.add_get("/api/v1/routes", list_routes)
    app.router.add_get("/api/v1/routes/{route_id}", get_route)
    app.router.add_patch("/api/v1/routes/{route_id}", patch_route)
    app.router.add_delete("/api/v1/routes/{route_id}", delete_route)

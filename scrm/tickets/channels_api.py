"""`/api/v1/group-channels`, `/routes`, `/sla-policies`: where tickets go, and how fast."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from scrm.api.errors import ApiError
from scrm.api.params import path_id
from scrm.appkeys import SERVICES
from scrm.tickets import params as api
from scrm.tickets.calendar import CalendarError, parse_calendar
from scrm.tickets.keys import mask, seal_webhook_key
from scrm.tickets.models import GroupChannel, SlaPolicy, TicketRoute
from scrm.tickets.params import whole
from scrm.tickets.routing import MATCH_KEYS, STRATEGIES, RouteError, parse_hours
from scrm.tickets.states import PRIORITIES

KINDS = ("robot", "appchat", "user", "email")
FIELDS = {"robot": "webhook_key", "appchat": "chatid", "user": "userid", "email": "to"}
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME_MAX = 100


def _id(request: web.Request, name: str) -> int:
    return path_id(request, name, name.removesuffix("_id").replace("_", " "))


# -- group channels ---------------------------------------------------------------------------


def channel_json(row: GroupChannel) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": row.id, "name": row.name, "kind": row.kind}
    if row.kind == "robot":
        answer["webhook_key"] = row.secret_hint
    elif row.kind == "appchat":
        answer["chatid"] = row.target
    elif row.kind == "user":
        answer["userid"] = row.target
    else:
        answer["to"] = json.loads(row.target or "[]")
    return answer | {
        "status": row.status,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _target(request: web.Request, kind: str, data: dict[str, Any], row: GroupChannel) -> None:
    """Set the channel's destination from ``data`` (all of it on create, what is given on PATCH)."""
    creating = row.id is None
    if kind == "robot" and ("webhook_key" in data or creating):
        key = data.get("webhook_key")
        if not isinstance(key, str) or not UUID.match(key):
            raise ApiError(
                422, "invalid", "webhook_key must be the robot's key (a UUID)", "webhook_key"
            )
        archive = request.app[SERVICES].archive
        if archive is None:
            raise ApiError(503, "unavailable", "the key ring is not loaded; cannot store a key")
        row.secret, row.secret_hint = seal_webhook_key(archive, key), mask(key)
        row.status, row.last_error = "active", None  # type: ignore[assignment]  # repaired
    field = {"appchat": "chatid", "user": "userid"}.get(kind)
    if field and (field in data or creating):
        value = api.text(data, field, limit=64, required=True)
        row.target = value or ""
    if kind == "email" and ("to" in data or creating):
        to = data.get("to")
        if (
            not isinstance(to, list)
            or not 0 < len(to) <= 20
            or not all(isinstance(a, str) and len(a) <= 254 and EMAIL.match(a) for a in to)
        ):
            raise ApiError(422, "invalid", "to must be a list of 1..20 email addresses", "to")
        row.target = json.dumps(to)


async def create_channel(request: web.Request) -> web.Response:
    data = await api.body(request)
    name = api.text(data, "name", limit=NAME_MAX, required=True)
    kind = data.get("kind")
    if kind not in KINDS:
        raise ApiError(422, "invalid", f"kind must be one of {', '.join(KINDS)}", "kind")
    extra = sorted(set(data) - {"name", "kind", FIELDS[str(kind)]})
    if extra:
        raise ApiError(422, "invalid", f"{extra[0]} is not a field of a {kind} channel", extra[0])
    now = request.app[SERVICES].clock()
    row = GroupChannel(name=name, kind=kind, created_at=now, updated_at=now)
    _target(request, str(kind), data, row)
    if await GroupChannel.exists(name=name):
        raise ApiError(409, "conflict", f"a channel named {name!r} already exists", "name")
    try:
        await row.save()
    except IntegrityError:
        raise ApiError(
            409, "conflict", f"a channel named {name!r} already exists", "name"
        ) from None
    return web.json_response(channel_json(row), status=201)


async def list_channels(request: web.Request) -> web.Response:
    rows = await GroupChannel.all().order_by("id")
    return web.json_response({"channels": [channel_json(row) for row in rows]})


async def _channel(request: web.Request) -> GroupChannel:
    row = await GroupChannel.get_or_none(id=_id(request, "channel_id"))
    if row is None:
        raise ApiError(404, "not_found", "no such group channel")
    return row


async def get_channel(request: web.Request) -> web.Response:
    return web.json_response(channel_json(await _channel(request)))


async def patch_channel(request: web.Request) -> web.Response:
    row = await _channel(request)
    data = await api.body(request)
    allowed = {"name", "kind", "status", FIELDS[row.kind]}
    unknown = sorted(set(data) - allowed)
    if unknown or ("kind" in data and data["kind"] != row.kind):
        raise ApiError(
            422,
            "invalid",
            f"{(unknown or ['kind'])[0]} cannot be changed",
            (unknown or ["kind"])[0],
        )
    if "name" in data:
        name = api.text(data, "name", limit=NAME_MAX, required=True)
        if await GroupChannel.filter(name=name).exclude(id=row.id).exists():
            raise ApiError(409, "conflict", f"a channel named {name!r} already exists", "name")
        row.name = name or row.name
    _target(request, row.kind, data, row)
    if "status" in data:
        if data["status"] not in ("active", "parked"):
            raise ApiError(422, "invalid", "status must be active or parked", "status")
        row.status = data["status"]
        if row.status == "active":
            row.last_error = None  # type: ignore[assignment]
    row.updated_at = request.app[SERVICES].clock()
    await row.save()
    return web.json_response(channel_json(row))


async def delete_channel(request: web.Request) -> web.Response:
    row = await _channel(request)
    for route in await TicketRoute.all():
        data = json.loads(route.definition)
        if row.id in (data.get("channels") or []) + (data.get("escalation_channels") or []):
            raise ApiError(409, "conflict", f"route {route.name!r} sends to this channel")
    await row.delete()
    return web.Response(status=204)


# -- routes -----------------------------------------------------------------------------------


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
        except RouteError as exc:
            raise ApiError(422, "invalid", str(exc), exc.field) from None
        clean["hours"] = match["hours"]
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
    row = await TicketRoute.get_or_none(id=_id(request, "route_id"))
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


# -- SLA policies -----------------------------------------------------------------------------


def policy_json(row: SlaPolicy) -> dict[str, Any]:
    return {
        "id": row.id,
        "priority": row.priority,
        "category": row.category or None,
        "first_response_seconds": row.first_response_seconds,
        "resolution_seconds": row.resolution_seconds,
        "business_hours": json.loads(row.business_hours) if row.business_hours else None,
    }


def _seconds(data: dict[str, Any], name: str) -> int:
    value = whole(data.get(name))
    if value is None or not 0 < value <= 365 * 86400:
        raise ApiError(422, "invalid", f"{name} must be whole seconds, 1..31536000", name)
    return value


async def create_policy(request: web.Request) -> web.Response:
    data = await api.body(request)
    prio = api.priority(data, required=True) or ""
    category = api.text(data, "category", limit=64) or ""
    calendar = None
    if data.get("business_hours") is not None:
        try:
            calendar = parse_calendar(data["business_hours"])
        except CalendarError as exc:
            raise ApiError(422, "invalid", str(exc), exc.field) from None
    first, resolution = (
        _seconds(data, "first_response_seconds"),
        _seconds(data, "resolution_seconds"),
    )
    if await SlaPolicy.exists(priority=prio, category=category):
        raise ApiError(
            409, "conflict", "a policy for this priority and category exists", "priority"
        )
    try:
        row = await SlaPolicy.create(
            priority=prio,
            category=category,
            first_response_seconds=first,
            resolution_seconds=resolution,
            business_hours=json.dumps(calendar) if calendar else None,
            created_at=request.app[SERVICES].clock(),
        )
    except IntegrityError:
        raise ApiError(
            409, "conflict", "a policy for this priority and category exists", "priority"
        ) from None
    return web.json_response(policy_json(row), status=201)


async def list_policies(request: web.Request) -> web.Response:
    rows = await SlaPolicy.all().order_by("priority", "category")
    return web.json_response({"policies": [policy_json(row) for row in rows]})


def register(app: web.Application) -> None:
    app.router.add_post("/api/v1/group-channels", create_channel)
    app.router.add_get("/api/v1/group-channels", list_channels)
    app.router.add_get("/api/v1/group-channels/{channel_id}", get_channel)
    app.router.add_patch("/api/v1/group-channels/{channel_id}", patch_channel)
    app.router.add_delete("/api/v1/group-channels/{channel_id}", delete_channel)
    app.router.add_post("/api/v1/routes", create_route)
    app.router.add_get("/api/v1/routes", list_routes)
    app.router.add_get("/api/v1/routes/{route_id}", get_route)
    app.router.add_patch("/api/v1/routes/{route_id}", patch_route)
    app.router.add_delete("/api/v1/routes/{route_id}", delete_route)
    app.router.add_post("/api/v1/sla-policies", create_policy)
    app.router.add_get("/api/v1/sla-policies", list_policies)

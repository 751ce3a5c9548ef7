"""`/api/v1/group-channels`: where ticket notices go (robot, app group chat, person, email).

A robot's webhook key is a credential: sealed at rest (`keys.seal_webhook_key`), shown masked.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from scrm.api.errors import ApiError
from scrm.appkeys import SERVICES
from scrm.tickets import params as api
from scrm.tickets.keys import mask, seal_webhook_key
from scrm.tickets.models import GroupChannel, TicketRoute
from scrm.tickets.params import NAME_MAX, named_id

KINDS = ("robot", "appchat", "user", "email")
FIELDS = {"robot": "webhook_key", "appchat": "chatid", "user": "userid", "email": "to"}
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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
        row.last_error = None  # type: ignore[assignment]  # the error was the old destination's
    if kind == "email" and ("to" in data or creating):
        to = data.get("to")
        if (
            not isinstance(to, list)
            or not 0 < len(to) <= 20
            or not all(isinstance(a, str) and len(a) <= 254 and EMAIL.match(a) for a in to)
        ):
            raise ApiError(422, "invalid", "to must be a list of 1..20 email addresses", "to")
        row.target = json.dumps(to)
        row.last_error = None  # type: ignore[assignment]


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
    row = await GroupChannel.get_or_none(id=named_id(request, "channel_id"))
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


def register(app: web.Application) -> None:
    app.router.add_post("/api/v1/group-channels", create_channel)
    app.router.add_get("/api/v1/group-channels", list_channels)
    app.router.add_get("/api/v1/group-channels/{channel_id}", get_channel)
    app.router.add_patch("/api/v1/group-channels/{channel_id}", patch_channel)
    app.router.add_delete("/api/v1/group-channels/{channel_id}", delete_channel)

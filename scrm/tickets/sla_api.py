"""`/api/v1/sla-policies`: response and resolution targets per priority (and category)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from scrm.api.errors import ApiError
from scrm.appkeys import SERVICES
from scrm.tickets import params as api
from scrm.tickets.calendar import CalendarError, parse_calendar
from scrm.tickets.models import SlaPolicy
from scrm.tickets.params import whole


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
    app.router.add_post("/api/v1/sla-policies", create_policy)
    app.router.add_get("/api/v1/sla-policies", list_policies)

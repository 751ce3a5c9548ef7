"""`/api/v1/tickets`: create, list, read (with timeline), transitions, comments, changes.

Each change answers once it is committed; the notices it queued are sent by a worker
(`doorbell`), so a slow or failing WeCom or SMTP server neither slows nor fails the API.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from tortoise.expressions import Q

from scrm.api.errors import ApiError
from scrm.api.params import choice_param, int_param, path_id, text_param
from scrm.appkeys import SERVICES
from scrm.services import Services
from scrm.tickets import doorbell, group_channels_api, routes_api, service, sla_api, stats
from scrm.tickets.models import Ticket, TicketEvent, TicketRoute
from scrm.tickets.notices import link
from scrm.tickets.params import ID_MAX, TEXT_MAX, TITLE_MAX, body, priority, text, whole
from scrm.tickets.states import PRIORITIES, STATUSES, TransitionNotAllowed


def links(request: web.Request) -> str:
    """Where ticket links point: the staff pages under `SCRM_PUBLIC_URL`, as in notices."""
    return request.app[SERVICES].settings.public_url


def ticket_json(ticket: Ticket, base: str) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "title": ticket.title,
        "description": ticket.description,
        "category": ticket.category,
        "priority": ticket.priority,
        "customer": ticket.customer,
        "source": ticket.source,
        "keywords": json.loads(ticket.keywords),
        "assignee": ticket.assignee,
        "route": ticket.route_id,
        "status": ticket.status,
        "created_by": ticket.created_by,
        "first_response_at": ticket.first_response_at,
        "first_response_by": ticket.first_response_by,
        "first_response_due": ticket.first_response_due,
        "resolution_due": ticket.resolution_due,
        "paused": ticket.paused_at is not None,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "breaches": ticket.breaches,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "link": link(ticket, base),
    }


def event_json(entry: TicketEvent) -> dict[str, Any]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "by": entry.by,
        "data": json.loads(entry.data),
        "at": entry.at,
    }


async def _ticket(request: web.Request) -> Ticket:
    ticket_id = path_id(request, "ticket_id", "ticket")
    row = await Ticket.get_or_none(id=ticket_id)
    if row is None:
        raise ApiError(404, "not_found", f"ticket {ticket_id} does not exist")
    return row


async def _ring(services: Services, ticket: Ticket) -> None:
    """After the commit: a worker sends the notices the change queued (never this request)."""
    await doorbell.ring(services.inbox, ticket.id, services.clock())


async def create(request: web.Request) -> web.Response:
    data = await body(request)
    services = request.app[SERVICES]
    source = data.get("source", "api")
    if source not in service.SOURCES:
        raise ApiError(
            422, "invalid", f"source must be one of {', '.join(service.SOURCES)}", "source"
        )
    raw_route = data.get("route")
    route_id = whole(raw_route)
    if raw_route is not None and (
        route_id is None or not 0 < route_id < 2**62 or not await TicketRoute.exists(id=route_id)
    ):
        raise ApiError(422, "invalid", "route must be the id of an existing route", "route")
    new = service.NewTicket(
        title=text(data, "title", limit=TITLE_MAX, required=True) or "",
        category=text(data, "category", limit=ID_MAX, required=True) or "",
        priority=priority(data, required=True) or "",
        source=str(source),
        description=text(data, "description", limit=TEXT_MAX) or "",
        customer=text(data, "customer", limit=ID_MAX),
        assignee=text(data, "assignee", limit=ID_MAX),
        route_id=route_id,
        created_by=text(data, "by", limit=ID_MAX),
    )
    ticket = await service.create_ticket(services.db, new, services.clock(), links(request))
    services.metrics.tickets_created.labels(source=new.source).inc()
    await _ring(services, ticket)
    return web.json_response(ticket_json(ticket, links(request)), status=201)


async def list_tickets(request: web.Request) -> web.Response:
    limit = int_param(request, "limit", default=50, low=1, high=200)
    cursor = int_param(request, "cursor", default=None, low=1, high=2**62)
    route = int_param(request, "route", default=None, low=1, high=2**62)
    query = Ticket.all().order_by("-id")
    status = choice_param(request, "status", STATUSES)
    prio = choice_param(request, "priority", PRIORITIES)
    filters = {
        "status": status,
        "priority": prio,
        "category": text_param(request, "category", limit=64),
        "assignee": text_param(request, "assignee", limit=64),
        "customer": text_param(request, "customer", limit=64),
        "route_id": route,
    }
    query = query.filter(**{k: v for k, v in filters.items() if v is not None})
    q = text_param(request, "q", limit=TITLE_MAX)
    if q:
        query = query.filter(Q(title__icontains=q) | Q(number__icontains=q))
    if cursor is not None:
        query = query.filter(id__lt=cursor)
    rows = await query.limit(limit + 1)
    page, base = rows[:limit], links(request)
    return web.json_response(
        {
            "tickets": [ticket_json(row, base) for row in page],
            "next_cursor": str(page[-1].id) if len(rows) > limit and page else None,
        }
    )


async def get_one(request: web.Request) -> web.Response:
    ticket = await _ticket(request)
    timeline = await TicketEvent.filter(ticket_id=ticket.id).order_by("id")
    answer = ticket_json(ticket, links(request))
    answer["timeline"] = [event_json(entry) for entry in timeline]
    return web.json_response(answer)


async def transition(request: web.Request) -> web.Response:
    ticket = await _ticket(request)
    data = await body(request)
    to = data.get("to")
    if to not in STATUSES:
        raise ApiError(422, "invalid", f"to must be one of {', '.join(STATUSES)}", "to")
    by = text(data, "by", limit=ID_MAX)
    note = text(data, "note", limit=TEXT_MAX)
    services = request.app[SERVICES]
    try:
        await service.transition(ticket, str(to), by, note, services.clock(), links(request))
    except TransitionNotAllowed as exc:
        raise ApiError(409, "transition_not_allowed", str(exc), "to") from None
    await _ring(services, ticket)
    return web.json_response(ticket_json(ticket, links(request)))


async def add_comment(request: web.Request) -> web.Response:
    ticket = await _ticket(request)
    data = await body(request)
    by = text(data, "by", limit=ID_MAX, required=True) or ""
    words = text(data, "text", limit=TEXT_MAX, required=True) or ""
    services = request.app[SERVICES]
    entry = await service.comment(ticket, by, words, services.clock(), links(request))
    await _ring(services, ticket)
    return web.json_response(event_json(entry), status=201)


async def change(request: web.Request) -> web.Response:
    ticket = await _ticket(request)
    data = await body(request)
    unknown = set(data) - {"priority", "category", "assignee", "by"}
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(422, "invalid", f"{name} cannot be changed here", name)
    changes: dict[str, Any] = {}
    if "priority" in data:
        changes["priority"] = priority(data, required=True)
    if "category" in data:
        changes["category"] = text(data, "category", limit=ID_MAX, required=True)
    if "assignee" in data:
        changes["assignee"] = text(data, "assignee", limit=ID_MAX)
    services = request.app[SERVICES]
    by = text(data, "by", limit=ID_MAX)
    await service.patch(ticket, changes, by, services.clock(), links(request))
    await _ring(services, ticket)
    return web.json_response(ticket_json(ticket, links(request)))


def register(app: web.Application) -> None:
    app.router.add_post("/api/v1/tickets", create)
    app.router.add_get("/api/v1/tickets", list_tickets)
    app.router.add_get("/api/v1/tickets/stats", stats.view)
    app.router.add_get("/api/v1/tickets/{ticket_id}", get_one)
    app.router.add_patch("/api/v1/tickets/{ticket_id}", change)
    app.router.add_post("/api/v1/tickets/{ticket_id}/transitions", transition)
    app.router.add_post("/api/v1/tickets/{ticket_id}/comments", add_comment)
    group_channels_api.register(app)
    routes_api.register(app)
    sla_api.register(app)

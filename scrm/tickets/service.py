"""Creating and changing tickets: numbers, routing, SLA due times, timeline, notices.

Every change is one transaction: the ticket row, its timeline entry and the notices it
causes commit together or not at all. Notices are sent after the commit (`notify.flush`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from scrm.db import Database
from scrm.models import Customer, CustomerTag, FollowRelation
from scrm.tickets import notices
from scrm.tickets.calendar import add_business_seconds, business_seconds
from scrm.tickets.models import SlaPolicy, Ticket, TicketEvent, TicketRoute
from scrm.tickets.routing import CHINA, Route, TicketFacts, choose_route, pick_assignee
from scrm.tickets.states import OPEN_STATUSES, check_transition

WARN_AT = 0.8  # the SLA warning comes at 80 % of the target
SOURCES = ("keyword_rule", "alert", "api", "form", "sidebar")


@dataclass
class NewTicket:
    title: str
    category: str
    priority: str
    source: str
    description: str = ""
    customer: str | None = None
    assignee: str | None = None
    route_id: int | None = None
    created_by: str | None = None
    keywords: Sequence[str] = ()
    tags: Sequence[str] = ()
    channel: str | None = None
    source_key: str | None = None  # the event it came from: one ticket per event
    notify_channels: Sequence[int] = ()  # besides the route's (an alert's named channel)
    extra: Mapping[str, Any] = field(default_factory=dict)  # more for the timeline


def ticket_day(at: float) -> str:
    """The day a number belongs to: Beijing time, as the service team reads its numbers."""
    return datetime.fromtimestamp(at, CHINA).strftime("%Y%m%d")


async def next_number(db: Database, conn: BaseDBAsyncClient, at: float) -> str:
    """Bump the day's counter in the caller's transaction: a rollback gives the number back."""
    day = ticket_day(at)
    rows = await conn.execute_query_dict(
        db.sql(
            "INSERT INTO ticket_counters (day, last_number) VALUES (?, 1) ON CONFLICT (day) "
            "DO UPDATE SET last_number = ticket_counters.last_number + 1 RETURNING last_number",
        ),
        [day],
    )
    return f"T-{day}-{int(rows[0]['last_number']):04d}"


def route_of(row: TicketRoute) -> Route:
    data = json.loads(row.definition)
    return Route(
        id=row.id,
        name=row.name,
        order=row.order,
        match=data.get("match") or {},
        channels=tuple(data.get("channels") or ()),
        escalation_channels=tuple(data.get("escalation_channels") or ()),
        assignees=tuple(data.get("assignees") or ()),
        strategy=data.get("strategy") or "round_robin",
        show_text=bool(data.get("show_text", False)),
        is_default=row.is_default,
    )


async def load_routes() -> list[Route]:
    return [route_of(row) for row in await TicketRoute.all()]


async def route_by_id(route_id: int | None) -> Route | None:
    if route_id is None:
        return None
    row = await TicketRoute.get_or_none(id=route_id)
    return route_of(row) if row else None


async def customer_facts(external_userid: str) -> tuple[list[str], str | None]:
    """A customer's tag names and source channel (the ``state`` of its first relation)."""
    relations = await FollowRelation.filter(customer__external_userid=external_userid).order_by(
        "id"
    )
    if not relations:
        return [], None
    names = await CustomerTag.filter(relation_id__in=[r.id for r in relations]).values_list(
        "tag_name", flat=True
    )
    channel = next((r.state for r in relations if r.state), None)
    return sorted({str(name) for name in names if name}), channel


async def customer_name(external_userid: str) -> str:
    """The customer's WeChat name as stored, or "" when unknown."""
    names = await Customer.filter(external_userid=external_userid).values_list("name", flat=True)
    return str(names[0]) if names else ""


async def sla_policy(priority: str, category: str) -> SlaPolicy | None:
    """The policy for this priority and category, else the priority's general one."""
    found = await SlaPolicy.filter(priority=priority, category__in=[category, ""])
    return next((p for p in found if p.category == category), None) or next(iter(found), None)


async def _assignee(db: Database, conn: BaseDBAsyncClient, route: Route) -> str | None:
    if not route.assignees:
        return None
    counts: dict[str, int] = {}
    position = 0
    if route.strategy == "least_open":
        rows = await conn.execute_query_dict(
            db.sql(
                "SELECT assignee, COUNT(*) AS n FROM tickets WHERE status IN "
                f"({','.join('?' * len(OPEN_STATUSES))}) AND assignee IS NOT NULL "
                "GROUP BY assignee",
            ),
            list(OPEN_STATUSES),
        )
        counts = {row["assignee"]: int(row["n"]) for row in rows}
    else:
        rows = await conn.execute_query_dict(
            db.sql("UPDATE ticket_routes SET rr_next = rr_next + 1 WHERE id = ? RETURNING rr_next"),
            [route.id],
        )
        position = int(rows[0]["rr_next"]) - 1 if rows else 0
    return pick_assignee(route, position, counts)


async def append(
    conn: BaseDBAsyncClient,
    ticket: Ticket,
    kind: str,
    at: float,
    *,
    by: str | None = None,
    data: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> TicketEvent:
    return await TicketEvent.create(
        ticket_id=ticket.id,
        kind=kind,
        by=by,
        data=json.dumps(dict(data or {}), ensure_ascii=False),
        key=key,
        at=at,
        using_db=conn,
    )


async def create_ticket(db: Database, new: NewTicket, now: float, link_base: str) -> Ticket:
    """Number, route, assign and time a new ticket, with its timeline and notices, at once."""
    route = await route_by_id(new.route_id)
    if route is None:
        tags, channel = new.tags, new.channel
        if new.customer is not None and not tags and channel is None:
            tags, channel = await customer_facts(new.customer)
        facts = TicketFacts(new.category, new.priority, tags, channel, now)
        route = choose_route(await load_routes(), facts)
    policy = await sla_policy(new.priority, new.category)
    async with in_transaction() as conn:
        assignee = new.assignee or (await _assignee(db, conn, route) if route else None)
        ticket = Ticket(
            number=await next_number(db, conn, now),
            title=new.title,
            description=new.description,
            category=new.category,
            priority=new.priority,
            customer=new.customer,
            source=new.source,
            source_key=new.source_key,
            keywords=json.dumps(list(new.keywords), ensure_ascii=False),
            assignee=assignee,
            route_id=route.id if route else None,
            status="assigned" if assignee else "open",
            created_by=new.created_by,
            created_at=now,
            updated_at=now,
        )
        if policy is not None:
            start_sla(ticket, policy, now)
        await ticket.save(using_db=conn)
        data = {"route": route.name if route else None, "assignee": assignee, **new.extra}
        await append(conn, ticket, "created", now, by=new.created_by, data=data, key=new.source_key)
        channels = [*(route.channels if route else ()), *new.notify_channels]
        if channels:
            show = route.show_text if route else False
            name = await customer_name(new.customer) if new.customer else ""
            text = notices.created(ticket, new.keywords, link_base, new.extra, show, name)
            origin = new.extra.get("msgtime")
            origin_at = origin / 1000 if isinstance(origin, int) else None
            await notices.enqueue(conn, ticket, "created", text, channels, now, origin_at)
    return ticket


def start_sla(ticket: Ticket, policy: SlaPolicy, now: float) -> None:
    """Due times from the policy's targets, counted in its business hours (if any)."""
    calendar = json.loads(policy.business_hours) if policy.business_hours else None
    ticket.sla_calendar = policy.business_hours
    first = policy.first_response_seconds
    ticket.first_response_due = add_business_seconds(calendar, now, first)
    ticket.fr_warn_at = add_business_seconds(calendar, now, first * WARN_AT)
    ticket.fr_breach_at = ticket.first_response_due
    _start_resolution(ticket, policy, now)


def _start_resolution(ticket: Ticket, policy: SlaPolicy, now: float) -> None:
    calendar = json.loads(policy.business_hours) if policy.business_hours else None
    resolution = policy.resolution_seconds
    ticket.resolution_due = add_business_seconds(calendar, now, resolution)
    ticket.res_warn_at = add_business_seconds(calendar, now, resolution * WARN_AT)
    ticket.res_breach_at = ticket.resolution_due


def restart_resolution(ticket: Ticket, policy: SlaPolicy | None, now: float) -> None:
    """A reopened ticket: a fresh resolution clock counted from ``now``, warned and breached
    anew; the first response stays the one it had. Without a policy no clock runs."""
    ticket.paused_at = None
    if policy is None:
        ticket.resolution_due = ticket.res_warn_at = ticket.res_breach_at = None
        return
    ticket.sla_calendar = policy.business_hours
    _start_resolution(ticket, policy, now)


async def merge_into(
    ticket: Ticket, new: NewTicket, now: float, link_base: str, key: str | None
) -> TicketEvent:
    """Append a repeated request to the open ticket it belongs to (no duplicate ticket)."""
    async with in_transaction() as conn:
        data = {"source": new.source, "keywords": list(new.keywords), **new.extra}
        entry = await append(conn, ticket, "merged", now, data=data, key=key)
        ticket.updated_at = now
        await ticket.save(using_db=conn, update_fields=["updated_at"])
        route = await route_by_id(ticket.route_id)
        if route is not None:
            text = notices.merged(ticket, new.keywords, link_base)
            await notices.enqueue(conn, ticket, "merged", text, route.channels, now)
    return entry


async def open_ticket_for(customer: str, category: str, since: float) -> Ticket | None:
    """The newest open ticket of this customer and category created since ``since``."""
    return (
        await Ticket.filter(
            customer=customer, category=category, status__in=OPEN_STATUSES, created_at__gte=since
        )
        .order_by("-created_at")
        .first()
    )


def _first_response(ticket: Ticket, by: str | None, now: float) -> bool:
    """Record a staff member's first comment or transition; True when this was it."""
    if by is None or ticket.first_response_at is not None:
        return False
    ticket.first_response_at, ticket.first_response_by = now, by
    ticket.fr_warn_at = ticket.fr_breach_at = None
    return True


async def transition(
    ticket: Ticket, to: str, by: str | None, note: str | None, now: float, link_base: str
) -> Ticket:
    """Move a ticket to ``to`` (`TransitionNotAllowed` names the allowed ones)."""
    kind = check_transition(ticket.status, to)
    before = ticket.status
    if before == "waiting_customer" and ticket.paused_at is not None:
        resume_clock(ticket, now)
    if to == "waiting_customer":
        ticket.paused_at = now
    if to == "resolved":
        ticket.resolved_at = now
    if to == "closed":
        ticket.closed_at = now
    if to in ("resolved", "closed"):
        ticket.fr_warn_at = ticket.fr_breach_at = ticket.res_warn_at = ticket.res_breach_at = None
    if kind == "reopened":
        ticket.resolved_at = ticket.closed_at = None
        restart_resolution(ticket, await sla_policy(ticket.priority, ticket.category), now)
    first = _first_response(ticket, by, now)
    ticket.status = to
    ticket.updated_at = now
    async with in_transaction() as conn:
        await ticket.save(using_db=conn)
        data: dict[str, Any] = {"from": before, "to": to}
        if note:
            data["note"] = note
        if kind == "reopened":
            data["resolution_due"] = ticket.resolution_due
        await append(conn, ticket, kind, now, by=by, data=data)
        if first:
            await append(conn, ticket, "first_response", now, by=by)
        await _notify(conn, ticket, "status", notices.status(ticket, before, by, link_base), now)
    return ticket


def resume_clock(ticket: Ticket, now: float) -> None:
    """Leaving waiting_customer: the resolution clock goes on with the time it had left."""
    assert ticket.paused_at is not None
    calendar = json.loads(ticket.sla_calendar) if ticket.sla_calendar else None
    for name in ("resolution_due", "res_warn_at", "res_breach_at"):
        value = getattr(ticket, name)
        if value is not None:
            left = business_seconds(calendar, ticket.paused_at, value)
            setattr(ticket, name, add_business_seconds(calendar, now, left))
    ticket.paused_at = None


async def comment(ticket: Ticket, by: str, text: str, now: float, link_base: str) -> TicketEvent:
    first = _first_response(ticket, by, now)
    ticket.updated_at = now
    async with in_transaction() as conn:
        await ticket.save(using_db=conn)
        entry = await append(conn, ticket, "comment", now, by=by, data={"text": text})
        if first:
            await append(conn, ticket, "first_response", now, by=by)
        await _notify(conn, ticket, "comment", notices.comment(ticket, by, link_base), now)
    return entry


async def patch(
    ticket: Ticket, changes: Mapping[str, Any], by: str | None, now: float, link_base: str
) -> Ticket:
    """Change priority, category or assignee; each change is on the timeline."""
    changed = {
        name: {"from": getattr(ticket, name), "to": value}
        for name, value in changes.items()
        if getattr(ticket, name) != value
    }
    if not changed:
        return ticket
    for name, change in changed.items():
        setattr(ticket, name, change["to"])
    if "assignee" in changed and ticket.status == "open" and ticket.assignee:
        ticket.status = "assigned"
    ticket.updated_at = now
    async with in_transaction() as conn:
        await ticket.save(using_db=conn)
        await append(conn, ticket, "updated", now, by=by, data=changed)
        if "assignee" in changed:
            text = notices.assigned(ticket, by, link_base)
            await _notify(conn, ticket, "assigned", text, now)
    return ticket


async def _notify(
    conn: BaseDBAsyncClient, ticket: Ticket, kind: str, text: str, now: float
) -> None:
    route = await route_by_id(ticket.route_id)
    if route is not None:
        await notices.enqueue(conn, ticket, kind, text, route.channels, now)

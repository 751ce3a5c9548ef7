"""The SLA sweep: a warning at 80 % of a target, escalation at its breach, each exactly once.

Due times live in the ticket rows. Each stage's trigger column is cleared by the same UPDATE
that selects it (``… SET fr_warn_at = NULL WHERE fr_warn_at <= now RETURNING id``), in the
transaction that writes the timeline entry and queues the notices: a warning or breach fires
once, survives restarts, and two processes sweeping at once split the work instead of
repeating it (the scheduler's leader lock makes that rare anyway). A ticket waiting for the
customer is skipped by the resolution stages: its clock is paused (`service.resume_clock`).
A reopened ticket starts a new resolution cycle (`service.restart_resolution`): its warning
and breach fire once more, their timeline keys naming the cycle (the number of reopens).
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from scrm.services import Services
from scrm.tickets import managers, notices, notify
from scrm.tickets.models import Ticket, TicketEvent
from scrm.tickets.service import append, route_by_id
from scrm.tickets.states import raised

BATCH = 1000  # tickets per statement; a sweep repeats until nothing is due
# (trigger column, which clock, breach?, skipped while paused?)
STAGES = (
    ("fr_warn_at", "first_response", False, False),
    ("fr_breach_at", "first_response", True, False),
    ("res_warn_at", "resolution", False, True),
    ("res_breach_at", "resolution", True, True),
)


async def sweep(services: Services, *, flush: bool = True) -> int:
    """Fire every warning and breach that is due; the number fired."""
    fired = 0
    for column, clock, breach, pausable in STAGES:
        while True:
            count = await _stage(services, column, clock, breach, pausable)
            fired += count
            if count < BATCH:
                break
    if fired and flush and services.tickets is not None:
        await notify.flush(services)
    return fired


async def _stage(services: Services, column: str, clock: str, breach: bool, pausable: bool) -> int:
    now = services.clock()
    paused = " AND paused_at IS NULL" if pausable else ""
    statement = services.db.sql(
        f"UPDATE tickets SET {column} = NULL WHERE id IN (SELECT id FROM tickets "
        f"WHERE {column} <= ?{paused} ORDER BY {column} LIMIT {BATCH}) "
        f"AND {column} IS NOT NULL RETURNING id",
    )
    base = services.settings.public_url
    kind = "sla_breach" if breach else "sla_warning"
    leaders: dict[str, list[str]] = {}
    if breach:  # look the managers up before the transaction: no WeCom call holds row locks
        leaders = await managers.leaders_of_due(services, column, now, pausable)
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(statement, [now])
        ids = [int(row["id"]) for row in rows]
        cycles = await _cycles(conn, ids) if clock == "resolution" and ids else {}
        for ticket in await Ticket.filter(id__in=ids).using_db(conn):
            data: dict[str, object] = {"clock": clock}
            if breach:
                data["priority"] = {"from": ticket.priority, "to": raised(ticket.priority)}
                ticket.priority = raised(ticket.priority)
                ticket.breaches += 1
                ticket.updated_at = now
                await ticket.save(
                    using_db=conn, update_fields=["priority", "breaches", "updated_at"]
                )
            route = await route_by_id(ticket.route_id)
            channels = list(route.channels) if route else []
            if breach:
                channels += route.escalation_channels if route else ()
                bosses = leaders.get(ticket.assignee or "", [])
                channels += await managers.channels_for(services, conn, bosses, now)
                if bosses:
                    data["managers"] = bosses
            key = f"{kind}:{clock}:{ticket.id}"
            if clock == "resolution":
                key += f":{cycles[ticket.id]}" if ticket.id in cycles else ""
            await append(conn, ticket, kind, now, data=data, key=key)
            if channels:
                text = notices.sla(ticket, breach, clock, base)
                await notices.enqueue(conn, ticket, kind, text, channels, now)
    services.metrics.ticket_sla.labels(event=kind).inc(len(ids))
    return len(ids)


async def _cycles(conn: BaseDBAsyncClient, ids: list[int]) -> dict[int, int]:
    """How often each reopened ticket among ``ids`` was reopened: its resolution cycle."""
    rows = (
        await TicketEvent.filter(ticket_id__in=ids, kind="reopened")
        .using_db(conn)
        .annotate(reopens=Count("id"))
        .group_by("ticket_id")
        .values_list("ticket_id", "reopens")
    )
    return {int(ticket_id): int(reopens) for ticket_id, reopens in rows}

"""`run.py tickets list|show|transition|comment`: the ticket pool from a terminal.

The same service functions and input rules as `/api/v1/tickets`. A change commits here; its
notices are queued with it and rung into the inbox, so the running service's workers send
them (or its notices job, within seconds, when this process could not ring).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.kv import open_kv
from config import Settings
from scrm.api.errors import ApiError
from scrm.api.params import parse_id
from scrm.db import close_database, open_database
from scrm.events.inbox import Inbox
from scrm.events.router import Dispatcher, Router
from scrm.tickets import doorbell, service
from scrm.tickets.api import event_json, ticket_json
from scrm.tickets.models import Ticket, TicketEvent
from scrm.tickets.params import ID_MAX, TEXT_MAX, text
from scrm.tickets.routing import CHINA
from scrm.tickets.states import PRIORITIES, STATUSES, TransitionNotAllowed

COMMANDS = ("tickets",)
LIST_MAX = 1000


def add_commands(commands: Any) -> None:
    tickets = commands.add_parser("tickets", help="tickets (工单): list, show, move, comment")
    actions = tickets.add_subparsers(dest="tickets_command", required=True)
    listing = actions.add_parser("list", help="tickets, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--assignee", help="a staff userid")
    listing.add_argument("--priority", choices=PRIORITIES)
    listing.add_argument("--category")
    listing.add_argument("--limit", type=int, default=50, help=f"at most this many (1..{LIST_MAX})")
    show = actions.add_parser("show", help="one ticket with its timeline")
    show.add_argument("ticket", help="its number (T-YYYYMMDD-NNNN) or id")
    show.add_argument("--json", action="store_true", help="as the API answers it")
    move = actions.add_parser("transition", help="move a ticket to another status")
    move.add_argument("ticket", help="its number or id")
    move.add_argument("--to", required=True, choices=STATUSES)
    move.add_argument("--by", required=True, help="the staff userid doing it")
    move.add_argument("--note")
    comment = actions.add_parser("comment", help="add a comment to a ticket's timeline")
    comment.add_argument("ticket", help="its number or id")
    comment.add_argument("--by", required=True, help="the staff userid writing it")
    comment.add_argument("--text", required=True)


async def run_command(
    args: argparse.Namespace, settings: Settings, routers: Sequence[Router] = ()
) -> int:
    """Run one tickets command against the configured database; the exit code.

    `routers` (run.py's) let a change's notices ring the service's workers as the API does.
    """
    db = await open_database(settings.database_url)
    kv = open_kv(settings.redis_url, prefix="scrm")  # rings the service's workers
    inbox = Inbox(db, Dispatcher(routers), kv)
    await inbox.start()
    try:
        if args.tickets_command == "list":
            return await _list(args)
        ticket = await find(args.ticket)
        if args.tickets_command == "show":
            return await _show(ticket, settings, args.json)
        now, base = time.time(), settings.public_url
        if args.tickets_command == "transition":
            by = text({"by": args.by}, "by", limit=ID_MAX, required=True)
            note = text({"note": args.note}, "note", limit=TEXT_MAX)
            try:
                await service.transition(ticket, args.to, by, note, now, base)
            except TransitionNotAllowed as exc:
                raise ApiError(409, "transition_not_allowed", str(exc), "to") from None
        else:
            by = text({"by": args.by}, "by", limit=ID_MAX, required=True) or ""
            words = text({"text": args.text}, "text", limit=TEXT_MAX, required=True) or ""
            await service.comment(ticket, by, words, now, base)
        await doorbell.ring(inbox, ticket.id, now)
        print(summary(ticket))
        return 0
    except ApiError as exc:
        field = f" ({exc.field})" if exc.field else ""
        print(f"error: {exc.message}{field}", file=sys.stderr)
        return 1
    finally:
        await inbox.close()
        await kv.close()
        await close_database()


async def find(reference: str) -> Ticket:
    """A ticket by its number (``T-20261130-0001``) or its id; a 404 `ApiError` otherwise."""
    ticket = None
    if reference.upper().startswith("T-"):
        ticket = await Ticket.get_or_none(number=reference.upper())
    elif (ticket_id := parse_id(reference)) is not None:
        ticket = await Ticket.get_or_none(id=ticket_id)
    if ticket is None:
        raise ApiError(404, "not_found", f"ticket {reference} does not exist")
    return ticket


async def _list(args: argparse.Namespace) -> int:
    if not 0 < args.limit <= LIST_MAX:
        raise ApiError(422, "invalid", f"--limit must be 1..{LIST_MAX}", "limit")
    filters = {
        "status": args.status,
        "assignee": args.assignee,
        "priority": args.priority,
        "category": args.category,
    }
    query = Ticket.filter(**{name: v for name, v in filters.items() if v is not None})
    for ticket in await query.order_by("-id").limit(args.limit):
        print(summary(ticket))
    return 0


def summary(ticket: Ticket) -> str:
    """One line: number, id, status, priority, assignee, category, title (tab-separated)."""
    fields = (
        ticket.number,
        str(ticket.id),
        ticket.status,
        ticket.priority,
        ticket.assignee or "-",
        ticket.category,
        ticket.title,
    )
    return "\t".join(fields)


def beijing(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, CHINA).strftime("%Y-%m-%d %H:%M:%S")


async def _show(ticket: Ticket, settings: Settings, as_json: bool) -> int:
    timeline = await TicketEvent.filter(ticket_id=ticket.id).order_by("id")
    if as_json:
        answer = ticket_json(ticket, settings.public_url)
        answer["timeline"] = [event_json(entry) for entry in timeline]
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return 0
    first = "-"
    if ticket.first_response_at is not None:
        first = f"{beijing(ticket.first_response_at)} by {ticket.first_response_by}"
    paused = " (paused: waiting for the customer)" if ticket.paused_at is not None else ""
    lines = [
        f"{ticket.number}  {ticket.title}",
        f"  id {ticket.id} · {ticket.status} · {ticket.priority} · category {ticket.category}"
        f" · source {ticket.source}",
        f"  assignee {ticket.assignee or '-'} · customer {ticket.customer or '-'}"
        f" · route {ticket.route_id or '-'}",
        f"  created {beijing(ticket.created_at)} (Beijing time)",
        f"  first response {first} · due {beijing(ticket.first_response_due)}",
        f"  resolution due {beijing(ticket.resolution_due)}{paused} · breaches {ticket.breaches}",
        "timeline:",
    ]
    for entry in timeline:
        data = json.loads(entry.data)
        detail = json.dumps(data, ensure_ascii=False) if data else ""
        lines.append(f"  {beijing(entry.at)}  {entry.kind}  {entry.by or '-'}  {detail}".rstrip())
    print("\n".join(lines))
    return 0

"""`GET /api/v1/tickets/stats`: first response and resolution times, from the timelines.

First response is a ticket's ``first_response`` timeline entry (the first staff comment or
transition); resolution is its first transition to ``resolved``; breaches are its
``sla_breach`` entries. Percentiles are nearest-rank over the tickets created in the period.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from scrm.api.params import choice_param, int_param
from scrm.tickets.models import Ticket, TicketEvent

GOLDEN = 30 * 60  # the golden first 30 minutes
GROUPS = {"category": "category", "route": "route_id", "assignee": "assignee"}


def percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    first = [r["first_response"] for r in rows if r["first_response"] is not None]
    resolved = [r["resolution"] for r in rows if r["resolution"] is not None]
    return {
        "tickets": len(rows),
        "first_response": {
            "count": len(first),
            "p50_seconds": percentile(first, 0.5),
            "p90_seconds": percentile(first, 0.9),
            "within_30_minutes": sum(1 for v in first if v <= GOLDEN),
            "share_within_30_minutes": (
                round(sum(1 for v in first if v <= GOLDEN) / len(rows), 4) if rows else None
            ),
        },
        "resolution": {
            "count": len(resolved),
            "p50_seconds": percentile(resolved, 0.5),
            "p90_seconds": percentile(resolved, 0.9),
        },
        "breaches": sum(r["breaches"] for r in rows),
    }


async def ticket_times(start: int, end: int) -> list[dict[str, Any]]:
    tickets = await Ticket.filter(created_at__gte=start, created_at__lt=end).values(
        "id", "created_at", "category", "route_id", "assignee"
    )
    by_id = {
        t["id"]: {**t, "first_response": None, "resolution": None, "breaches": 0} for t in tickets
    }
    if not by_id:
        return []
    ids = list(by_id)
    for chunk in (ids[i : i + 1000] for i in range(0, len(ids), 1000)):
        entries = (
            await TicketEvent.filter(
                ticket_id__in=chunk, kind__in=("first_response", "transition", "sla_breach")
            )
            .order_by("id")
            .values("ticket_id", "kind", "data", "at")
        )
        for entry in entries:
            row = by_id[entry["ticket_id"]]
            elapsed = entry["at"] - row["created_at"]
            if entry["kind"] == "first_response" and row["first_response"] is None:
                row["first_response"] = elapsed
            elif entry["kind"] == "sla_breach":
                row["breaches"] += 1
            elif row["resolution"] is None and json.loads(entry["data"]).get("to") == "resolved":
                row["resolution"] = elapsed
    return list(by_id.values())


async def view(request: web.Request) -> web.Response:
    start = int_param(request, "from", default=0, low=0, high=2**40)
    end = int_param(request, "to", default=2**40, low=0, high=2**40)
    group_by = choice_param(request, "group_by", tuple(GROUPS))
    rows = await ticket_times(start, end)
    answer: dict[str, Any] = {"from": start, "to": end, "total": summarise(rows)}
    if group_by is not None:
        groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[row[GROUPS[group_by]]].append(row)
        answer["group_by"] = group_by
        answer["groups"] = [
            {"key": key, **summarise(members)}
            for key, members in sorted(groups.items(), key=lambda kv: str(kv[0]))
        ]
    return web.json_response(answer)

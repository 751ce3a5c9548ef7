"""Operator views of the inbox: counts, dead letters, replay."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tortoise.functions import Count

from scrm.api.errors import ApiError
from scrm.api.params import MAX_ID, choice_param, int_param, path_id
from scrm.appkeys import INBOX, SERVICES
from scrm.models import Event, HandlerRun

# expired: content shredded after SCRM_INBOX_CONTENT_TTL_DAYS before the run finished (final)
RUN_STATUSES = ("pending", "running", "done", "dead", "expired")


async def stats(request: web.Request) -> web.Response:
    """Events stored, and handler runs by status: one event fans out to one run per handler."""
    counts = dict(
        await HandlerRun.all().group_by("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return web.json_response(
        {
            "events": {"received": await Event.all().count()},
            "runs": {status: counts.get(status, 0) for status in RUN_STATUSES},
        }
    )


async def list_events(request: web.Request) -> web.Response:
    status = choice_param(request, "status", RUN_STATUSES)
    limit = int_param(request, "limit", default=50, low=1, high=200)
    cursor = int_param(request, "cursor", default=None, low=1, high=MAX_ID)
    query = Event.all().order_by("-id")
    if status is not None:
        query = query.filter(runs__status=status).distinct()
    if cursor is not None:
        query = query.filter(id__lt=cursor)
    events = await query.limit(limit + 1).prefetch_related("runs")
    page, more = events[:limit], len(events) > limit
    return web.json_response(
        {
            "events": [_event_json(event) for event in page],
            "next_cursor": str(page[-1].id) if more and page else None,
        }
    )


async def replay(request: web.Request) -> web.Response:
    event_id = path_id(request, "event_id", "event")
    event = await Event.get_or_none(id=event_id)
    if event is None:
        raise ApiError(404, "not_found", f"event {event_id} does not exist")
    services = request.app[SERVICES]
    now = services.clock()
    dead = await HandlerRun.filter(event_id=event_id, status="dead").values_list(
        "handler", flat=True
    )
    if not dead:
        expired = await HandlerRun.filter(event_id=event_id, status="expired").exists()
        reason = " (its content expired and was shredded)" if expired else ""
        raise ApiError(
            409, "conflict", f"event {event_id} has no dead handler runs to replay{reason}"
        )
    await HandlerRun.filter(event_id=event_id, status="dead").update(
        status="pending", attempts=0, next_attempt_at=now, updated_at=now, last_error=None
    )
    request.app[INBOX].wake_workers()  # best effort, like every ring: workers also poll
    return web.json_response({"event_id": event_id, "replayed": sorted(dead)})


def _event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "source": event.source,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
        "runs": [
            {
                "handler": run.handler,
                "status": run.status,
                "attempts": run.attempts,
                "next_attempt_at": run.next_attempt_at,
                "last_error": run.last_error,
            }
            for run in sorted(event.runs, key=lambda r: r.handler)
        ],
    }


def register(app: web.Application) -> None:
    app.router.add_get("/api/v1/events/stats", stats)
    app.router.add_get("/api/v1/events", list_events)
    app.router.add_post("/api/v1/events/{event_id}/replay", replay)

"""`ticket.requested` and `alert.raised` → tickets, once per event whatever the redelivery;
`ticket.notices_queued` → the notices a ticket change queued, sent (see `doorbell`).

Both are emitted by keyword rules (scrm/autotag). The event id names the ticket's cause: a
ticket's `source_key` and a merged entry's timeline `key` are unique, so a redelivered event
finds its work done. A request for a customer and category that already has an open ticket
created within the merge window (default 24 h) is appended to that ticket instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tortoise.exceptions import IntegrityError

from adapters.kv import LockNotAcquired
from scrm.events.errors import PermanentError, Retry
from scrm.events.router import EventRecord, Lane, Router
from scrm.services import Services
from scrm.tickets import notify, service
from scrm.tickets.doorbell import NOTICES_QUEUED
from scrm.tickets.models import GroupChannel, TicketEvent, TicketNotice
from scrm.tickets.states import PRIORITIES

log = logging.getLogger(__name__)
router = Router("tickets")

ALERT_CATEGORY = "alert"  # an alert rule names a channel, not a category
ALERT_PRIORITY = "P0"  # a red alert unless the event says otherwise


def keyword_strings(value: Any) -> list[str]:
    """Keywords as sorted unique strings: from ``["过敏"]`` or ``[{"keyword": "过敏", …}]``."""
    if not isinstance(value, list):
        return []
    words: set[str] = set()
    for item in value:
        word = item.get("keyword") if isinstance(item, dict) else item
        if isinstance(word, str) and word:
            words.add(word[:64])
    return sorted(words)


def _label(payload: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = payload.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise PermanentError(f"{name} must be a short string")
    return value


async def request_from(event: EventRecord, kind: str) -> service.NewTicket:
    payload = event.payload
    alert = kind == "alert.raised"
    category = _label(payload, "category", ALERT_CATEGORY if alert else None)
    priority = payload.get("priority", ALERT_PRIORITY if alert else None)
    if category is None:
        raise PermanentError("the ticket request names no category")
    if priority not in PRIORITIES:
        raise PermanentError(f"priority must be one of {', '.join(PRIORITIES)}")
    keywords = keyword_strings(payload.get("keywords"))
    rule = _label(payload, "rule") or "keyword rule"
    notify_channels: Sequence[int] = ()
    channel_name = _label(payload, "channel") if alert else None
    if channel_name:
        named = await GroupChannel.get_or_none(name=channel_name)
        notify_channels = (named.id,) if named else ()
    msgtime = payload.get("msgtime")
    return service.NewTicket(
        title=f"{rule}：{'、'.join(keywords)}" if keywords else rule,
        category=category,
        priority=str(priority),
        source="alert" if alert else "keyword_rule",
        customer=_label(payload, "external_userid"),
        keywords=keywords,
        source_key=f"event:{event.id}",
        notify_channels=notify_channels,
        extra={
            "rule_id": payload.get("rule_id"),
            "msgid": payload.get("msgid"),
            "msgtime": msgtime if isinstance(msgtime, int) else None,
            "alert_channel": channel_name,
        },
    )


# A lane of its own: a keyword's ticket and its notice are the reason the rule exists (a red
# alert reaches the group within seconds), so they never wait behind the chat backlog that
# emitted them, nor take a welcome's slot.
TICKET_LANE = Lane("tickets", per_slot=True)


@router.on("ticket.requested", "alert.raised", name="open_ticket", lane=TICKET_LANE)
async def open_ticket(event: EventRecord, services: Services) -> None:
    key = f"event:{event.id}"
    if not await TicketEvent.exists(key=key):
        new = await request_from(event, event.name)
        await _open_or_merge(services, new, key)
    if services.tickets is not None:  # a redelivery sends what a crash left queued
        await notify.flush(services, await _channels_of(services, key))


async def _channels_of(services: Services, key: str) -> list[int]:
    """The channels with notices waiting for the ticket this event opened or joined (the
    notices job, every few seconds, sends what waits elsewhere)."""
    mark = services.db.placeholders(1)[0]
    rows = await services.db.fetch(
        "SELECT DISTINCT n.channel_id FROM ticket_notices AS n JOIN ticket_events AS e "
        f"ON e.ticket_id = n.ticket_id WHERE e.key = {mark} AND n.status = 'pending'",
        [key],
    )
    return [int(row["channel_id"]) for row in rows]


async def _open_or_merge(services: Services, new: service.NewTicket, key: str) -> None:
    runtime = services.tickets
    window = runtime.merge_window if runtime else 24 * 3600
    base = services.settings.public_url
    now = services.clock()
    if new.customer is None:
        await _create(services, new, now, base)
        return
    # One customer's requests of one category are decided one at a time, across processes.
    lease = services.settings.worker.lease_seconds
    lock = services.kv.lock(
        f"tickets:merge:{new.customer}:{new.category}", ttl=lease, wait=lease / 2
    )
    try:
        await lock.__aenter__()
    except LockNotAcquired:
        raise Retry("another run is deciding this customer's ticket", defer=lease / 4) from None
    try:
        if await TicketEvent.exists(key=key):
            return
        ticket = await service.open_ticket_for(new.customer, new.category, now - window)
        if ticket is None:
            await _create(services, new, now, base)
            return
        try:
            await service.merge_into(ticket, new, now, base, key)
        except IntegrityError:
            return  # another delivery of this event merged it first
    finally:
        await lock.__aexit__(None, None, None)


async def _create(services: Services, new: service.NewTicket, now: float, base: str) -> None:
    try:
        await service.create_ticket(services.db, new, now, base)
    except IntegrityError:
        return  # another delivery of this event created it first
    services.metrics.tickets_created.labels(source=new.source).inc()


@router.on(NOTICES_QUEUED, name="deliver_notices", lane=TICKET_LANE)
async def deliver_notices(event: EventRecord, services: Services) -> None:
    """Send what a ticket change queued (with whatever else waits on those channels).

    A failed send stays queued with a backoff (`notify`); the notices job retries it, so this
    run succeeds either way and a redelivery finds nothing left to send.
    """
    ticket_id = event.payload.get("ticket")
    if not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
        raise PermanentError("ticket.notices_queued names no ticket")
    if services.tickets is None:
        return  # no senders in this process: the notices job of one that has them sends
    channels = await (
        TicketNotice.filter(ticket_id=ticket_id, status="pending")
        .distinct()
        .values_list("channel_id", flat=True)
    )
    if channels:
        await notify.flush(services, [int(c) for c in channels])  # type: ignore[call-overload]

"""After a ticket change commits, a worker sends its notices: the API never waits on WeCom.

A change queues its notices (`notices.enqueue`) in its own transaction, so they are durable
the moment the API answers. `ring` then stores a `ticket.notices_queued` event in the inbox;
a worker's `handlers.deliver_notices` sends them through the effect ledger (at most once, a
failure kept with a backoff and shown on the timeline). A ring that cannot be stored loses
nothing: the notices job (`jobs.ticket_notices`, every 2 s) sends whatever is still pending.
"""

from __future__ import annotations

import logging

from scrm.events.inbox import Inbox, IncomingEvent
from scrm.tickets.models import TicketNotice

log = logging.getLogger(__name__)

NOTICES_QUEUED = "ticket.notices_queued"


async def ring(inbox: Inbox | None, ticket_id: int, now: float) -> bool:
    """Have a worker send the ticket's pending notices; True when an event was stored.

    Call it after the change's commit. Its dedupe key names the newest pending notice, so
    ringing twice for the same change stores one event.
    """
    if inbox is None:
        return False  # no intake here: the notices job sends them
    try:
        newest = (
            await TicketNotice.filter(ticket_id=ticket_id, status="pending")
            .order_by("-id")
            .first()
            .values_list("id", flat=True)
        )
        if newest is None:
            return False  # nothing queued (no route, no channel)
        event = IncomingEvent(
            dedupe_key=f"{NOTICES_QUEUED}:{ticket_id}:{newest}",
            name=NOTICES_QUEUED,
            source="tickets",
            payload={"ticket": ticket_id},
            occurred_at=int(now),
        )
        return await inbox.store(event)
    except Exception:  # the change is committed: answer for it; the notices job sends
        log.warning("could not ring for ticket %s notices; the notices job sends them", ticket_id)
        return False

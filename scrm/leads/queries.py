"""Reading leads for people: a filtered page of leads, and one lead with its history.

The REST API (`scrm.leads.api`), the command line (`scrm.leads.cli`) and the staff pages read
through these, so a filter or a lead's record means the same everywhere. A phone searched for
is compared by its keyed hash, never in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q

from scrm.channels.models import Channel
from scrm.leads.followups import followup_json
from scrm.leads.models import FollowUp, Lead, LeadEvent
from scrm.leads.phone import parse_phone
from scrm.leads.service import event_json, lead_json, phone_hash
from scrm.services import Services


@dataclass(frozen=True)
class LeadFilter:
    """Which leads: every given condition holds (values already checked by the caller)."""

    channel: int | None = None
    owner: str | None = None
    status: str | None = None
    pooled: bool | None = None
    q: str | None = None  # a whole phone number (its hash), else part of the name or company
    cursor: int | None = None  # ids below this one (the previous page's next_cursor)
    limit: int = 50


async def find_leads(services: Services, where: LeadFilter) -> tuple[list[Lead], int | None]:
    """A page of leads, newest first, and the cursor of the next page (None: no more)."""
    query = Lead.all().order_by("-id")
    if where.channel is not None:
        query = query.filter(channel_id=where.channel)
    if where.owner:
        query = query.filter(owner=where.owner)
    if where.status:
        query = query.filter(status=where.status)
    if where.pooled is not None:
        query = query.filter(pooled=where.pooled)
    q = (where.q or "").strip()
    if q:
        phone = parse_phone(q)
        if phone is not None:  # a whole number: its keyed hash, never the number, is compared
            query = query.filter(phone_hash=phone_hash(services, phone))
        else:
            query = query.filter(Q(name__icontains=q) | Q(company__icontains=q))
    if where.cursor is not None:
        query = query.filter(id__lt=where.cursor)
    rows = await query.limit(where.limit + 1)
    page = list(rows[: where.limit])
    more = len(rows) > where.limit and bool(page)
    return page, (page[-1].id if more else None)


async def lead_detail(services: Services, lead: Lead) -> dict[str, Any]:
    """The lead's own record: the phone in full, its history and follow-ups, oldest first."""
    events = await LeadEvent.filter(lead_id=lead.id).order_by("at", "id")
    body = lead_json(services, lead, full=True)
    body["history"] = [event_json(e) for e in events]
    followups = await FollowUp.filter(lead_id=lead.id).order_by("created_at", "id")
    body["followups"] = [followup_json(f) for f in followups]
    return body


async def customer_leads(external_userid: str) -> list[dict[str, Any]]:
    """The leads that became this customer: which channel, their status and owner, and what
    linked them (``unionid`` or ``phone``: a number staff noted on the customer)."""
    leads = await Lead.filter(external_userid=external_userid).order_by("id")
    if not leads:
        return []
    channel_ids = {x.channel_id for x in leads}  # type: ignore[attr-defined]
    names = {c.id: c.name for c in await Channel.filter(id__in=channel_ids)}
    linked = await LeadEvent.filter(lead_id__in=[x.id for x in leads], kind="linked")
    how = {event.lead_id: event.reason for event in linked}  # type: ignore[attr-defined]
    return [
        {
            "id": lead.id,
            "channel_id": lead.channel_id,  # type: ignore[attr-defined]
            "channel": names.get(lead.channel_id),  # type: ignore[attr-defined]
            "status": lead.status,
            "owner": lead.owner,
            "linked_by": how.get(lead.id),
        }
        for lead in leads
    ]

"""The lead side of the pipeline: a stored submission is assigned and the assignee told."""

from __future__ import annotations

from scrm.channels.models import Channel
from scrm.events.errors import PermanentError
from scrm.events.router import EventRecord, Router
from scrm.leads.assign import assign_lead, notify_owner
from scrm.leads.models import Lead
from scrm.leads.service import SUBMITTED
from scrm.services import Services

router = Router("leads")


@router.on(SUBMITTED)
async def on_submitted(event: EventRecord, services: Services) -> None:
    """Assign the lead if nobody owns it yet (a resubmission of an owned lead changes nothing)."""
    lead_id = event.payload.get("lead_id")
    if not isinstance(lead_id, int):
        raise PermanentError("the event has no lead_id")
    await assign_lead(services, lead_id)
    lead = await Lead.get_or_none(id=lead_id)
    if lead is not None and lead.owner and not lead.pooled:
        channel = await Channel.get(id=lead.channel_id)  # type: ignore[attr-defined]
        await notify_owner(services, lead, channel)  # once per assignment (the ledger)

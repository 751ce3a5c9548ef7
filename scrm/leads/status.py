"""A lead's status: forward through the funnel, or lost from any open status."""

from __future__ import annotations

from scrm.api.errors import ApiError
from scrm.leads.models import Lead, LeadEvent
from scrm.services import Services

NEXT = {
    "new": ("contacted", "qualified", "converted", "lost"),
    "contacted": ("qualified", "converted", "lost"),
    "qualified": ("converted", "lost"),
    "converted": (),
    "lost": (),
}


async def change_status(
    services: Services, lead: Lead, status: str, *, by: str | None, reason: str | None
) -> None:
    """Move ``lead`` to ``status`` with its history row; 409 for a move the funnel forbids."""
    if status == lead.status:
        return
    if status not in NEXT[lead.status]:
        message = f"status cannot go from {lead.status} to {status}"
        raise ApiError(409, "conflict", message, "status")
    now = services.clock()
    await Lead.filter(id=lead.id, status=lead.status).update(status=status, updated_at=now)
    await LeadEvent.create(
        lead_id=lead.id,
        kind="status",
        actor=by,
        reason=reason,
        data={"from": lead.status, "to": status},
        at=now,
    )

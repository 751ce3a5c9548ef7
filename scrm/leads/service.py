"""Store a submission as a lead: the same phone on the same channel within 30 days updates it.

The phone number is sealed and key-hashed by the archive (`Services.pii`) before anything is
stored; only the hash is compared. The lead and its history row commit together, then a
``lead.submitted`` event goes to the inbox so a worker assigns it and tells the assignee (the
event carries the lead id only, never personal data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from archive.keys.pii import FieldSeal
from scrm.channels.models import Channel
from scrm.events.inbox import IncomingEvent
from scrm.leads.models import PHONE_FIELD, Lead, LeadEvent
from scrm.leads.phone import mask_phone
from scrm.services import Services

log = logging.getLogger(__name__)

DEDUPE_WINDOW = 30 * 86400.0
SUBMITTED = "lead.submitted"
LOCK_TTL = 10.0
CLEAR_FIELDS = ("name", "company")  # kept in their own columns; the rest in `answers`


@dataclass(frozen=True)
class Submitted:
    lead: Lead
    created: bool


def pii(services: Services) -> FieldSeal:
    if services.pii is None:
        raise RuntimeError("personal fields need the archive's key ring (Services.pii)")
    return services.pii


def phone_hash(services: Services, phone: str) -> str:
    return pii(services).lookup_hash(PHONE_FIELD, phone)


async def submit_lead(
    services: Services,
    channel: Channel,
    values: dict[str, str],
    *,
    source: str = "form",
    unionid: str | None = None,
) -> Submitted:
    """Create or update the lead for ``values`` (already checked; ``phone`` normalised)."""
    phone = values[PHONE_FIELD]
    hashed = phone_hash(services, phone)
    # One submission per (phone, channel) at a time: two quick taps make one lead.
    async with services.kv.lock(f"lead-submit:{channel.id}:{hashed}", ttl=LOCK_TTL, wait=5.0):
        submitted = await _store(services, channel, values, hashed, source, unionid)
    lead = submitted.lead
    if services.inbox is not None:
        await services.inbox.store(
            IncomingEvent(
                dedupe_key=f"{SUBMITTED}:{lead.id}:{lead.submissions}",
                name=SUBMITTED,
                source="leads",
                payload={"lead_id": lead.id, "channel_id": channel.id},
                occurred_at=int(lead.last_submitted_at),
            )
        )
    return submitted


async def _store(
    services: Services,
    channel: Channel,
    values: dict[str, str],
    hashed: str,
    source: str,
    unionid: str | None,
) -> Submitted:
    now = services.clock()
    answers = {k: v for k, v in values.items() if k != PHONE_FIELD and k not in CLEAR_FIELDS}
    clear = {k: values.get(k, "") for k in CLEAR_FIELDS}
    # Read first, outside the transaction (the caller's lock keeps this phone and channel to
    # one submission at a time): on SQLite a transaction that reads and then writes cannot
    # wait for the write lock once another writer committed, it fails "database is locked".
    existing = (
        await Lead.filter(
            phone_hash=hashed,
            channel_id=channel.id,
            last_submitted_at__gte=now - DEDUPE_WINDOW,
        )
        .order_by("-id")
        .first()
    )
    if existing is not None:
        changed = sorted(
            k
            for k in (*CLEAR_FIELDS, *answers)
            if (getattr(existing, k) if k in CLEAR_FIELDS else (existing.answers or {}).get(k))
            != values.get(k, "")
        )
        async with in_transaction():
            await Lead.filter(id=existing.id).update(
                **clear,
                answers={**(existing.answers or {}), **answers},
                submissions=existing.submissions + 1,
                last_submitted_at=now,
                updated_at=now,
                unionid=unionid or existing.unionid,
            )
            await LeadEvent.create(
                lead_id=existing.id,
                kind="resubmitted",
                actor=source,
                data={"changed": changed},
                at=now,
            )
        return Submitted(await Lead.get(id=existing.id), created=False)
    sealed = pii(services).seal(values[PHONE_FIELD], field=PHONE_FIELD)
    async with in_transaction():
        lead = await Lead.create(
            channel_id=channel.id,
            source=source,
            phone_sealed=sealed,
            phone_hash=hashed,
            name=clear["name"],
            company=clear["company"],
            answers=answers,
            first_submitted_at=now,
            last_submitted_at=now,
            unionid=unionid,
            created_at=now,
            updated_at=now,
        )
        await LeadEvent.create(lead_id=lead.id, kind="submitted", actor=source, at=now)
    return Submitted(lead, created=True)


def lead_phone(services: Services, lead: Lead) -> str:
    return pii(services).unseal(lead.phone_sealed, field=PHONE_FIELD)


def lead_json(services: Services, lead: Lead, *, full: bool = False) -> dict[str, Any]:
    """A lead for the API: the phone masked (lists) or in full (the lead's own record)."""
    phone = lead_phone(services, lead)
    return {
        "id": lead.id,
        "channel_id": lead.channel_id,  # type: ignore[attr-defined]
        "source": lead.source,
        "name": lead.name,
        "company": lead.company,
        "phone": phone if full else mask_phone(phone),
        "answers": dict(lead.answers or {}),
        "status": lead.status,
        "owner": lead.owner,
        "pooled": lead.pooled,
        "submissions": lead.submissions,
        "first_submitted_at": lead.first_submitted_at,
        "last_submitted_at": lead.last_submitted_at,
        "assigned_at": lead.assigned_at,
        "last_followup_at": lead.last_followup_at,
        "external_userid": lead.external_userid,
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
    }


def event_json(event: LeadEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "userid": event.userid,
        "actor": event.actor,
        "reason": event.reason,
        "data": dict(event.data or {}),
        "at": event.at,
    }

"""Follow-ups on a lead or a customer, and their reminders.

A reminder's due time lives in the database (`FollowUp.remind_at`); a scheduler job ticks every
few seconds (`send_due_reminders`), on one process at a time, and each reminder is an app message
through the effect ledger keyed by the follow-up, so it goes out once even when a tick is cut off
after the send (the next tick finds the recorded outcome and only marks it reminded) or when two
processes tick at once. Reminders are at most once: an unknown outcome is not sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scrm.api.errors import ApiError
from scrm.effects import effect_key
from scrm.leads.form import has_control
from scrm.leads.models import FOLLOWUP_KINDS, FollowUp, Lead
from scrm.services import Services

log = logging.getLogger(__name__)
NOTE_MAX = 2000
BATCH = 100


def parse_followup(body: object) -> dict[str, Any]:
    """``{"by", "kind", "note", "remind_at"?}`` checked; 422 naming the field."""
    if not isinstance(body, Mapping):
        raise ApiError(422, "invalid", "the body must be a JSON object", "body")
    for name in body:
        if name not in ("by", "kind", "note", "remind_at"):
            raise ApiError(422, "invalid", f"unknown field {name!r}", str(name))
    by = body.get("by")
    if not isinstance(by, str) or not 1 <= len(by.strip()) <= 64 or has_control(by):
        raise ApiError(422, "invalid", "by must be the staff member's userid", "by")
    kind = body.get("kind", "note")
    if kind not in FOLLOWUP_KINDS:
        raise ApiError(422, "invalid", f"kind must be one of {', '.join(FOLLOWUP_KINDS)}", "kind")
    note = body.get("note")
    if not isinstance(note, str) or not 1 <= len(note.strip()) <= NOTE_MAX or "\x00" in note:
        raise ApiError(422, "invalid", f"note must be 1..{NOTE_MAX} characters", "note")
    remind_at = body.get("remind_at")
    at: float | None = None
    if remind_at is not None:
        if not isinstance(remind_at, str) or len(remind_at) > 40:
            raise ApiError(422, "invalid", "remind_at must be an ISO 8601 time", "remind_at")
        try:
            moment = datetime.fromisoformat(remind_at)
        except ValueError:
            raise ApiError(
                422, "invalid", "remind_at must be an ISO 8601 time", "remind_at"
            ) from None
        if moment.tzinfo is None:
            raise ApiError(422, "invalid", "remind_at needs an offset (+08:00 or Z)", "remind_at")
        at = moment.timestamp()
    return {"userid": by.strip(), "kind": kind, "note": note.strip(), "remind_at": at}


async def add_followup(
    services: Services,
    fields: dict[str, Any],
    *,
    lead: Lead | None = None,
    external_userid: str | None = None,
) -> FollowUp:
    """Store a follow-up; one by a lead's owner keeps the lead out of the pool's recycling."""
    now = services.clock()
    followup = await FollowUp.create(
        lead_id=lead.id if lead else None,
        external_userid=external_userid or (lead.external_userid if lead else None),
        created_at=now,
        **fields,
    )
    if lead is not None and lead.owner == fields["userid"]:
        await Lead.filter(id=lead.id).update(last_followup_at=now, updated_at=now)
    return followup


def followup_json(followup: FollowUp) -> dict[str, Any]:
    return {
        "id": followup.id,
        "lead_id": followup.lead_id,  # type: ignore[attr-defined]
        "external_userid": followup.external_userid,
        "by": followup.userid,
        "kind": followup.kind,
        "note": followup.note,
        "remind_at": followup.remind_at,
        "reminded_at": followup.reminded_at,
        "created_at": followup.created_at,
    }


async def send_due_reminders(services: Services) -> int:
    """Send every reminder that is due and not yet sent; the number sent by this tick."""
    now = services.clock()
    due = (
        await FollowUp.filter(remind_at__lte=now, reminded_at__isnull=True)
        .order_by("remind_at", "id")
        .limit(BATCH)
    )
    sent = 0
    for followup in due:
        outcome = await _remind(services, followup)
        await FollowUp.filter(id=followup.id, reminded_at__isnull=True).update(
            reminded_at=services.clock()
        )
        sent += outcome
    return sent


async def _remind(services: Services, followup: FollowUp) -> int:
    agent = services.agent
    if agent is None:
        log.warning("follow-up %d: no app (SCRM_AGENT_ID) to send its reminder", followup.id)
        return 0
    about = f"线索 #{followup.lead_id}" if followup.lead_id else f"客户 {followup.external_userid}"  # type: ignore[attr-defined]
    content = f"跟进提醒（{about}）：{followup.note[:200]}"
    corp = services.wecom.corp_id
    userid = followup.userid
    outcome = await services.effects.run(
        effect_key("send_app_message", corp, "followup_reminder", followup.id),
        "send_app_message",
        lambda: agent.send_app_message(
            services.settings.wecom.agent_id, "text", {"content": content}, touser=[userid]
        ),
        subject=f"followup:{followup.id}",
        request={"followup": followup.id, "touser": userid},
        summary=lambda result: {"msgid": result.msgid},
    )
    return int(outcome.performed and outcome.status == "done")

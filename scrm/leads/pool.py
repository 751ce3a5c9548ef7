"""The public pool (公海): release by hand, claim (first claim wins), recycle unworked leads.

A pooled lead has no owner; its history stays. A claim is one conditional UPDATE (``pooled``
still true), so of two concurrent claims exactly one changes the row and the other is told
409. Claims per staff member per local day are capped (`Settings.leads_claim_cap`). A lead
whose owner has not followed it up within N days (the channel's ``options.pool.recycle_days``,
else `Settings.leads_recycle_days`; 0 = never) goes back to the pool on the scheduler's tick,
and its owner and their manager — WeCom's ``direct_leader`` (直属上级, ``user/get``), read
before the lead is moved, once per owner per sweep — are told in one app message (once,
through the ledger). A member without a leader is told alone; when WeCom cannot say (an
error, no directory permission) the lead is recycled all the same and its owner told. Who is
to be told is part of the recycling's history entry, so a notice that a crash (or a retryable
WeCom error) kept back is sent by a later sweep, within a day, still once.
"""

from __future__ import annotations

import logging

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from adapters.wecom import WeComError
from scrm.api.errors import ApiError
from scrm.channels.models import Channel
from scrm.effects import EffectBusy, effect_key
from scrm.leads.assign import assigned_today
from scrm.leads.models import OPEN_STATUSES, Lead, LeadEvent
from scrm.services import Services

log = logging.getLogger(__name__)
DAY = 86400.0
BATCH = 200


async def release_lead(services: Services, lead: Lead, *, by: str, reason: str | None) -> Lead:
    """Return an owned open lead to the pool by hand; 409 when it is pooled or closed."""
    if lead.status not in OPEN_STATUSES:
        raise ApiError(
            409, "conflict", f"lead {lead.id} is {lead.status}; it stays out of the pool"
        )
    now = services.clock()
    async with in_transaction():
        moved = await Lead.filter(id=lead.id, pooled=False, status__in=OPEN_STATUSES).update(
            pooled=True, owner=None, updated_at=now
        )
        if not moved:
            raise ApiError(409, "conflict", f"lead {lead.id} is already in the pool")
        await LeadEvent.create(
            lead_id=lead.id, kind="released", userid=lead.owner, actor=by, reason=reason, at=now
        )
    return await Lead.get(id=lead.id)


async def claim_lead(services: Services, lead_id: int, by: str) -> Lead:
    """Take a pooled lead: the first claim wins, a later one is 409; capped per day."""
    async with services.kv.lock(f"lead-claims:{by}", ttl=10.0, wait=5.0):
        now = services.clock()
        cap = services.settings.leads_claim_cap
        if (await assigned_today([by], now, ("claimed",))).get(by, 0) >= cap:
            raise ApiError(409, "claim_cap", f"{by} has claimed {cap} leads today (the cap)", "by")
        lead = await Lead.get(id=lead_id)  # read outside: see leads.service._store
        async with in_transaction():
            won = await Lead.filter(id=lead_id, pooled=True, status__in=OPEN_STATUSES).update(
                pooled=False,
                owner=by,
                assigned_at=now,
                last_followup_at=None,
                assign_version=lead.assign_version + 1,
                updated_at=now,
            )
            if not won:
                raise ApiError(409, "conflict", f"lead {lead_id} is not in the pool (claimed?)")
            await LeadEvent.create(lead_id=lead_id, kind="claimed", userid=by, actor=by, at=now)
    return await Lead.get(id=lead_id)


async def recycle_unworked(services: Services) -> int:
    """Pool every owned open lead without a follow-up by its owner for its channel's N days."""
    now = services.clock()
    await _send_missed_notices(services, now)
    default = services.settings.leads_recycle_days
    recycled = 0
    channels = await Channel.filter(kind="form").only("id", "name", "options")
    leaders: dict[str, list[str]] = {}  # owner → direct leaders, read once per sweep
    for channel in channels:
        pool = (channel.options or {}).get("pool") or {}
        days = pool.get("recycle_days", default)
        if not days:
            continue
        cutoff = now - days * DAY
        stale = await Lead.filter(
            Q(last_followup_at__isnull=True) | Q(last_followup_at__lt=cutoff),
            channel_id=channel.id,
            pooled=False,
            owner__isnull=False,
            status__in=OPEN_STATUSES,
            assigned_at__lt=cutoff,
        ).limit(BATCH)
        for lead in stale:
            owner = str(lead.owner)
            if owner not in leaders:  # before the move: no WeCom call inside a transaction
                leaders[owner] = await direct_leaders(services, owner)
            event = await _recycle(services, lead, days, [owner, *leaders[owner]])
            if event is not None:
                recycled += 1
                await _notify(services, lead, channel, event)
    return recycled


async def direct_leaders(services: Services, userid: str) -> list[str]:
    """``userid``'s direct leaders in WeCom; none when there is no app or WeCom cannot say."""
    if services.agent is None:
        return []
    try:
        return await services.agent.direct_leaders(userid)
    except WeComError as exc:  # the lead is recycled all the same; its owner is still told
        log.warning(
            "could not read the direct leader of %s; telling the owner only: %s", userid, exc
        )
        return []


async def _recycle(
    services: Services, lead: Lead, days: int, touser: list[str]
) -> LeadEvent | None:
    """Pool the lead if nothing changed since it was read; the history entry names who is to
    be told and the assignment it ends (the notice's key)."""
    now = services.clock()
    async with in_transaction():
        # Only if nothing changed since we read it (a claim, a reassignment, a follow-up).
        moved = await Lead.filter(
            id=lead.id, owner=lead.owner, assign_version=lead.assign_version, pooled=False
        ).update(pooled=True, owner=None, updated_at=now)
        if not moved:
            return None
        return await LeadEvent.create(
            lead_id=lead.id,
            kind="recycled",
            userid=lead.owner,
            actor="system",
            reason=f"no follow-up in {days} days",
            data={
                "days": days,
                "assign_version": lead.assign_version,
                "told": list(dict.fromkeys(touser)),
            },
            at=now,
        )


async def _send_missed_notices(services: Services, now: float) -> None:
    """The notice of every recycling of the last day, once: the ledger answers for those
    already sent, so only one a crash (or a retryable WeCom error) kept from going out is sent
    now. An outcome left unknown stays unknown (app messages are at most once)."""
    if services.agent is None:
        return
    recent = await LeadEvent.filter(kind="recycled", at__gte=now - DAY).order_by("id").limit(BATCH)
    for event in recent:
        lead = await Lead.get_or_none(id=event.lead_id)  # type: ignore[attr-defined]
        if lead is not None and (event.data or {}).get("told"):
            channel = await Channel.get(id=lead.channel_id)  # type: ignore[attr-defined]
            await _notify(services, lead, channel, event)


async def _notify(services: Services, lead: Lead, channel: Channel, event: LeadEvent) -> None:
    """Tell the owner and their leaders, once per recycled assignment (the effect ledger)."""
    agent, data = services.agent, event.data or {}
    touser = [str(userid) for userid in data.get("told") or ()]
    if agent is None or not touser:
        return
    content = (
        f"线索 #{lead.id}（{lead.name or '未留姓名'}，渠道：{channel.name}）"
        f"{data.get('days')} 天未跟进，已退回公海。"
    )
    corp, version = services.wecom.corp_id, data.get("assign_version")
    try:
        await services.effects.run(
            effect_key("send_app_message", corp, "lead_recycled", lead.id, version),
            "send_app_message",
            lambda: agent.send_app_message(
                services.settings.wecom.agent_id, "text", {"content": content}, touser=touser
            ),
            subject=f"lead:{lead.id}",
            request={"lead": lead.id, "touser": touser},
            summary=lambda result: {"msgid": result.msgid},
        )
    except (WeComError, EffectBusy) as exc:  # the next sweep tries again (through the ledger)
        log.warning("the recycling notice of lead %s is not out yet: %s", lead.id, exc)

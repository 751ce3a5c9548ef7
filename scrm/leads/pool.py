"""The public pool (公海): release by hand, claim (first claim wins), recycle unworked leads.

A pooled lead has no owner; its history stays. A claim is one conditional UPDATE (``pooled``
still true), so of two concurrent claims exactly one changes the row and the other is told
409. Claims per staff member per local day are capped (`Settings.leads_claim_cap`). A lead
whose owner has not followed it up within N days (the channel's ``options.pool.recycle_days``,
else `Settings.leads_recycle_days`; 0 = never) goes back to the pool on the scheduler's tick,
and its owner and their manager — WeCom's ``direct_leader`` (直属上级, ``user/get``), read
before the lead is moved, once per owner per sweep — are told in one app message (once,
through the ledger). A member without a leader is told alone; when WeCom cannot say (an
error, no directory permission) the lead is recycled all the same and its owner told.
"""

from __future__ import annotations

import logging

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from adapters.wecom import WeComError
from scrm.api.errors import ApiError
from scrm.channels.models import Channel
from scrm.effects import effect_key
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
            if await _recycle(services, lead, channel, days, leaders[owner]):
                recycled += 1
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
    services: Services, lead: Lead, channel: Channel, days: int, leaders: list[str]
) -> bool:
    now = services.clock()
    async with in_transaction():
        # Only if nothing changed since we read it (a claim, a reassignment, a follow-up).
        moved = await Lead.filter(
            id=lead.id, owner=lead.owner, assign_version=lead.assign_version, pooled=False
        ).update(pooled=True, owner=None, updated_at=now)
        if not moved:
            return False
        await LeadEvent.create(
            lead_id=lead.id,
            kind="recycled",
            userid=lead.owner,
            actor="system",
            reason=f"no follow-up in {days} days",
            at=now,
        )
    agent, owner = services.agent, lead.owner
    touser = list(dict.fromkeys([owner, *leaders])) if owner else []
    if agent is not None and touser:
        content = (
            f"线索 #{lead.id}（{lead.name or '未留姓名'}，渠道：{channel.name}）"
            f"{days} 天未跟进，已退回公海。"
        )
        corp = services.wecom.corp_id
        await services.effects.run(
            effect_key("send_app_message", corp, "lead_recycled", lead.id, lead.assign_version),
            "send_app_message",
            lambda: agent.send_app_message(
                services.settings.wecom.agent_id, "text", {"content": content}, touser=touser
            ),
            subject=f"lead:{lead.id}",
            request={"lead": lead.id, "touser": touser},
            summary=lambda result: {"msgid": result.msgid},
        )
    return True

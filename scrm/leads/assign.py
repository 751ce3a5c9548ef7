"""Assign a lead by its channel's rule, hand it over by hand, and tell the assignee.

One decision per lead at a time (a KV lock); the notice is an app message (``message/send``)
through the effect ledger, keyed by the lead and its assignment version, so a redelivered event
or a second process never sends it twice (at most once: an unknown outcome is not retried).
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from zoneinfo import ZoneInfo

from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from scrm.channels.models import Channel
from scrm.channels.rotation import DEFAULT_TIMEZONE
from scrm.effects import Outcome, effect_key
from scrm.leads.assignment import candidates, choose_assignee, in_working_hours
from scrm.leads.models import OPEN_STATUSES, Lead, LeadEvent
from scrm.leads.phone import mask_phone
from scrm.leads.service import lead_phone
from scrm.services import Services
from scrm.staff.links import lead_path

log = logging.getLogger(__name__)
LOCK_TTL = 30.0
ASSIGN_KINDS = ("assigned", "reassigned", "claimed")


def day_start(now: float, zone: str = DEFAULT_TIMEZONE) -> float:
    """Local midnight (the company's day) before ``now``: daily caps reset then."""
    tz = ZoneInfo(zone)
    today = datetime.fromtimestamp(now, tz).date()
    return datetime.combine(today, time(0), tz).timestamp()


async def assigned_today(
    userids: list[str], now: float, kinds: tuple[str, ...] = ASSIGN_KINDS
) -> dict[str, int]:
    """Leads each member received since local midnight (any channel)."""
    if not userids:
        return {}
    rows = (
        await LeadEvent.filter(kind__in=kinds, userid__in=userids, at__gte=day_start(now))
        .group_by("userid")
        .annotate(n=Count("id"))
        .values_list("userid", "n")
    )
    return {str(u): int(n) for u, n in rows}


async def open_leads(userids: list[str]) -> dict[str, int]:
    if not userids:
        return {}
    rows = (
        await Lead.filter(owner__in=userids, status__in=OPEN_STATUSES)
        .group_by("owner")
        .annotate(n=Count("id"))
        .values_list("owner", "n")
    )
    return {str(u): int(n) for u, n in rows}


async def assign_lead(services: Services, lead_id: int) -> str | None:
    """Assign an unowned, unpooled open lead; the new owner (None: pooled or nothing to do).

    Each run takes the next turn from a KV counter (atomic across processes); rules with a
    daily cap or ``least_open`` are decided one at a time per channel (a KV lock), so caps and
    open counts are exact across processes. The notice is `notify_owner`'s,
    called after (by the handler), so a retried run whose assignment was stored still sends
    it — once, the ledger's key names the assignment.
    """
    lead = await Lead.get_or_none(id=lead_id)
    if lead is None or lead.owner or lead.pooled or lead.status not in OPEN_STATUSES:
        return None
    channel = await Channel.get(id=lead.channel_id)  # type: ignore[attr-defined]
    rule = (channel.options or {}).get("assignment") or {}
    if rule.get("daily_cap") is None and rule.get("rule") != "least_open":
        # Plain turns need no lock: the KV's increment hands each run its own turn.
        return await _assign(services, lead, channel)
    # Caps and open counts are read, then acted on: one decision per channel at a time.
    # Only the decision is under the lock; what was read before it is re-checked by the
    # conditional UPDATE (a reassignment or a second run in between wins, this one stops).
    async with services.kv.lock(f"lead-assign:{channel.id}", ttl=LOCK_TTL, wait=10.0):
        return await _assign(services, lead, channel)


async def _assign(services: Services, lead: Lead, channel: Channel) -> str | None:
    rule = (channel.options or {}).get("assignment") or {"rule": "round_robin"}
    answers = {"name": lead.name, "company": lead.company, **(lead.answers or {})}
    now = services.clock()
    working = in_working_hours(rule, now)
    members = [
        *candidates(rule, channel.staff or [], answers, working=working),
        *(rule.get("backup") or []),
    ]
    # The channel's turn counter, in the KV (Redis when several processes): O(1) and atomic.
    # Keyed by the state, which is unique and never reused, so a channel
    # never inherits another's count. Lost (a Redis flush), the turns simply start again.
    turn = await services.kv.incr(f"leads:turn:{channel.state}") - 1
    capped = rule.get("daily_cap") is not None
    userid = choose_assignee(
        rule,
        channel.staff or [],
        answers,
        assigned_today=await assigned_today(members, now) if capped else {},
        open_leads=await open_leads(members) if rule.get("rule") == "least_open" else {},
        turn=turn,
        working=working,
    )

    def unchanged() -> QuerySet[Lead]:  # built inside the transaction, so it runs in it
        return Lead.filter(
            id=lead.id,
            owner__isnull=True,
            pooled=False,
            assign_version=lead.assign_version,
            status__in=OPEN_STATUSES,
        )

    async with in_transaction():
        if userid is None:
            if not await unchanged().update(pooled=True, updated_at=now):
                return None
            await LeadEvent.create(
                lead_id=lead.id,
                kind="pooled",
                actor="system",
                reason="every member is at the daily cap",
                at=now,
            )
            log.info("lead %d: everyone at the daily cap; it goes to the pool", lead.id)
            return None
        moved = await unchanged().update(
            owner=userid, assigned_at=now, assign_version=lead.assign_version + 1, updated_at=now
        )
        if not moved:
            return None
        await LeadEvent.create(
            lead_id=lead.id,
            kind="assigned",
            userid=userid,
            actor="system",
            reason=str(rule.get("rule")),
            at=now,
        )
    return userid


async def reassign_lead(
    services: Services, lead: Lead, userid: str, *, by: str, reason: str | None
) -> Lead:
    """Hand a lead to ``userid`` by hand: who and why are kept; the new owner is told."""
    async with services.kv.lock(f"lead:{lead.id}", ttl=LOCK_TTL, wait=5.0):
        fresh = await Lead.get(id=lead.id)
        if fresh.owner == userid:
            return fresh
        now = services.clock()
        async with in_transaction():
            await Lead.filter(id=lead.id).update(
                owner=userid,
                pooled=False,
                assigned_at=now,
                assign_version=fresh.assign_version + 1,
                updated_at=now,
            )
            await LeadEvent.create(
                lead_id=lead.id,
                kind="reassigned",
                userid=userid,
                actor=by,
                reason=reason,
                data={"from": fresh.owner, "to": userid},
                at=now,
            )
    changed = await Lead.get(id=lead.id)
    channel = await Channel.get(id=changed.channel_id)  # type: ignore[attr-defined]
    await notify_owner(services, changed, channel)
    return changed


async def notify_owner(services: Services, lead: Lead, channel: Channel) -> Outcome | None:
    """The app message to the lead's owner: summary (phone masked) and a link."""
    agent = services.agent
    if agent is None or not lead.owner:
        return None
    owner = lead.owner
    lines = [
        f"新线索：{lead.name or '（未留姓名）'}" + (f"（{lead.company}）" if lead.company else ""),
        f"手机：{mask_phone(lead_phone(services, lead))}",
        f"渠道：{channel.name}",
    ]
    need = (lead.answers or {}).get("need")
    if need:
        lines.append(f"需求：{need[:60]}")
    lines.append(f"查看：{services.settings.public_url}{lead_path(lead.id)}")
    corp = services.wecom.corp_id
    agent_id = services.settings.wecom.agent_id
    return await services.effects.run(
        effect_key("send_app_message", corp, "lead_assigned", lead.id, lead.assign_version),
        "send_app_message",
        lambda: agent.send_app_message(
            agent_id, "text", {"content": "\n".join(lines)}, touser=[owner]
        ),
        subject=f"lead:{lead.id}",
        request={"lead": lead.id, "touser": owner},
        summary=lambda result: {"msgid": result.msgid, "invaliduser": list(result.invaliduser)},
    )


STRAGGLER_AGE = 120.0  # seconds: older than any normal trip through the inbox


async def assign_stragglers(services: Services, limit: int = 100) -> int:
    """Assign open leads nobody owns that never reached a worker (the process died between
    storing the lead and storing its ``lead.submitted`` event); the number assigned."""
    now = services.clock()
    waiting = await Lead.filter(
        owner__isnull=True,
        pooled=False,
        status__in=OPEN_STATUSES,
        last_submitted_at__lt=now - STRAGGLER_AGE,
    ).limit(limit)
    assigned = 0
    for lead in waiting:
        if await assign_lead(services, lead.id) is None:
            continue
        fresh = await Lead.get(id=lead.id)
        await notify_owner(services, fresh, await Channel.get(id=fresh.channel_id))  # type: ignore[attr-defined]
        assigned += 1
    return assigned

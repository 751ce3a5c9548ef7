"""A customer's timeline: follow-ups, channel touches, mini-program scans, tag changes,
their leads' history and their tickets (opened, status changes, resolved), in time order.

Each source is read as it is stored (no copy kept in step), so the timeline cannot drift.
"""

from __future__ import annotations

import json
from typing import Any

from scrm.autotag.models import RuleHit
from scrm.channels.models import Channel, ChannelLink
from scrm.leads.followups import followup_json
from scrm.leads.models import FollowUp, Lead, LeadEvent, MiniProgramScan
from scrm.tickets.models import Ticket, TicketEvent

LIMIT = 500
# A ticket's own timeline entries the customer's shows: opened and every status change; its
# comments, notices and SLA events stay on the ticket.
TICKET_KINDS = ("created", "transition", "reopened")


async def customer_timeline(external_userid: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    leads = await Lead.filter(external_userid=external_userid)
    lead_ids = [lead.id for lead in leads]
    followups = FollowUp.filter(external_userid=external_userid)
    for followup in await followups.order_by("-created_at").limit(LIMIT):
        items.append({"at": followup.created_at, "type": "followup", **followup_json(followup)})
    links = await ChannelLink.filter(external_userid=external_userid).order_by("-added_at")
    channel_ids = {x.channel_id for x in links} | {x.channel_id for x in leads}  # type: ignore[attr-defined]
    names = {c.id: c.name for c in await Channel.filter(id__in=channel_ids)}
    if lead_ids:
        lead_channels = {lead.id: lead.channel_id for lead in leads}  # type: ignore[attr-defined]
        for followup in await FollowUp.filter(lead_id__in=lead_ids, external_userid__isnull=True):
            items.append({"at": followup.created_at, "type": "followup", **followup_json(followup)})
        for event in await LeadEvent.filter(lead_id__in=lead_ids).order_by("-at").limit(LIMIT):
            channel_id = lead_channels[event.lead_id]  # type: ignore[attr-defined]
            items.append(
                {
                    "at": event.at,
                    "type": "lead",
                    "lead_id": event.lead_id,  # type: ignore[attr-defined]
                    "kind": event.kind,
                    "userid": event.userid,
                    "actor": event.actor,
                    "reason": event.reason,
                    "channel_id": channel_id,
                    "channel": names.get(channel_id),
                }
            )
    for link in links[:LIMIT]:
        items.append(
            {
                "at": float(link.added_at),
                "type": "channel",
                "channel_id": link.channel_id,  # type: ignore[attr-defined]
                "channel": names.get(link.channel_id),  # type: ignore[attr-defined]
                "userid": link.userid,
            }
        )
    scans = MiniProgramScan.filter(external_userid=external_userid)
    for scan in await scans.order_by("-at").limit(LIMIT):
        items.append(
            {
                "at": scan.at,
                "type": "scan",
                "channel_id": scan.channel_id,  # type: ignore[attr-defined]
                "channel": names.get(scan.channel_id)  # type: ignore[attr-defined]
                or await _channel_name(scan.channel_id),  # type: ignore[attr-defined]
                "scene": scan.scene,
            }
        )
    hits = RuleHit.filter(external_userid=external_userid, fired=True)
    for hit in await hits.order_by("-msgtime").limit(LIMIT):
        actions = json.loads(hit.actions or "[]")
        items.append(
            {
                "at": hit.msgtime / 1000,
                "type": "tag",
                "rule": hit.rule_name,
                "userid": hit.userid,
                "actions": actions,
            }
        )
    items += await _ticket_items(external_userid)
    items.sort(key=lambda item: (item["at"], item["type"]))
    return items[-LIMIT:]


async def _ticket_items(external_userid: str) -> list[dict[str, Any]]:
    """Each ticket of the customer opened, moved (``status``, ``reopened``) and resolved."""
    tickets = {
        t.id: t
        for t in await Ticket.filter(customer=external_userid).order_by("-created_at").limit(LIMIT)
    }
    if not tickets:
        return []
    entries = TicketEvent.filter(ticket_id__in=list(tickets), kind__in=TICKET_KINDS)
    items = []
    newest = await entries.order_by("-at", "-id").limit(LIMIT)
    for entry in reversed(newest):  # oldest first: the sort keeps same-second entries in order
        ticket = tickets[entry.ticket_id]
        item: dict[str, Any] = {
            "at": entry.at,
            "type": "ticket",
            "ticket_id": ticket.id,
            "number": ticket.number,
            "title": ticket.title,
            "userid": entry.by,
        }
        if entry.kind == "created":
            item |= {"kind": "opened", "priority": ticket.priority, "category": ticket.category}
        else:
            data = json.loads(entry.data or "{}")
            to = data.get("to")
            kind = "resolved" if to == "resolved" else entry.kind
            item |= {
                "kind": "status" if kind == "transition" else kind,
                "from": data.get("from"),
                "to": to,
            }
        items.append(item)
    return items


async def _channel_name(channel_id: int) -> str | None:
    channel = await Channel.get_or_none(id=channel_id)
    return channel.name if channel else None

"""A customer's timeline: follow-ups, channel touches, mini-program scans, tag changes and
their leads' history (with each lead's channel), in time order.

Each source is read as it is stored (no copy kept in step), so the timeline cannot drift.
"""

from __future__ import annotations

import json
from typing import Any

from scrm.autotag.models import RuleHit
from scrm.channels.models import Channel, ChannelLink
from scrm.leads.followups import followup_json
from scrm.leads.models import FollowUp, Lead, LeadEvent, MiniProgramScan

LIMIT = 500


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
    items.sort(key=lambda item: (item["at"], item["type"]))
    return items[-LIMIT:]


async def _channel_name(channel_id: int) -> str | None:
    channel = await Channel.get_or_none(id=channel_id)
    return channel.name if channel else None

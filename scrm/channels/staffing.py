"""Keep each code's members in step with its rotation: schedule slots, daily caps, backups.

The rotation's answer (`rotation.plan`) changes at a slot boundary, at local midnight (caps
reset) and when an add reaches a cap. The first two are due times stored on the channel
(``next_change_at``) that a scheduler job picks up; the third is checked right after the add
is linked (the fast lane), so a capped member is off the code within seconds. Each push is an
``update_contact_way`` effect in the ledger, keyed by the channel's rotation version, so two
processes deciding the same change push it once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.functions import Count

from adapters.kv import LockNotAcquired
from scrm.channels import rotation as rot
from scrm.channels.models import Channel, ChannelLink
from scrm.effects import effect_key
from scrm.services import Services

log = logging.getLogger(__name__)
LOCK_TTL = 30.0


async def adds_today(
    channel: Channel, rotation: rot.Rotation | None, now: float
) -> Mapping[str, int]:
    """Distinct customers per member who added through ``channel`` since local midnight."""
    if rotation is None or rotation.daily_cap is None:
        return {}
    since = int(rot.day_start(rotation, now))
    rows = (
        await ChannelLink.filter(channel_id=channel.id, added_at__gte=since)
        .group_by("userid")
        .annotate(n=Count("external_userid", distinct=True))
        .values_list("userid", "n")
    )
    return {str(userid): int(n) for userid, n in rows}


async def refresh_staffing(services: Services, channel_id: int) -> bool:
    """Recompute who is on the code now; push a change to WeCom. True when it changed.

    One process at a time per channel (a KV lock); a busy lock means another is doing it.
    """
    try:
        async with services.kv.lock(f"channel-staffing:{channel_id}", ttl=LOCK_TTL, wait=5.0):
            return await _refresh(services, channel_id)
    except LockNotAcquired:
        log.info("channel %d: staffing is being refreshed elsewhere", channel_id)
        return False


async def _refresh(services: Services, channel_id: int) -> bool:
    channel = await Channel.get_or_none(id=channel_id)
    if channel is None or channel.archived or not channel.config_id:
        return False
    now = services.clock()
    rotation = rot.rotation_from_json(channel.rotation)
    plan = rot.plan(rotation, channel.staff or [], await adds_today(channel, rotation, now), now)
    if list(plan.staff) == list(channel.active_staff or []):
        if plan.next_change_at != channel.next_change_at:
            await Channel.filter(id=channel.id).update(next_change_at=plan.next_change_at)
        return False
    version = channel.rotation_version + 1
    config_id = channel.config_id
    outcome = await services.effects.run(
        effect_key(
            "update_contact_way", services.wecom.corp_id, config_id, version, _digest(plan.staff)
        ),
        "update_contact_way",
        lambda: services.wecom.update_contact_way(config_id, user=plan.staff),
        subject=f"channel:{channel.id}",
        request={"config_id": config_id, "user": list(plan.staff), "version": version},
    )
    if outcome.status != "done":
        # Refused (e.g. 40003: a member left): keep the old members, try at the next change.
        log.warning(
            "channel %d: update_contact_way %s; the code keeps its members",
            channel.id,
            outcome.label,
        )
        await Channel.filter(id=channel.id).update(next_change_at=plan.next_change_at)
        return False
    await Channel.filter(id=channel.id).update(
        active_staff=list(plan.staff),
        rotation_version=version,
        next_change_at=plan.next_change_at,
        updated_at=now,
    )
    log.info("channel %d: the code now carries %d member(s)", channel.id, len(plan.staff))
    return True


async def check_cap(services: Services, channel: Channel, userid: str) -> bool:
    """After an add: take ``userid`` off the code if the add reached the daily cap."""
    rotation = rot.rotation_from_json(channel.rotation)
    if rotation is None or rotation.daily_cap is None or userid not in (channel.active_staff or []):
        return False
    counts = await adds_today(channel, rotation, services.clock())
    if counts.get(userid, 0) < rotation.daily_cap:
        return False
    return await refresh_staffing(services, channel.id)


async def rotate_due(services: Services) -> int:
    """The scheduler job: refresh every channel whose next change is due; return how many."""
    due: list[Any] = list(
        await Channel.filter(archived=False, next_change_at__lte=services.clock()).values_list(
            "id", flat=True
        )
    )
    changed = 0
    for channel_id in due:
        changed += await refresh_staffing(services, int(channel_id))
    return changed


def _digest(staff: Sequence[str]) -> str:
    """A short name for a member list, so a different list is a different effect."""
    return hashlib.sha256("|".join(staff).encode()).hexdigest()[:12]

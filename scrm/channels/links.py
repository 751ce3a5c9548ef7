"""Customer → channel links: one row per add, whatever the number of deliveries."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from scrm.channels.models import Channel, ChannelLink
from scrm.events.router import EventRecord


async def link_add(
    channel: Channel, event: EventRecord, userid: str, external_userid: str, now: float
) -> ChannelLink:
    """Record that ``external_userid`` added ``userid`` through ``channel`` (idempotent).

    The add's CreateTime names it: a redelivered or replayed event finds its row.
    """
    added_at = int(event.occurred_at or now)
    found = await ChannelLink.get_or_none(
        external_userid=external_userid, userid=userid, added_at=added_at
    )
    if found is not None:
        return found
    try:
        return await ChannelLink.create(
            channel=channel,
            external_userid=external_userid,
            userid=userid,
            added_at=added_at,
            event_id=event.id,
            created_at=now,
        )
    except IntegrityError:  # a parallel run of the same add linked it first
        return await ChannelLink.get(
            external_userid=external_userid, userid=userid, added_at=added_at
        )

"""Channel attribution derived from stored links and follow relations — never from counters.

In a window of local dates: ``adds`` are the distinct customers who added someone through the
channel; ``retained`` those of them with a relation from such an add still active now; ``lost``
the rest (they deleted the member, or were deleted). ``by_day`` puts each customer's first add
in the window on its date, and each lost customer on the date the last such relation ended
(when that date is in the window). A redelivered event finds its link row, so nothing counts
twice however often WeCom retries or an operator replays.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scrm.channels.models import ChannelLink
from scrm.models import FollowRelation


@dataclass(frozen=True)
class Window:
    first: date
    last: date  # inclusive
    zone: ZoneInfo

    @property
    def start(self) -> int:
        return int(datetime.combine(self.first, time(0), self.zone).timestamp())

    @property
    def end(self) -> int:
        return int(datetime.combine(self.last + timedelta(days=1), time(0), self.zone).timestamp())

    def day(self, stamp: int) -> date:
        return datetime.fromtimestamp(stamp, self.zone).date()

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


@dataclass
class ChannelStats:
    adds: int = 0
    retained: int = 0
    lost: int = 0
    by_day: dict[date, list[int]] = field(default_factory=dict)  # date → [adds, lost]

    def to_json(self, window: Window) -> dict[str, Any]:
        return {
            "from": window.first.isoformat(),
            "to": window.last.isoformat(),
            "adds": self.adds,
            "retained": self.retained,
            "lost": self.lost,
            "by_day": [
                {"date": day.isoformat(), "adds": counts[0], "lost": counts[1]}
                for day, counts in sorted(self.by_day.items())
            ],
        }


async def channel_stats(
    window: Window, channel_ids: Iterable[int] | None = None
) -> dict[int, ChannelStats]:
    """Stats per channel id for the window (only channels with adds appear)."""
    query = ChannelLink.filter(added_at__gte=window.start, added_at__lt=window.end)
    if channel_ids is not None:
        query = query.filter(channel_id__in=list(channel_ids))
    links = await query.values_list("channel_id", "external_userid", "userid", "added_at")
    relations = await _relations({str(ext) for _, ext, _, _ in links})
    return derive(window, links, relations)


def derive(
    window: Window,
    links: Iterable[tuple[Any, Any, Any, Any]],
    relations: dict[tuple[str, str], tuple[str, int | None]],
) -> dict[int, ChannelStats]:
    """The pure part: links (channel, customer, member, add time) and relations' states now."""
    first_add: dict[tuple[int, str], int] = {}
    members: dict[tuple[int, str], set[str]] = defaultdict(set)
    for channel_id, external_userid, userid, added_at in links:
        key = (int(channel_id), str(external_userid))
        first_add[key] = min(first_add.get(key, int(added_at)), int(added_at))
        members[key].add(str(userid))
    result: dict[int, ChannelStats] = defaultdict(ChannelStats)
    for (channel_id, external_userid), added_at in first_add.items():
        stats = result[channel_id]
        stats.adds += 1
        stats.by_day.setdefault(window.day(added_at), [0, 0])[0] += 1
        states = [
            relations.get((external_userid, userid), ("active", None))
            for userid in members[(channel_id, external_userid)]
        ]
        if any(status != "ended" for status, _ in states):
            stats.retained += 1
            continue
        stats.lost += 1
        ended = max((at or 0 for _, at in states), default=0)
        if ended and window.start <= ended < window.end:
            stats.by_day.setdefault(window.day(ended), [0, 0])[1] += 1
    for stats in result.values():
        for day in window.days():
            stats.by_day.setdefault(day, [0, 0])
    return dict(result)


async def _relations(external_userids: set[str]) -> dict[tuple[str, str], tuple[str, int | None]]:
    """(customer, member) → (status, ended_at) for the customers in question."""
    found: dict[tuple[str, str], tuple[str, int | None]] = {}
    ids = sorted(external_userids)
    for start in range(0, len(ids), 500):
        rows = await FollowRelation.filter(
            customer__external_userid__in=ids[start : start + 500]
        ).values_list("customer__external_userid", "userid", "status", "ended_at")
        for external_userid, userid, status, ended_at in rows:
            found[(str(external_userid), str(userid))] = (str(status), ended_at)
    return found

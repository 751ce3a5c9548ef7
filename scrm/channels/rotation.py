"""Who is on a channel's code at a moment: schedule, daily caps, backup staff. Pure, no I/O.

``rotation`` = ``{"daily_cap": N?, "schedule": [{"days": [1..7], "start": "09:00",
"end": "18:00", "staff": [userids]}], "backup": [userids], "timezone": "Asia/Shanghai"}``.
Days are ISO weekdays (1 = Monday) and times are wall-clock times in ``timezone`` (the corp's).
At a moment the code carries the scheduled staff (everyone on the channel when there is no
schedule) minus those who reached the daily cap today; when that leaves nobody, the backup
staff; when there is no backup either, everyone on the channel (WeCom needs one member).
`plan` also says when that answer can next change, so the scheduler reads one due time from
the database instead of polling every code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class RotationError(ValueError):
    """The rotation is malformed; ``field`` names the part (``rotation.schedule[0].start``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Slot:
    days: frozenset[int]
    start: int  # minutes after midnight
    end: int  # minutes after midnight, up to 1440
    staff: tuple[str, ...]


@dataclass(frozen=True)
class Rotation:
    daily_cap: int | None
    schedule: tuple[Slot, ...]
    backup: tuple[str, ...]
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_json(self) -> dict[str, Any]:
        return {
            "daily_cap": self.daily_cap,
            "schedule": [
                {
                    "days": sorted(slot.days),
                    "start": _hhmm(slot.start),
                    "end": _hhmm(slot.end),
                    "staff": list(slot.staff),
                }
                for slot in self.schedule
            ],
            "backup": list(self.backup),
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class Plan:
    staff: tuple[str, ...]  # who is on the code now, in the channel's order
    next_change_at: float | None  # unix seconds; None = nothing changes by itself


def parse_rotation(data: object) -> Rotation | None:
    """Validate a rotation from the API (None or ``{}`` = no rotation)."""
    if data is None or data == {}:
        return None
    if not isinstance(data, Mapping):
        raise RotationError("rotation", "rotation must be an object or null")
    unknown = set(data) - {"daily_cap", "schedule", "backup", "timezone"}
    if unknown:
        raise RotationError(f"rotation.{sorted(unknown)[0]}", "unknown rotation field")
    cap = data.get("daily_cap")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise RotationError("rotation.daily_cap", "daily_cap must be a whole number ≥ 1 or null")
    zone = data.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(zone, str) or not _known_zone(zone):
        raise RotationError("rotation.timezone", "timezone must be an IANA name")
    schedule = data.get("schedule") or []
    if not isinstance(schedule, list):
        raise RotationError("rotation.schedule", "schedule must be a list")
    slots = tuple(_slot(item, f"rotation.schedule[{n}]") for n, item in enumerate(schedule))
    backup = _userids(data.get("backup") or [], "rotation.backup", allow_empty=True)
    return Rotation(cap, slots, backup, zone)


def rotation_from_json(data: object) -> Rotation | None:
    """A stored rotation (already validated once)."""
    return parse_rotation(data)


def plan(
    rotation: Rotation | None,
    staff: Sequence[str],
    adds_today: Mapping[str, int],
    now: float,
) -> Plan:
    """Who is on the code at ``now`` and when that can next change by itself."""
    if rotation is None:
        return Plan(tuple(staff), None)
    zone = rotation.zone
    local = datetime.fromtimestamp(now, zone)
    scheduled = _scheduled(rotation, staff, local)
    capped = {
        userid
        for userid, n in adds_today.items()
        if rotation.daily_cap is not None and n >= rotation.daily_cap
    }
    active = tuple(u for u in scheduled if u not in capped)
    if not active:
        active = rotation.backup or tuple(staff)
    changes = [_next_boundary(rotation, local)]
    if capped:  # caps end at the next local midnight
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), zone)
        changes.append(midnight.timestamp())
    due = [c for c in changes if c is not None]
    return Plan(active, min(due) if due else None)


def day_start(rotation: Rotation | None, now: float) -> float:
    """Local midnight of ``now``'s day in the rotation's zone (caps count from there)."""
    zone = rotation.zone if rotation else ZoneInfo(DEFAULT_TIMEZONE)
    local = datetime.fromtimestamp(now, zone)
    return datetime.combine(local.date(), time(0), zone).timestamp()


def _scheduled(rotation: Rotation, staff: Sequence[str], local: datetime) -> tuple[str, ...]:
    if not rotation.schedule:
        return tuple(staff)
    minute = local.hour * 60 + local.minute
    on: list[str] = []
    for slot in rotation.schedule:
        if local.isoweekday() in slot.days and slot.start <= minute < slot.end:
            on += [u for u in slot.staff if u not in on]
    return tuple(on)


def _next_boundary(rotation: Rotation, local: datetime) -> float | None:
    """The first slot start or end strictly after ``local`` (within the next 8 days)."""
    if not rotation.schedule:
        return None
    zone = rotation.zone
    best: float | None = None
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        for slot in rotation.schedule:
            if day.isoweekday() not in slot.days:
                continue
            for minute in (slot.start, slot.end):
                moment = datetime.combine(day, time(0), zone) + timedelta(minutes=minute)
                stamp = moment.timestamp()
                if stamp > local.timestamp() and (best is None or stamp < best):
                    best = stamp
        if best is not None:
            return best
    return best


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return bool(name)


def _slot(item: object, field: str) -> Slot:
    if not isinstance(item, Mapping):
        raise RotationError(field, "a schedule entry must be an object")
    days = item.get("days", [1, 2, 3, 4, 5, 6, 7])
    if (
        not isinstance(days, list)
        or not days
        or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in days)
    ):
        raise RotationError(f"{field}.days", "days must be a list of ISO weekdays 1..7")
    start = _minutes(item.get("start", "00:00"), f"{field}.start")
    end = _minutes(item.get("end", "24:00"), f"{field}.end")
    if end <= start:
        raise RotationError(f"{field}.end", "end must be after start")
    staff = _userids(item.get("staff"), f"{field}.staff", allow_empty=False)
    return Slot(frozenset(days), start, end, staff)


def _minutes(value: object, field: str) -> int:
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise RotationError(field, "times are HH:MM (00:00..24:00)")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _userids(value: object, field: str, *, allow_empty: bool) -> tuple[str, ...]:
    if not isinstance(value, list) or any(
        not isinstance(u, str) or not u or len(u) > 64 for u in value
    ):
        raise RotationError(field, "must be a list of userids")
    if not value and not allow_empty:
        raise RotationError(field, "must name at least one userid")
    return tuple(dict.fromkeys(value))

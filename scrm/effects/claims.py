"""Claiming an effect's row before its call: of all the runs that want a key, one wins.

A claim is an insert-or-nothing of a row under the effect's unique key, atomic on SQLite and
PostgreSQL alike. What a claim found taken means depends on the effect's policy:

- ``idempotent`` (tags): repeating is harmless. A live claim means someone is doing it: wait
  briefly for its outcome, else `EffectBusy` (a `Retry`) so the run settles later. A stale
  claim, an ``unknown`` or a retryable failure is taken over and called again.
- ``at_most_once`` (welcome messages, notices, robot messages): repeating is harmful. A stale
  claim is never retried: it becomes ``unknown`` and stays visible (``GET /api/v1/effects``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from scrm.db import Database
from scrm.effects.kinds import Policy
from scrm.effects.outcome import BUSY_POLL, EffectBusy, Outcome
from scrm.effects.summary import summary_json

log = logging.getLogger(__name__)
STALE = {"error": "claim went stale: the run died or overran its lease"}


async def claim(
    db: Database,
    key: str,
    kind: str,
    policy: Policy,
    subject: str | None,
    request: dict[str, Any],
    *,
    clock: Callable[[], float],
    lease: float,
    busy_wait: float,
) -> str | Outcome:
    """Our claim token, or the outcome someone else recorded; `EffectBusy` if in flight.

    A live claim of another run is waited on for ``busy_wait`` seconds at most; our own claim
    holds for ``lease`` seconds, after which another run may find it stale.
    """
    deadline = time.monotonic() + busy_wait
    while True:
        now = clock()
        token = secrets.token_hex(8)
        if await _insert(db, key, kind, policy, subject, request, token, now, now + lease):
            return token
        if await _take_over(db, key, policy, request, token, now, now + lease):
            return token
        if policy is Policy.AT_MOST_ONCE and await _expire(db, key, now):
            log.warning(
                "%s effect %s: its claim went stale; outcome unknown, not retried", kind, key
            )
            return Outcome(key, "unknown", result=STALE, performed=False)
        row = await _read(db, key)
        if row is None:
            continue
        if row["status"] != "claimed":
            if _reclaimable(row, policy):
                continue  # it changed between our statements: try again
            return _recorded(key, row)
        remaining = float(row["claimed_until"] or 0.0) - now
        if remaining < 0:
            continue  # went stale just now
        if time.monotonic() >= deadline:
            defer = min(remaining, lease) + BUSY_POLL
            raise EffectBusy(f"{kind} effect in progress in another run", defer=defer)
        await asyncio.sleep(BUSY_POLL)


async def _insert(
    db: Database,
    key: str,
    kind: str,
    policy: Policy,
    subject: str | None,
    request: dict[str, Any],
    token: str,
    now: float,
    until: float,
) -> bool:
    rows = await db.fetch(
        db.sql(
            'INSERT INTO effects ("key", kind, policy, subject, status, attempts, claim_token, '
            "claimed_until, retryable, request, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'claimed', 1, ?, ?, ?, ?, ?, ?) "
            'ON CONFLICT ("key") DO NOTHING RETURNING id'
        ),
        [key, kind, policy.value, subject, token, until, False, summary_json(request), now, now],
    )
    return bool(rows)


async def _take_over(
    db: Database,
    key: str,
    policy: Policy,
    request: dict[str, Any],
    token: str,
    now: float,
    until: float,
) -> bool:
    """Claim a row whose earlier attempt may be repeated; one process wins (row lock)."""
    again = "(status = 'failed' AND retryable = ?)"
    values: list[Any] = [True]
    if policy is Policy.IDEMPOTENT:
        again += " OR status = 'unknown' OR (status = 'claimed' AND claimed_until < ?)"
        values.append(now)
    rows = await db.fetch(
        db.sql(
            "UPDATE effects SET status = 'claimed', attempts = attempts + 1, claim_token = ?, "
            "claimed_until = ?, request = ?, retryable = ?, errcode = NULL, result = NULL, "
            f'updated_at = ?, finished_at = NULL WHERE "key" = ? AND ({again}) RETURNING id'
        ),
        [token, until, summary_json(request), False, now, key, *values],
    )
    return bool(rows)


async def _expire(db: Database, key: str, now: float) -> bool:
    """An at-most-once claim that went stale: its outcome is unknown for good."""
    rows = await db.fetch(
        db.sql(
            "UPDATE effects SET status = 'unknown', claim_token = NULL, result = ?, "
            'updated_at = ?, finished_at = ? WHERE "key" = ? '
            "AND status = 'claimed' AND claimed_until < ? RETURNING id"
        ),
        [summary_json(STALE), now, now, key, now],
    )
    return bool(rows)


async def _read(db: Database, key: str) -> Mapping[str, Any] | None:
    rows = await db.fetch(
        db.sql(
            'SELECT status, retryable, errcode, result, claimed_until FROM effects WHERE "key" = ?'
        ),
        [key],
    )
    return rows[0] if rows else None


def _reclaimable(row: Mapping[str, Any], policy: Policy) -> bool:
    if row["status"] == "failed":
        return bool(row["retryable"])
    return row["status"] == "unknown" and policy is Policy.IDEMPOTENT


def _recorded(key: str, row: Mapping[str, Any]) -> Outcome:
    result = json.loads(row["result"]) if row["result"] else {}
    return Outcome(key, row["status"], row["errcode"], result, performed=False)

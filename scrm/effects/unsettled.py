"""Idempotent effects on one subject whose outcome nobody knows, and settling them.

Before deciding about a customer again (say, which tags to mark), a feature asks for the
effects on it that went stale or got no answer, reads what is really in place, and settles
each: ``done``, or a retryable ``failed`` that the effect's own run may take over again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scrm.db import Database
from scrm.effects.kinds import Policy
from scrm.effects.outcome import BUSY_POLL, EffectBusy
from scrm.effects.summary import summary_json


@dataclass(frozen=True)
class UnsettledEffect:
    """An idempotent effect whose outcome nobody knows: its claim went stale, or no answer."""

    id: int
    key: str
    kind: str
    request: Mapping[str, Any]


async def list_unsettled(
    db: Database, subject: str, kind: str, *, now: float, lease: float
) -> list[UnsettledEffect]:
    """Idempotent effects on ``subject`` whose outcome is unknown (stale or unanswered).

    Raises `EffectBusy` while one is still claimed by a live run: its outcome may yet come,
    so a decision about ``subject`` must wait for it (or for its claim to go stale).
    """
    rows = await db.fetch(
        db.sql(
            'SELECT id, "key", kind, request, status, claimed_until FROM effects '
            "WHERE subject = ? AND kind = ? AND policy = ? AND status IN ('claimed', 'unknown') "
            "ORDER BY id"
        ),
        [subject, kind, Policy.IDEMPOTENT.value],
    )
    live = [
        float(row["claimed_until"]) - now
        for row in rows
        if row["status"] == "claimed" and float(row["claimed_until"]) >= now
    ]
    if live:
        defer = min(max(live), lease) + BUSY_POLL
        raise EffectBusy(f"a {kind} effect on this subject is in flight", defer=defer)
    return [
        UnsettledEffect(row["id"], row["key"], row["kind"], json.loads(row["request"]))
        for row in rows
    ]


async def resolve_unsettled(
    db: Database, effect: UnsettledEffect, *, done: bool, result: Mapping[str, Any], now: float
) -> bool:
    """Settle ``effect`` unless someone settled it first (then False)."""
    rows = await db.fetch(
        db.sql(
            "UPDATE effects SET status = ?, retryable = ?, claim_token = NULL, result = ?, "
            "updated_at = ?, finished_at = ? WHERE id = ? "
            "AND (status = 'unknown' OR (status = 'claimed' AND claimed_until < ?)) RETURNING id"
        ),
        ["done" if done else "failed", not done, summary_json(result), now, now, effect.id, now],
    )
    return bool(rows)

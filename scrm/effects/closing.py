"""Closing a claimed effect with its outcome, and a done effect's local mirror with it.

Only the run holding the claim token closes the row: a run that overran its lease and was
taken over leaves the newer attempt's row alone.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tortoise.transactions import in_transaction

from scrm.db import Database
from scrm.effects.outcome import Outcome
from scrm.effects.summary import summary_json

log = logging.getLogger(__name__)


async def close(
    db: Database,
    key: str,
    token: str,
    status: str,
    now: float,
    *,
    errcode: int | None = None,
    result: Mapping[str, Any],
    retryable: bool = False,
    on_done: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """Record ``status`` on our claim of ``key``; ``on_done`` runs in the same transaction."""
    sql = db.sql(
        "UPDATE effects SET status = ?, errcode = ?, result = ?, retryable = ?, "
        'claim_token = NULL, updated_at = ?, finished_at = ? WHERE "key" = ? '
        "AND claim_token = ? RETURNING id"
    )
    values = [status, errcode, summary_json(result), retryable, now, now, key, token]
    async with in_transaction() as conn:
        closed = await db.fetch(sql, values, conn)
        if on_done is not None:
            await on_done()  # the local mirror of a done effect commits with the row
    if not closed:
        log.warning("effect %s: the claim was taken over before it closed (%s)", key, status)
    return Outcome(key, status, errcode, dict(result))

"""The effect ledger: every outbound effect is claimed under a key before the call, closed after.

A worker can die between a WeCom call and the write that records it, and two workers can
decide the same thing at once. So an effect is first *claimed*: an insert-or-nothing of a row
under a unique idempotency key (``mark_tag:{corp}:{userid}:{external_userid}:{cause}``) that
one process wins, atomically, on SQLite and PostgreSQL alike. Only the winner calls; it then
closes the row as ``done``, ``failed`` (WeCom answered an errcode) or ``unknown`` (no answer:
a timeout, or the process died — the claim then goes stale once its lease ends).

What a claim found taken means depends on the effect's policy, fixed per kind:

- ``idempotent`` (tags): repeating is harmless. A live claim means someone is doing it: wait
  briefly for its outcome, else `EffectBusy` (a `Retry`) so the run settles later. A stale
  claim, an ``unknown`` or a retryable failure may be taken over and called again.
- ``at_most_once`` (welcome messages, notices, robot messages): repeating is harmful. A stale
  claim is never retried: it becomes ``unknown`` and stays visible (``GET /api/v1/effects``).

A key names the effect and its cause (the message id that asked for it): the ledger stops
retries and crashes from repeating an effect without blocking the next real one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from tortoise.transactions import in_transaction

from adapters.wecom import WeComAPIError, WeComError
from adapters.wecom.errors import scrub
from scrm.db import Database
from scrm.effects.models import Effect
from scrm.events.errors import Retry

log = logging.getLogger(__name__)
T = TypeVar("T")


class Policy(StrEnum):
    IDEMPOTENT = "idempotent"  # a repeat is harmless: stale claims are retried
    AT_MOST_ONCE = "at_most_once"  # a repeat is harmful: an unknown outcome stays unknown


# Every kind of outbound effect and its policy; a feature adds its kind here.
KINDS: dict[str, Policy] = {
    "mark_tag": Policy.IDEMPOTENT,
    "add_corp_tag": Policy.IDEMPOTENT,
    "send_welcome_msg": Policy.AT_MOST_ONCE,
    "send_app_message": Policy.AT_MOST_ONCE,
    "send_appchat": Policy.AT_MOST_ONCE,
    "robot_send": Policy.AT_MOST_ONCE,
    "update_contact_way": Policy.IDEMPOTENT,  # channels: who is on a code (same set = same)
}
STATUSES = ("claimed", "done", "failed", "unknown")
KEY_MAX = 255
BUSY_POLL = 0.05
STALE = {"error": "claim went stale: the run died or overran its lease"}


def effect_key(kind: str, *parts: object) -> str:
    """``kind:part:part…``; a key too long for the column keeps its head and a hash of it all."""
    key = ":".join((kind, *map(str, parts)))
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return key[: KEY_MAX - len(digest) - 1] + "#" + digest


@dataclass(frozen=True)
class Outcome:
    """How an effect ended: ``done``, ``failed`` (WeCom's errcode) or ``unknown``."""

    key: str
    status: str
    errcode: int | None = None
    result: Mapping[str, Any] = field(default_factory=dict)
    performed: bool = True  # False: the outcome an earlier run recorded; nothing was called

    @property
    def label(self) -> str:
        """The outcome as a hit's action shows it: ``done``, ``failed: errcode N``, ``unknown``."""
        if self.status == "failed" and self.errcode is not None:
            return f"failed: errcode {self.errcode}"
        return self.status


@dataclass(frozen=True)
class UnsettledEffect:
    """An idempotent effect whose outcome nobody knows: its claim went stale, or no answer."""

    id: int
    key: str
    kind: str
    request: Mapping[str, Any]


class EffectBusy(Retry):
    """Another live run holds the claim: try this run again once its claim has settled."""


class EffectLedger:
    """Claims, runs and records outbound effects (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        lease: float = 60.0,
        busy_wait: float = 2.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self.lease = lease  # keep it ≥ the longest call: a live claim must not look stale
        self.busy_wait = busy_wait

    async def run(
        self,
        key: str,
        kind: str,
        call: Callable[[], Awaitable[T]],
        *,
        subject: str | None = None,
        request: Mapping[str, Any] | None = None,
        summary: Callable[[T], Mapping[str, Any]] | None = None,
        on_done: Callable[[T], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Perform ``call`` once for ``key`` and return its outcome (or the recorded one).

        ``request`` and ``summary(result)`` are stored (ids and codes only, never secrets or
        message text); ``on_done(result)`` runs in the transaction that records ``done``, so a
        local mirror of the effect is written with it or not at all. A terminal WeCom errcode
        is a ``failed`` outcome; a retryable one is recorded and raised for the worker to retry.
        No answer at all is ``unknown``: raised again for an idempotent effect (the retry takes
        the claim over), returned for an at-most-once one (never retried).
        """
        policy = _policy(kind)
        if len(key) > KEY_MAX:
            raise ValueError(f"effect key longer than {KEY_MAX}: build it with effect_key()")
        claimed = await self._claim(key, kind, policy, subject, dict(request or {}))
        if isinstance(claimed, Outcome):
            return claimed
        token = claimed
        try:
            value = await call()
        except WeComAPIError as exc:  # WeCom answered: the effect did not happen
            outcome = await self._close(
                key,
                token,
                "failed",
                errcode=exc.errcode,
                result={"errmsg": exc.errmsg[:200]},
                retryable=exc.retryable,
            )
            if exc.retryable:
                raise
            return outcome
        except WeComError as exc:  # timeout, connection error, 5xx: it may have arrived
            outcome = await self._close(key, token, "unknown", result=_error(exc))
            if policy is Policy.IDEMPOTENT:
                raise
            log.warning("%s effect %s: outcome unknown, not retried (%s)", kind, key, exc)
            return outcome
        except BaseException as exc:  # cancelled, or a bug: the call may have gone out
            await self._close(key, token, "unknown", result=_error(exc))
            raise
        done = on_done

        async def mirror() -> None:
            if done is not None:
                await done(value)

        return await self._close(
            key, token, "done", result=summary(value) if summary else {}, on_done=mirror
        )

    async def find(self, key: str) -> Effect | None:
        """The ledger's row for ``key``, if an effect was ever claimed under it."""
        return await Effect.get_or_none(key=key)

    async def unsettled(self, subject: str, kind: str) -> list[UnsettledEffect]:
        """Idempotent effects on ``subject`` whose outcome is unknown (stale or unanswered).

        Raises `EffectBusy` while one is still claimed by a live run: its outcome may yet come,
        so a decision about ``subject`` must wait for it (or for its claim to go stale).
        """
        now = self._clock()
        rows = await self._fetch(
            'SELECT id, "key", kind, request, status, claimed_until FROM effects '
            "WHERE subject = ? AND kind = ? AND policy = ? AND status IN ('claimed', 'unknown') "
            "ORDER BY id",
            [subject, kind, Policy.IDEMPOTENT.value],
        )
        live = [
            float(row["claimed_until"]) - now
            for row in rows
            if row["status"] == "claimed" and float(row["claimed_until"]) >= now
        ]
        if live:
            defer = min(max(live), self.lease) + BUSY_POLL
            raise EffectBusy(f"a {kind} effect on this subject is in flight", defer=defer)
        return [
            UnsettledEffect(row["id"], row["key"], row["kind"], json.loads(row["request"]))
            for row in rows
        ]

    async def resolve(
        self, effect: UnsettledEffect, *, done: bool, result: Mapping[str, Any]
    ) -> bool:
        """Settle an unsettled effect from a fresh read: ``done`` if it is in place, else a
        retryable ``failed`` (its own run may take it over again). False if already settled."""
        now = self._clock()
        rows = await self._fetch(
            "UPDATE effects SET status = ?, retryable = ?, claim_token = NULL, result = ?, "
            "updated_at = ?, finished_at = ? WHERE id = ? "
            "AND (status = 'unknown' OR (status = 'claimed' AND claimed_until < ?)) RETURNING id",
            ["done" if done else "failed", not done, _json(result), now, now, effect.id, now],
        )
        return bool(rows)

    # -- claiming -----------------------------------------------------------------------------

    async def _claim(
        self, key: str, kind: str, policy: Policy, subject: str | None, request: dict[str, Any]
    ) -> str | Outcome:
        """Our claim token, or the outcome someone else recorded; `EffectBusy` if in flight."""
        deadline = time.monotonic() + self.busy_wait
        while True:
            now = self._clock()
            token = secrets.token_hex(8)
            if await self._insert(key, kind, policy, subject, request, token, now):
                return token
            if await self._take_over(key, policy, request, token, now):
                return token
            if policy is Policy.AT_MOST_ONCE and await self._expire(key, now):
                log.warning(
                    "%s effect %s: its claim went stale; outcome unknown, not retried", kind, key
                )
                return Outcome(key, "unknown", result=STALE, performed=False)
            row = await self._read(key)
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
                defer = min(remaining, self.lease) + BUSY_POLL
                raise EffectBusy(f"{kind} effect in progress in another run", defer=defer)
            await asyncio.sleep(BUSY_POLL)

    async def _insert(
        self,
        key: str,
        kind: str,
        policy: Policy,
        subject: str | None,
        request: dict[str, Any],
        token: str,
        now: float,
    ) -> bool:
        lease, body = now + self.lease, _json(request)
        rows = await self._fetch(
            'INSERT INTO effects ("key", kind, policy, subject, status, attempts, claim_token, '
            "claimed_until, retryable, request, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'claimed', 1, ?, ?, ?, ?, ?, ?) "
            'ON CONFLICT ("key") DO NOTHING RETURNING id',
            [key, kind, policy.value, subject, token, lease, False, body, now, now],
        )
        return bool(rows)

    async def _take_over(
        self, key: str, policy: Policy, request: dict[str, Any], token: str, now: float
    ) -> bool:
        """Claim a row whose earlier attempt may be repeated; one process wins (row lock)."""
        again = "(status = 'failed' AND retryable = ?)"
        values: list[Any] = [True]
        if policy is Policy.IDEMPOTENT:
            again += " OR status = 'unknown' OR (status = 'claimed' AND claimed_until < ?)"
            values.append(now)
        rows = await self._fetch(
            "UPDATE effects SET status = 'claimed', attempts = attempts + 1, claim_token = ?, "
            "claimed_until = ?, request = ?, retryable = ?, errcode = NULL, result = NULL, "
            f'updated_at = ?, finished_at = NULL WHERE "key" = ? AND ({again}) RETURNING id',
            [token, now + self.lease, _json(request), False, now, key, *values],
        )
        return bool(rows)

    async def _expire(self, key: str, now: float) -> bool:
        """An at-most-once claim that went stale: its outcome is unknown for good."""
        rows = await self._fetch(
            "UPDATE effects SET status = 'unknown', claim_token = NULL, result = ?, "
            'updated_at = ?, finished_at = ? WHERE "key" = ? '
            "AND status = 'claimed' AND claimed_until < ? RETURNING id",
            [_json(STALE), now, now, key, now],
        )
        return bool(rows)

    async def _read(self, key: str) -> Mapping[str, Any] | None:
        rows = await self._fetch(
            'SELECT status, retryable, errcode, result, claimed_until FROM effects WHERE "key" = ?',
            [key],
        )
        return rows[0] if rows else None

    # -- closing ------------------------------------------------------------------------------

    async def _close(
        self,
        key: str,
        token: str,
        status: str,
        *,
        errcode: int | None = None,
        result: Mapping[str, Any],
        retryable: bool = False,
        on_done: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        now = self._clock()
        sql = self._sql(
            "UPDATE effects SET status = ?, errcode = ?, result = ?, retryable = ?, "
            'claim_token = NULL, updated_at = ?, finished_at = ? WHERE "key" = ? '
            "AND claim_token = ? RETURNING id"
        )
        values = [status, errcode, _json(result), retryable, now, now, key, token]
        async with in_transaction() as conn:
            closed = await self._db.fetch(sql, values, conn)
            if on_done is not None:
                await on_done()  # the local mirror of a done effect commits with the row
        if not closed:
            log.warning("effect %s: the claim was taken over before it closed (%s)", key, status)
        return Outcome(key, status, errcode, dict(result))

    def _sql(self, sql: str) -> str:
        """``?`` placeholders as the dialect wants them (``$1…`` on PostgreSQL)."""
        if not self._db.is_postgres:
            return sql
        parts = sql.split("?")
        return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))

    async def _fetch(self, sql: str, values: list[Any]) -> Sequence[Any]:
        return await self._db.fetch(self._sql(sql), values)


def _policy(kind: str) -> Policy:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown effect kind {kind!r}: add it to scrm.effects.KINDS") from None


def _reclaimable(row: Mapping[str, Any], policy: Policy) -> bool:
    if row["status"] == "failed":
        return bool(row["retryable"])
    return row["status"] == "unknown" and policy is Policy.IDEMPOTENT


def _recorded(key: str, row: Mapping[str, Any]) -> Outcome:
    result = json.loads(row["result"]) if row["result"] else {}
    return Outcome(key, row["status"], row["errcode"], result, performed=False)


def _error(exc: BaseException) -> dict[str, Any]:
    """What is kept of an exception: its type and a scrubbed, short message."""
    return {"error": type(exc).__name__, "message": scrub(str(exc))[:200]}


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

"""The effect ledger: every outbound effect is claimed under a key before the call, closed after.

A worker can die between a WeCom call and the write that records it, and two workers can
decide the same thing at once. So an effect is first *claimed* (`scrm.effects.claims`): a
row under a unique idempotency key (`scrm.effects.keys`) that one process wins. Only the
winner calls; it then closes the row (`scrm.effects.closing`) as ``done``, ``failed`` (WeCom
answered an errcode) or ``unknown`` (no answer: a timeout, or the process died — the claim
then goes stale once its lease ends). Whether an unknown outcome may be tried again is the
policy of the effect's kind (`scrm.effects.kinds`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from adapters.wecom import WeComAPIError, WeComError
from scrm.db import Database
from scrm.effects.claims import claim
from scrm.effects.closing import close
from scrm.effects.keys import KEY_MAX
from scrm.effects.kinds import Policy, policy_of
from scrm.effects.models import Effect
from scrm.effects.outcome import Outcome
from scrm.effects.summary import error_summary
from scrm.effects.unsettled import UnsettledEffect, list_unsettled, resolve_unsettled

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        policy = policy_of(kind)
        if len(key) > KEY_MAX:
            raise ValueError(f"effect key longer than {KEY_MAX}: build it with effect_key()")
        claimed = await self._claim(key, kind, policy, subject, dict(request or {}))
        if isinstance(claimed, Outcome):
            return claimed
        token = claimed
        try:
            value = await call()
        except WeComAPIError as exc:  # WeCom answered: the effect did not happen
            outcome = await close(
                self._db,
                key,
                token,
                "failed",
                self._clock(),
                errcode=exc.errcode,
                result={"errmsg": exc.errmsg[:200]},
                retryable=exc.retryable,
            )
            if exc.retryable:
                raise
            return outcome
        except WeComError as exc:  # timeout, connection error, 5xx: it may have arrived
            outcome = await close(
                self._db, key, token, "unknown", self._clock(), result=error_summary(exc)
            )
            if policy is Policy.IDEMPOTENT:
                raise
            log.warning("%s effect %s: outcome unknown, not retried (%s)", kind, key, exc)
            return outcome
        except BaseException as exc:  # cancelled, or a bug: the call may have gone out
            await close(self._db, key, token, "unknown", self._clock(), result=error_summary(exc))
            raise
        done = on_done

        async def mirror() -> None:
            if done is not None:
                await done(value)

        result = summary(value) if summary else {}
        return await close(
            self._db, key, token, "done", self._clock(), result=result, on_done=mirror
        )

    async def find(self, key: str) -> Effect | None:
        """The ledger's row for ``key``, if an effect was ever claimed under it."""
        return await Effect.get_or_none(key=key)

    async def unsettled(self, subject: str, kind: str) -> list[UnsettledEffect]:
        """Idempotent effects on ``subject`` whose outcome is unknown (stale or unanswered).

        Raises `EffectBusy` while one is still claimed by a live run: its outcome may yet come,
        so a decision about ``subject`` must wait for it (or for its claim to go stale).
        """
        return await list_unsettled(self._db, subject, kind, now=self._clock(), lease=self.lease)

    async def resolve(
        self, effect: UnsettledEffect, *, done: bool, result: Mapping[str, Any]
    ) -> bool:
        """Settle an unsettled effect from a fresh read: ``done`` if it is in place, else a
        retryable ``failed`` (its own run may take it over again). False if already settled."""
        return await resolve_unsettled(
            self._db, effect, done=done, result=result, now=self._clock()
        )

    async def _claim(
        self, key: str, kind: str, policy: Policy, subject: str | None, request: dict[str, Any]
    ) -> str | Outcome:
        """Our claim token, or the outcome someone else recorded; `EffectBusy` if in flight."""
        return await claim(
            self._db,
            key,
            kind,
            policy,
            subject,
            request,
            clock=self._clock,
            lease=self.lease,
            busy_wait=self.busy_wait,
        )

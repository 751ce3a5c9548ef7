"""What running an effect through the ledger gives back (`Outcome`) or raises (`EffectBusy`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scrm.events.errors import Retry


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


class EffectBusy(Retry):
    """Another live run holds the claim: try this run again once its claim has settled."""


# How often a run waiting on another run's live claim looks again, and the margin added to a
# retry's delay so that the claim it waits for has ended by then.
BUSY_POLL = 0.05

"""The effect ledger: outbound effects (tags marked, messages sent) happen once.

Every feature that calls out goes through `Services.effects` (an `EffectLedger`): claim a key
before the call, record the outcome after it. `GET /api/v1/effects` lists them.
"""

from scrm.effects.keys import effect_key
from scrm.effects.kinds import KINDS, STATUSES, Policy
from scrm.effects.ledger import EffectLedger
from scrm.effects.outcome import EffectBusy, Outcome
from scrm.effects.unsettled import UnsettledEffect

__all__ = [
    "KINDS",
    "STATUSES",
    "EffectBusy",
    "EffectLedger",
    "Outcome",
    "Policy",
    "UnsettledEffect",
    "effect_key",
]

"""Every kind of outbound effect and its policy: whether repeating it is harmless.

The policy decides what the ledger does with an attempt whose outcome nobody knows: an
idempotent effect is called again, an at-most-once one stays ``unknown`` for good.
"""

from __future__ import annotations

from enum import StrEnum


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
    "send_email": Policy.AT_MOST_ONCE,
    "update_contact_way": Policy.IDEMPOTENT,  # channels: who is on a code (same set = same)
    "add_contact_way": Policy.AT_MOST_ONCE,  # channels: a repeat would issue a second code
    "del_contact_way": Policy.IDEMPOTENT,  # channels: deleting a deleted code changes nothing
}
STATUSES = ("claimed", "done", "failed", "unknown")


def policy_of(kind: str) -> Policy:
    """The policy of a known kind; an unknown kind is a programming error, not a runtime one."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown effect kind {kind!r}: add it to scrm.effects.KINDS") from None

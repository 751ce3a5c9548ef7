"""The one reader of a contact-way ``state``: parse it, make one, find its channel.

WeCom echoes the ``state`` a way was created with in the add callback (``State``) and in
``follow_user.state``, up to 30 characters. Every place that turns a state into a channel calls
`channel_for_state`: an empty, malformed or unknown state belongs to the explicit default
channel ``unattributed`` (created on first use), and each unknown value is logged once.
"""

from __future__ import annotations

import logging
import secrets
import string
import time

from tortoise.exceptions import IntegrityError

from scrm.channels.models import Channel

log = logging.getLogger(__name__)

STATE_MAX = 30  # WeCom's limit for add_contact_way's state
DEFAULT_STATE = "unattributed"
DEFAULT_NAME = "unattributed"
_ALPHABET = string.ascii_lowercase + string.digits
_unknown_logged: set[str] = set()


def parse_state(raw: object) -> str | None:
    """The state as stored, or None when there is none usable (empty, too long, not text).

    Surrounding blanks are dropped; inside, any printable text is kept as WeCom keeps it.
    """
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if not value or len(value) > STATE_MAX or not value.isprintable():
        return None
    return value


def state_problem(raw: object) -> str | None:
    """Why a state given for a new channel is refused, or None when it is fine."""
    if not isinstance(raw, str):
        return "state must be a string"
    if parse_state(raw) != raw:
        return f"state must be 1..{STATE_MAX} printable characters without surrounding blanks"
    if raw == DEFAULT_STATE:
        return f"state {DEFAULT_STATE!r} belongs to the default channel"
    return None


def new_state() -> str:
    """A short random state (``ch_`` + 10 characters, far below WeCom's 30)."""
    return "ch_" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


async def default_channel(now: float | None = None) -> Channel:
    """The ``unattributed`` channel, created the first time anyone needs it."""
    found = await Channel.get_or_none(state=DEFAULT_STATE)
    if found is not None:
        return found
    stamp = time.time() if now is None else now
    try:
        return await Channel.create(
            name=DEFAULT_NAME,
            kind="contact_way",
            state=DEFAULT_STATE,
            is_default=True,
            created_at=stamp,
            updated_at=stamp,
        )
    except IntegrityError:  # another worker created it first
        return await Channel.get(state=DEFAULT_STATE)


async def channel_for_state(raw: object, now: float | None = None) -> Channel:
    """The channel a state belongs to; the default channel when it belongs to none."""
    state = parse_state(raw)
    if state is not None:
        found = await Channel.get_or_none(state=state)
        if found is not None:
            return found
    key = repr(raw)[:80]
    # An empty state is simply no channel; an unknown one is worth one line (the set is bounded).
    if state is not None and key not in _unknown_logged and len(_unknown_logged) < 1000:
        _unknown_logged.add(key)
        log.warning("state %s belongs to no channel; attributed to %r", key, DEFAULT_NAME)
    return await default_channel(now)

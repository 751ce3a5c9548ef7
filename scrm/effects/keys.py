"""Idempotency keys: a key names an effect and its cause, so a retry finds the earlier attempt.

``mark_tag:{corp}:{userid}:{external_userid}:{cause}`` — the cause (say, the message id that
asked for the tag) keeps a retry or a crash from repeating the effect without blocking the
next real one.
"""

from __future__ import annotations

import hashlib

KEY_MAX = 255  # the width of effects.key


def effect_key(kind: str, *parts: object) -> str:
    """``kind:part:part…``; a key too long for the column keeps its head and a hash of it all."""
    key = ":".join((kind, *map(str, parts)))
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return key[: KEY_MAX - len(digest) - 1] + "#" + digest

"""Guarantee 7: chat content rests only encrypted, and in the inbox only for a bounded time.

An event that carries message content is *sealed* before the inbox commits it: the content
is encrypted (`ContentSeal`, implemented by `archive.keys.inbox_seal` with the archive's keys) and
only routing metadata stays readable. A worker unseals it for the handler that loads it. Once
every handler has processed it (the archive encrypts it, tagging matches it) the row is
stripped down to the metadata; runs still unfinished after SCRM_INBOX_CONTENT_TTL_DAYS are
closed as ``expired`` and the content is stripped all the same (`scrm.events.expiry`). An
event that no handler wants is stripped before it is ever written.
"""

from __future__ import annotations

from typing import Any, Protocol

CONTENT_EVENT_PREFIXES = ("message.", "chat.message")
# What may stay: who, when, which conversation, which kind — never what was said.
METADATA_KEYS = frozenset(
    {
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "MsgId",
        "AgentID",
        "msgid",
        "action",
        "from",
        "tolist",
        "roomid",
        "msgtime",
        "msgtype",
        "sender_kind",
    }
)
STRIPPED_MARK = "_content_stripped"
SEALED_MARK = "_sealed"  # the encrypted payload; its presence means "unseal before use"


class SealError(Exception):
    """Sealed content cannot be opened: its key is gone, or it was altered or moved."""


class ContentSeal(Protocol):
    """Encrypts an event's payload for the inbox; `bind` ties it to one event (dedupe key)."""

    def seal(self, payload: dict[str, Any], *, bind: str) -> dict[str, Any]:
        """The payload's metadata in clear plus the whole payload encrypted under SEALED_MARK."""
        ...

    def unseal(self, payload: dict[str, Any], *, bind: str) -> dict[str, Any]:
        """The payload as it was before `seal`; `SealError` when it cannot be opened."""
        ...


def carries_content(event_name: str) -> bool:
    return event_name.startswith(CONTENT_EVENT_PREFIXES)


def is_sealed(payload: dict[str, Any]) -> bool:
    return SEALED_MARK in payload


def metadata_of(payload: dict[str, Any]) -> dict[str, Any]:
    """Who, when, which conversation: the keys of a payload that may rest in clear."""
    return {key: value for key, value in payload.items() if key in METADATA_KEYS}


def strip_content(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without anything a person wrote."""
    kept = metadata_of(payload)  # a sealed payload loses its ciphertext too
    kept[STRIPPED_MARK] = True
    return kept

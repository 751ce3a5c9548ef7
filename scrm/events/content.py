"""Guarantee 7: chat content rests only in the archive's ciphertext, never in the inbox.

An event that carries message content keeps it in the inbox only until every handler has
processed it (the archive encrypts it, tagging matches it); then the row is stripped down to
routing metadata. An event that no handler wants is stripped before it is ever written.
"""

from __future__ import annotations

from typing import Any

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


def carries_content(event_name: str) -> bool:
    return event_name.startswith(CONTENT_EVENT_PREFIXES)


def strip_content(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without anything a person wrote."""
    kept = {key: value for key, value in payload.items() if key in METADATA_KEYS}
    kept[STRIPPED_MARK] = True
    return kept

"""Chat messages as events: WeCom's decrypted session-archive JSON, validated once.

Every source — `POST /api/v1/messages`, the archive import, the session-archive pull, the
sandbox — turns a message into the same `chat.message` inbox event, deduped on `msgid`, which
fans out to the archive (encrypt and store) and tagging (match keywords).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scrm.events.inbox import IncomingEvent
from scrm.storable import UnstorableText, check_storable

EVENT_NAME = "chat.message"
MAX_CONTENT_CHARS = 20_000
MAX_USERID = 64  # WeCom userids and external_userids; the columns that hold them are this wide
_EXTERNAL_PREFIXES = ("wo", "wm")  # external_userid (PROTOCOL §5.5)
_ROBOT_PREFIX = "wb"
_MS_2001, _MS_2100 = 978_307_200_000, 4_102_444_800_000


class ChatMessageError(ValueError):
    """One message is malformed; `field` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def sender_kind(userid: str) -> str:
    """``customer`` for external ids, ``robot`` for group robots, else ``staff``."""
    if userid.startswith(_EXTERNAL_PREFIXES):
        return "customer"
    if userid.startswith(_ROBOT_PREFIX):
        return "robot"
    return "staff"


@dataclass(frozen=True)
class ChatMessage:
    msgid: str
    action: str
    sender: str
    tolist: tuple[str, ...]
    roomid: str
    msgtime: int  # ms
    msgtype: str
    text: str | None
    raw: Mapping[str, Any]

    @property
    def sender_kind(self) -> str:
        return sender_kind(self.sender)

    @property
    def customers(self) -> list[str]:
        """External users in the conversation (the sender first)."""
        people = (self.sender, *self.tolist)
        return [p for p in dict.fromkeys(people) if sender_kind(p) == "customer"]

    @property
    def staff(self) -> list[str]:
        people = (self.sender, *self.tolist)
        return [p for p in dict.fromkeys(people) if sender_kind(p) == "staff"]

    def to_event(self, source: str) -> IncomingEvent:
        payload = dict(self.raw) | {"sender_kind": self.sender_kind}
        return IncomingEvent(
            dedupe_key=f"chat:{self.msgid}",
            name=EVENT_NAME,
            source=source,
            payload=payload,
            occurred_at=self.msgtime // 1000,
        )


def _text(data: Mapping[str, Any], key: str, *, limit: int = 128) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ChatMessageError(key, "must be a non-empty string")
    if len(value) > limit:
        raise ChatMessageError(key, f"must be at most {limit} characters")
    return value


def parse_chat_message(data: Any) -> ChatMessage:
    """Validate one message in WeCom's decrypted shape (PROTOCOL §5.5)."""
    if not isinstance(data, Mapping):
        raise ChatMessageError("message", "must be a JSON object")
    try:  # one NUL or lone surrogate must not fail the batch the message is stored with
        check_storable(data)
    except UnstorableText as exc:
        raise ChatMessageError(exc.field or "message", exc.reason) from None
    msgid = _text(data, "msgid")
    action = _text(data, "action")
    if action not in ("send", "recall"):
        raise ChatMessageError("action", "must be 'send' or 'recall'")
    sender = _text(data, "from", limit=MAX_USERID)
    tolist = data.get("tolist", [])
    if not isinstance(tolist, list) or not all(
        isinstance(t, str) and 0 < len(t) <= MAX_USERID for t in tolist
    ):
        raise ChatMessageError(
            "tolist", f"must be a list of user ids of 1 to {MAX_USERID} characters"
        )
    if len(tolist) > 2000:
        raise ChatMessageError("tolist", "must have at most 2000 entries")
    roomid = data.get("roomid", "")
    if not isinstance(roomid, str) or len(roomid) > 128:
        raise ChatMessageError("roomid", "must be a string (empty for 1:1 chats)")
    if not roomid and not tolist:
        raise ChatMessageError("tolist", "a 1:1 message needs a recipient")
    msgtime = data.get("msgtime")
    if isinstance(msgtime, bool) or not isinstance(msgtime, int):
        raise ChatMessageError("msgtime", "must be milliseconds since the epoch")
    if not _MS_2001 <= msgtime <= _MS_2100:
        raise ChatMessageError("msgtime", "must be milliseconds since the epoch")
    msgtype = _text(data, "msgtype", limit=64)
    text = None
    if msgtype == "text":
        body = data.get("text")
        content = body.get("content") if isinstance(body, Mapping) else None
        if not isinstance(content, str):
            raise ChatMessageError("text.content", "a text message needs text.content")
        if len(content) > MAX_CONTENT_CHARS:
            raise ChatMessageError(
                "text.content", f"must be at most {MAX_CONTENT_CHARS} characters"
            )
        text = content
    return ChatMessage(msgid, action, sender, tuple(tolist), roomid, msgtime, msgtype, text, data)

"""WeCom message JSON builders for archive tests."""

from __future__ import annotations

from typing import Any

NOV_2025 = 1_763_000_000_000  # ms, 2025-11-13 UTC


def text_message(
    msgid: str,
    content: str,
    *,
    sender: str = "zhangsan",
    to: str = "wmCustomerA",
    msgtime: int = NOV_2025,
    roomid: str = "",
) -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": [to],
        "roomid": roomid,
        "msgtime": msgtime,
        "msgtype": "text",
        "text": {"content": content},
    }


async def content(runtime: Any, msgid: str) -> str | None:
    """The decrypted text of an archived message, None if it cannot be read."""
    from archive.store.read import read_message

    message = await read_message(runtime, msgid)
    return None if message is None else str(message["text"]["content"])

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

"""Notice texts: byte limits cut at a character boundary; merged notices name every ticket."""

from __future__ import annotations

from scrm.tickets.notices import for_channel, merge, truncate_bytes


def test_truncate_at_a_character_boundary() -> None:
    text = "过敏" * 3000  # 3 bytes a character
    cut = truncate_bytes(text, 4096)
    assert len(cut.encode()) <= 4096
    assert cut.endswith("…")
    cut.encode().decode("utf-8")  # whole characters only
    assert truncate_bytes("short", 4096) == "short"


def test_merge_names_every_ticket_even_when_cut() -> None:
    numbers = [f"T-20261130-{n:04d}" for n in range(1, 31)]
    texts = [f"新工单 **{number}**\n" + "详情" * 400 for number in numbers]
    merged = merge(texts, numbers, 4096)
    assert len(merged.encode()) <= 4096
    assert all(number in merged for number in numbers)
    assert merged.startswith("**30 条工单通知**")


def test_one_notice_is_sent_as_it_is() -> None:
    assert merge(["a"], ["T-1"], 4096) == "a"


def test_a_mention_is_robot_markdown_only() -> None:
    text = "【P0】T-20261130-0001 工单分派 → <@zhangsan>"
    assert for_channel(text, "robot") == text
    for kind in ("appchat", "user", "email"):
        assert for_channel(text, kind) == "【P0】T-20261130-0001 工单分派 → @zhangsan"

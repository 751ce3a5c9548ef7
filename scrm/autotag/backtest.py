"""Backtest a rule over the archived messages of a period, without taking any action.

Messages come from the encrypted archive page by page (the archive decrypts; no key leaves
it) and stream through the pure `tagging.Backtest`, which keeps only hit times. The run is
recorded in the archive's audit log, since it reads message content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from archive.audit import AuditEvent, append_audit
from archive.runtime import ArchiveRuntime
from archive.search import SearchFilters, search
from scrm.autotag.handlers import customer_of
from scrm.chat import ChatMessageError, parse_chat_message
from tagging import Backtest, BacktestReport, KeywordRule, StoredMessage

PAGE = 1000


def _stored(messages: list[dict[str, Any]]) -> Iterator[StoredMessage]:
    for data in messages:
        try:
            message = parse_chat_message(data)
        except ChatMessageError:
            continue
        customer = customer_of(message)
        if message.text is None or customer is None or message.sender_kind == "robot":
            continue
        yield StoredMessage(
            message.msgid, customer, message.sender_kind, message.msgtime, message.text
        )


async def backtest_rule(
    runtime: ArchiveRuntime,
    rule: KeywordRule,
    *,
    from_ms: int,
    to_ms: int,
    actor: str,
    max_messages: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[BacktestReport, bool]:
    """Run ``rule`` over messages sent in [from_ms, to_ms]; True when cut at ``max_messages``."""
    run = Backtest(rule)
    filters = SearchFilters(from_ms=from_ms, to_ms=to_ms, msgtype="text")
    cursor: str | None = None
    truncated = False
    while True:
        page, cursor = await search(runtime, filters, PAGE, cursor)
        run.feed(_stored(page))
        if progress is not None:
            progress(run.scanned)
        if cursor is None:
            break
        if max_messages is not None and run.scanned >= max_messages:
            truncated = True
            break
    report = run.report()
    await append_audit(
        runtime,
        AuditEvent(
            actor=actor,
            role="service_admin",
            action="backtest",
            justification=f"backtest of keyword rule {rule.name!r}",
            filters={"from": from_ms, "to": to_ms, "rule": rule.name},
            result_count=report.messages_matched,
            outcome="done",
        ),
    )
    return report, truncated

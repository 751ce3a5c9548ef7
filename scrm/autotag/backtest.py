"""Backtest a rule over the archived messages of a period, without taking any action.

Messages come from the encrypted archive page by page (the archive decrypts; no key leaves
it) and stream through the pure `tagging.Backtest`, which keeps only hit times (and, for a
reviewer, a few samples). The service admin and the command line get the summary — counts
and the set of matched keywords; texts and positions are a reviewer's query
(`POST /api/v1/archive/backtest`), scoped and audited like a search. Every run is recorded
in the archive's audit log, since it reads message content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from archive.review.audit_log import AuditEvent, append_audit
from archive.review.search import SearchFilters, search
from archive.runtime import ArchiveRuntime
from scrm.autotag.handlers import customer_of
from scrm.chat import ChatMessageError, parse_chat_message
from tagging import Backtest, BacktestReport, KeywordRule, StoredMessage

PAGE = 1000
AUDITED_KEYWORDS = 100  # the audit entry names the rule's keywords, up to this many


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
    staff_scope: tuple[str, ...] | None = None,
    sample_limit: int = 0,
    max_messages: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[BacktestReport, bool]:
    """Run ``rule`` over messages sent in [from_ms, to_ms] (of ``staff_scope`` only, if
    given); True when cut at ``max_messages``. Samples are kept only when asked for."""
    run = Backtest(rule, sample_limit=sample_limit)
    filters = SearchFilters(from_ms=from_ms, to_ms=to_ms, msgtype="text", staff_scope=staff_scope)
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
    return run.report(), truncated


def audit_filters(rule: KeywordRule, from_ms: int, to_ms: int) -> dict[str, Any]:
    """What a backtest's audit entry says it looked for (an auditor can judge the rule)."""
    keywords = [*rule.keywords_any, *rule.keywords_all]
    return {
        "from": from_ms,
        "to": to_ms,
        "rule": rule.name,
        "rule_id": rule.id or None,
        "keywords": keywords[:AUDITED_KEYWORDS],
        "keyword_count": len(keywords),
    }


async def audit_summary_backtest(
    runtime: ArchiveRuntime,
    rule: KeywordRule,
    report: BacktestReport,
    *,
    from_ms: int,
    to_ms: int,
    actor: str,
) -> None:
    """Record a backtest that returned only its summary (the admin API, the command line)."""
    await append_audit(
        runtime,
        AuditEvent(
            actor=actor,
            role="service_admin",
            action="backtest",
            justification=f"backtest of keyword rule {rule.name!r} (summary only)",
            filters=audit_filters(rule, from_ms, to_ms),
            result_count=report.messages_matched,
            outcome="done",
        ),
    )

"""`archive import FILE.jsonl`: one WeCom message JSON per line, bad lines reported, good kept.

Each batch is stored in the archive directly (one transaction for 500 messages, far faster
than one handler run per message) and then enqueued as `chat.message` events, like every
other source, so auto-tagging sees imported messages too; the archive's own handler finds
them stored and does nothing. Both steps are idempotent on msgid: a re-run after a crash
between them completes what was missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archive.pull.puller import Enqueue
from archive.runtime import ArchiveRuntime
from archive.store.write import StorePipeline
from scrm.chat import ChatMessage, ChatMessageError, parse_chat_message
from scrm.events.inbox import InboxUnavailable

BATCH = 500
SOURCE = "archive_import"


@dataclass
class ImportReport:
    """What an import did; `errors` are (line number, reason) and never quote content."""

    read: int = 0
    stored: int = 0
    queued: int = 0  # new chat.message events
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.read - len(self.errors) - self.stored


def _parse(
    lines: Iterator[str], report: ImportReport, line_of: dict[str, int]
) -> Iterator[ChatMessage]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.read += 1
        try:
            message = parse_chat_message(json.loads(line))
        except json.JSONDecodeError as exc:
            report.errors.append((number, f"not valid JSON (column {exc.colno})"))
            continue
        except ChatMessageError as exc:
            report.errors.append((number, f"{exc.field}: {exc.message}"))
            continue
        line_of[message.msgid] = number
        yield message


async def import_jsonl(
    runtime: ArchiveRuntime, path: Path, enqueue: Enqueue | None = None
) -> ImportReport:
    """Store every valid line (idempotent on msgid) and enqueue it as a `chat.message` event;
    report the others by line number. Batch N+1 is prepared while batch N commits."""
    report = ImportReport()
    pipeline = StorePipeline(runtime)
    previous: list[ChatMessage] = []
    line_of: dict[str, int] = {}  # msgid → line, for the two batches in flight
    failed: set[str] = set()

    def take_failures() -> None:
        for msgid, reason in pipeline.failed:
            failed.add(msgid)
            report.errors.append((line_of.get(msgid, 0), f"could not be stored ({reason})"))
        pipeline.failed.clear()

    async def committed(batch: list[ChatMessage], stored: int) -> None:
        take_failures()
        report.stored += stored
        batch = [message for message in batch if message.msgid not in failed]
        if enqueue is None or not batch:
            return
        try:
            report.queued += sum(await enqueue([message.to_event(SOURCE) for message in batch]))
        except InboxUnavailable as exc:  # archived; a re-run queues what is missing
            if exc.stored is None:
                raise
            report.queued += sum(1 for is_new in exc.stored if is_new)
            for message, is_new in zip(batch, exc.stored, strict=True):
                if is_new is None:
                    line = line_of.get(message.msgid, 0)
                    report.errors.append((line, "archived, but not queued: run the import again"))

    async def submit(batch: list[ChatMessage]) -> None:
        nonlocal previous
        stored = await pipeline.submit([message.raw for message in batch])  # commits previous
        await committed(previous, stored)
        current = {message.msgid for message in batch}
        for message in previous:  # its failures are reported; keep the map small
            if message.msgid not in current:
                line_of.pop(message.msgid, None)
        previous = batch

    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            batch: list[ChatMessage] = []
            for message in _parse(iter(handle), report, line_of):
                batch.append(message)
                if len(batch) >= BATCH:
                    await submit(batch)
                    batch = []
            if batch:
                await submit(batch)
        await committed(previous, await pipeline.finish())
    finally:
        await pipeline.close()
    report.errors.sort()
    return report

"""`archive import FILE.jsonl`: one WeCom message JSON per line, bad lines reported, good kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.runtime import ArchiveRuntime
from archive.store import store_messages
from scrm.chat import ChatMessageError, parse_chat_message

BATCH = 500


@dataclass
class ImportReport:
    """What an import did; `errors` are (line number, reason) and never quote content."""

    read: int = 0
    stored: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.read - len(self.errors) - self.stored


def _parse(lines: Iterator[str], report: ImportReport) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.read += 1
        try:
            data = json.loads(line)
            parse_chat_message(data)
        except json.JSONDecodeError as exc:
            report.errors.append((number, f"not valid JSON (column {exc.colno})"))
            continue
        except ChatMessageError as exc:
            report.errors.append((number, f"{exc.field}: {exc.message}"))
            continue
        yield data


async def import_jsonl(runtime: ArchiveRuntime, path: Path) -> ImportReport:
    """Store every valid line (idempotent on msgid); report the others by line number."""
    report = ImportReport()
    with path.open(encoding="utf-8", errors="replace") as handle:
        batch: list[dict[str, Any]] = []
        for message in _parse(iter(handle), report):
            batch.append(message)
            if len(batch) >= BATCH:
                report.stored += await store_messages(runtime, batch)
                batch = []
        if batch:
            report.stored += await store_messages(runtime, batch)
    return report

"""The index rows of each record, recomputed from its decrypted message and compared.

Searches narrow by the index before they decrypt anything, so a missing or altered index
row hides a record from reviewers without breaking any chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from archive.runtime import ArchiveRuntime
from archive.store.write import IndexEntry


class StoredIndex:
    """One partition's participant keys and tokens, by record id, as stored."""

    def __init__(self, is_postgres: bool) -> None:
        self.is_postgres = is_postgres
        self.participants: dict[int, set[int]] = defaultdict(set)
        self.postings: dict[int, set[int]] = defaultdict(set)
        self.token_table = "archive_records.tokens" if is_postgres else "archive_postings"

    async def load(self, runtime: ArchiveRuntime, pid: int) -> None:
        db = runtime.db
        mark = db.placeholders(1)[0]
        tables = [("archive_participants", "key", self.participants)]
        if not self.is_postgres:
            tables.append(("archive_postings", "token", self.postings))
        for table, column, into in tables:
            rows = await db.fetch(
                f"SELECT t.record_id, t.{column} AS value FROM {table} t "
                f"JOIN archive_records r ON r.id = t.record_id WHERE r.partition_id = {mark}",
                [pid],
            )
            for row in rows:
                into[row["record_id"]].add(row["value"])

    def tokens_of(self, row: Mapping[str, Any]) -> set[int]:
        if self.is_postgres:
            return set(row["tokens"] or ())
        return self.postings.get(row["id"], set())


def index_problems(expected: IndexEntry, row: Mapping[str, Any], stored: StoredIndex) -> list[str]:
    """What the stored index says differently from the message itself."""
    found: list[str] = []
    if row["conversation"] != expected.conversation:
        found.append("conversation column differs from the message's conversation")
    if row["hour"] != expected.hour:
        found.append(f"hour column is {row['hour']}, the message's hour is {expected.hour}")
    if row["msgtype"] != expected.msgtype:
        found.append(f"msgtype column is {row['msgtype']!r}, the message's is {expected.msgtype!r}")
    for what, have, want in (
        ("archive_participants", stored.participants.get(row["id"], set()), expected.participants),
        (stored.token_table, stored.tokens_of(row), set(expected.tokens)),
    ):
        if have != want:
            found.append(
                f"{what}: {len(want - have)} index rows missing, {len(have - want)} unexpected "
                "(searches would miss or misfile this record)"
            )
    return found

"""Compliance search: hashed filters and blind-index tokens narrow in SQL, plaintext confirms.

Candidates come back in archive order (record id). Filters on hashed columns are exact
(up to 64-bit collisions); time is filtered by the hour in SQL and to the millisecond after
decryption; the keyword is confirmed as a substring of the normalised text, so a token
collision or a bigram match across words never yields a wrong result. A candidate that does
not decrypt (tampered, moved, its data key not openable) is left out and named in
`problems`, so one damaged record never fails a whole search.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Any, TypeAlias

from archive.errors import ArchiveCryptoError
from archive.runtime import ArchiveRuntime
from archive.store.read import RECORD_COLUMNS, PartitionKeys, decrypt_row
from scrm.chat import sender_kind
from tagging.normalize import normalize

log = logging.getLogger(__name__)
HOUR_MS = 3_600_000
BATCH = 200
MAX_SCANNED = 5_000  # candidates decrypted per request before handing back a cursor
MAX_RECORD_ID = 2**62  # record ids are BIGINT: a larger cursor is not ours


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """A reviewer's query; `staff_scope` (if set) restricts results to those staff."""

    customer: str | None = None
    staff: str | None = None
    room: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    keyword: str | None = None
    msgtype: str | None = None
    staff_scope: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SearchProblem:
    """A candidate record that could not be read; it is missing from the results."""

    record_id: int
    msgid: str
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"record": self.record_id, "msgid": self.msgid, "problem": self.detail}


def encode_cursor(after_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after_id}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The record id a cursor continues after (ValueError if it is not ours)."""
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ValueError("cursor is not valid") from None
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_RECORD_ID:
        raise ValueError("cursor is not valid")
    return after


def _fetch_size(limit: int, found: int) -> int:
    """Rows to fetch next: what is still missing plus a quarter for candidates that fail the
    plaintext check — a 50-message page reads ~60 ciphertexts, not a whole batch of 200."""
    missing = limit - found
    return min(BATCH, missing + missing // 4 + 1)


async def _candidates(
    runtime: ArchiveRuntime, tokens: list[int], after: int, size: int = BATCH
) -> list[int]:
    """SQLite: intersect the posting lists in id order, on the (token, record_id) index alone."""
    db = runtime.db
    joins = "".join(
        f" JOIN archive_postings p{i} ON p{i}.record_id = p0.record_id AND p{i}.token = {{}}"
        for i in range(1, len(tokens))
    )
    sql = (
        f"SELECT p0.record_id AS id FROM archive_postings p0{joins} "
        f"WHERE p0.token = {{}} AND p0.record_id > {{}} ORDER BY p0.record_id LIMIT {int(size)}"
    )
    values = [*tokens[1:], tokens[0], after]
    rows = await db.fetch(sql.format(*db.placeholders(len(values))), values)
    return [row["id"] for row in rows]


def _sql(
    runtime: ArchiveRuntime,
    filters: SearchFilters,
    after: int,
    ids: list[int] | None = None,
    tokens: list[int] | None = None,
    size: int = BATCH,
) -> tuple[str, list[Any]]:
    """Narrow by keyword (candidate ids, or tokens on PostgreSQL's GIN index), hashed
    participants, hour and msgtype."""
    db = runtime.db
    values: list[Any] = [after]
    where = ["r.id > {}"]
    if ids is not None:
        where.append(f"r.id IN ({','.join('{}' for _ in ids)})")
        values.extend(ids)
    if tokens is not None:
        where.append("r.tokens @> {}::bigint[]")
        values.append(tokens)

    def member(table: str, column: str, keys: list[int]) -> None:
        where.append(
            f"r.id IN (SELECT record_id FROM {table} WHERE {column} IN "
            f"({','.join('{}' for _ in keys)}))"
        )
        values.extend(keys)

    for kind, value in (("customer", filters.customer), ("staff", filters.staff)):
        if value:
            member("archive_participants", "key", [runtime.filter_key(kind, value)])
    if filters.room:
        member("archive_participants", "key", [runtime.filter_key("room", filters.room)])
    if filters.staff_scope is not None and not filters.staff:
        member(
            "archive_participants",
            "key",
            [runtime.filter_key("staff", who) for who in filters.staff_scope],
        )
    if filters.from_ms is not None:
        where.append("r.hour >= {}")
        values.append(filters.from_ms // HOUR_MS)
    if filters.to_ms is not None:
        where.append("r.hour <= {}")
        values.append(filters.to_ms // HOUR_MS)
    if filters.msgtype:
        where.append("r.msgtype = {}")
        values.append(filters.msgtype)
    sql = " AND ".join(where).format(*db.placeholders(len(values)))
    order = f"ORDER BY r.id LIMIT {int(size)}"
    return f"SELECT {RECORD_COLUMNS} FROM archive_records r WHERE {sql} {order}", values


def matches(message: dict[str, Any], filters: SearchFilters) -> bool:
    """Confirm a decrypted candidate against every filter, on the plaintext."""
    people = [message.get("from", ""), *message.get("tolist", [])]
    if filters.customer and filters.customer not in people:
        return False
    if filters.staff and filters.staff not in people:
        return False
    if filters.room and message.get("roomid") != filters.room:
        return False
    if filters.staff_scope is not None:
        staff = {p for p in people if sender_kind(p) == "staff"}
        if not staff & set(filters.staff_scope):
            return False
    msgtime = message.get("msgtime", 0)
    if filters.from_ms is not None and msgtime < filters.from_ms:
        return False
    if filters.to_ms is not None and msgtime > filters.to_ms:
        return False
    if filters.msgtype and message.get("msgtype") != filters.msgtype:
        return False
    if filters.keyword:
        text = (message.get("text") or {}).get("content", "")
        return normalize(filters.keyword).strip() in normalize(text)
    return True


Found: TypeAlias = list[tuple[dict[str, Any], dict[str, Any]]]  # (record row, message)


async def search(
    runtime: ArchiveRuntime,
    filters: SearchFilters,
    limit: int,
    cursor: str | None = None,
    problems: list[SearchProblem] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Return up to `limit` matching messages and the cursor of the next page (or None).

    Candidates that cannot be decrypted are appended to `problems` (logged if it is None).
    """
    found, next_cursor = await search_records(runtime, filters, limit, cursor, problems)
    return [message for _, message in found], next_cursor


async def _readable(
    keys: PartitionKeys, row: Any, problems: list[SearchProblem] | None
) -> dict[str, Any] | None:
    """The decrypted message, or None (shredded, or unreadable: then a problem is noted)."""
    try:
        return await decrypt_row(keys, row)
    except ArchiveCryptoError as exc:
        problem = SearchProblem(row["id"], row["msgid"], f"record does not decrypt: {exc}")
        if problems is None:
            log.warning("archive record %d left out of a search: %s", row["id"], problem.detail)
        else:
            problems.append(problem)
        return None


async def search_records(
    runtime: ArchiveRuntime,
    filters: SearchFilters,
    limit: int,
    cursor: str | None = None,
    problems: list[SearchProblem] | None = None,
) -> tuple[Found, str | None]:
    """Like `search`, with each message's record row (export needs the hashes)."""
    after = decode_cursor(cursor) if cursor else 0
    keys = PartitionKeys(runtime)
    found: Found = []
    scanned = 0
    tokens = sorted(runtime.query_tokens(filters.keyword)) if filters.keyword else None
    on_gin = runtime.db.is_postgres
    while True:
        size = _fetch_size(limit, len(found))
        if tokens is not None and not on_gin:
            ids = await _candidates(runtime, tokens, after, size)
            rows = list(await runtime.db.fetch(*_sql(runtime, filters, after, ids))) if ids else []
            exhausted, scan_end, scanned = (
                len(ids) < size,
                max(ids, default=after),
                scanned + len(ids),
            )
        else:
            query = _sql(runtime, filters, after, tokens=tokens if on_gin else None, size=size)
            rows = list(await runtime.db.fetch(*query))
            exhausted, scan_end = len(rows) < size, rows[-1]["id"] if rows else after
            scanned += len(rows)
        for row in rows:
            message = await _readable(keys, row, problems)
            if message is not None and matches(message, filters):
                found.append((dict(row), message))
                if len(found) == limit:
                    return found, encode_cursor(row["id"])
        after = scan_end
        if exhausted:
            return found, None
        if scanned >= MAX_SCANNED:
            return found, encode_cursor(after)

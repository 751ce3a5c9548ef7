"""KEK rotation: re-wrap every data key under a new KEK while the service keeps running.

With a key file, `rotate_kek` adds a fresh KEK to the file (made active) and re-wraps;
running services meet the new KEK id on their next unwrap and re-read the file. With
SCRM_ARCHIVE_KEYS the operator adds the new KEK and ``active=`` it first (and rolls the
services), then runs the command to re-wrap. The old KEK stays until `retire_kek`.
Each row is updated compare-and-set, so a racing retention shred is never undone.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

from archive.errors import KeyRingError
from archive.keys.envelope import WrappedKey, rewrap
from archive.keys.inbox_seal import count_sealed_under, like_literal
from archive.keys.key_file import write_key_file
from archive.keys.ring import KEY_BYTES
from archive.review.audit_log import AuditEvent, append_audit
from archive.runtime import ArchiveRuntime

# Columns other features keep sealed under a key derived from a KEK, each value starting
# "<version>:<kek id>:" (lead phone numbers, mini-program session keys, robot webhook keys).
# Features declare them next to their models; `retire_kek` refuses while a value needs the KEK,
# because retiring it would make those values unreadable for good.
SEALED_COLUMNS: set[tuple[str, str, str]] = set()


def register_sealed_column(table: str, column: str, version: str) -> None:
    """Declare that ``table.column`` holds values sealed under ring keys (`version:kek:…`)."""
    SEALED_COLUMNS.add((table, column, version))


async def count_sealed_columns(runtime: ArchiveRuntime, kek_id: str) -> dict[str, int]:
    """Per declared column, how many values are still sealed under ``kek_id``."""
    db = runtime.db
    mark = db.placeholders(1)[0]
    found: dict[str, int] = {}
    for table, column, version in sorted(SEALED_COLUMNS):
        pattern = like_literal(f"{version}:{kek_id}:") + "%"
        rows = await db.fetch(
            f"SELECT COUNT(*) AS n FROM {table} WHERE {column} LIKE {mark} ESCAPE '\\'",
            [pattern],
        )
        if rows[0]["n"]:
            found[f"{table}.{column}"] = int(rows[0]["n"])
    return found


def _next_kek_id(existing: Iterable[str]) -> str:
    taken = set(existing)
    number = len(taken) + 1
    while f"kek{number}" in taken:
        number += 1
    return f"kek{number}"


async def rotate_kek(runtime: ArchiveRuntime, *, progress: bool = True) -> tuple[str, int]:
    """Re-wrap every live data key under the (new) active KEK; return (kek id, count)."""
    if runtime.key_file is not None:
        ring = runtime.ring.with_kek(
            _next_kek_id(runtime.ring.kek_ids), secrets.token_bytes(KEY_BYTES)
        )
        write_key_file(runtime.key_file, ring)  # first: never wrap under an unsaved key
        runtime.reload_ring()
    target = runtime.ring.active_kek_id
    db = runtime.db
    rows: list[Any] = list(
        await db.fetch(
            "SELECT id, name, kek_id, wrapped_key FROM archive_partitions "
            f"WHERE wrapped_key IS NOT NULL AND kek_id <> {db.placeholders(1)[0]} ORDER BY id",
            [target],
        )
    )
    marks = db.placeholders(5)
    update = (
        f"UPDATE archive_partitions SET kek_id = {marks[0]}, wrapped_key = {marks[1]} "
        f"WHERE id = {marks[2]} AND kek_id = {marks[3]} AND wrapped_key = {marks[4]}"
    )
    done = 0
    for row in tqdm(rows, desc=f"re-wrapping under {target}", unit="key", disable=not progress):
        old = WrappedKey(row["kek_id"], bytes(row["wrapped_key"]))
        new = rewrap(runtime.ring, old, row["name"], target)
        await db.connection().execute_query(
            update, [new.kek_id, new.blob, row["id"], old.kek_id, old.blob]
        )
        done += 1
    await append_audit(
        runtime,
        AuditEvent("rotate-kek", "system", "rotate", f"re-wrap under {target}", {}, done, "done"),
    )
    return target, done


async def retire_kek(runtime: ArchiveRuntime, kek_id: str) -> None:
    """Remove a KEK from the key file once no data key is wrapped under it any more."""
    if runtime.key_file is None:
        raise KeyRingError("keys come from SCRM_ARCHIVE_KEYS: remove the KEK there instead")
    db = runtime.db
    rows = await db.fetch(
        "SELECT COUNT(*) AS n FROM archive_partitions WHERE wrapped_key IS NOT NULL "
        f"AND kek_id = {db.placeholders(1)[0]}",
        [kek_id],
    )
    if rows[0]["n"]:
        raise KeyRingError(
            f"{rows[0]['n']} data keys are still wrapped under {kek_id!r}; run rotate-kek first"
        )
    if waiting := await count_sealed_under(db, kek_id):
        raise KeyRingError(
            f"{waiting} inbox messages waiting for handlers are sealed under {kek_id!r}; retire "
            "it once they are processed or expired (SCRM_INBOX_CONTENT_TTL_DAYS after rotate-kek)"
        )
    if sealed := await count_sealed_columns(runtime, kek_id):
        listed = ", ".join(f"{count} in {name}" for name, count in sealed.items())
        raise KeyRingError(
            f"values are still sealed under {kek_id!r} ({listed}); retiring it would make them "
            "unreadable, so it stays in the ring"
        )
    write_key_file(runtime.key_file, runtime.ring.retire(kek_id))
    runtime.reload_ring()

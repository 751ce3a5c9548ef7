"""Columns other features keep sealed under the ring, and how `rotate-kek` re-seals them.

A feature that stores a value sealed under a key derived from a KEK (a lead's phone number, a
mini-program session key, a robot's webhook key) declares its column next to its model with
`register_sealed_column` and the `Sealing` the archive gave it (`archive.keys.pii.personal_field`,
`archive.keys.sealed_secrets.sealed_secret`). The feature never sees keys; the archive then

* re-seals every such value under the active KEK during `rotate-kek` (`reseal_columns`), and
* refuses to retire a KEK while a value still names it (`count_sealed_columns`).

Every value starts ``"<version>:<kek id>:"``. Re-sealing goes in batches by primary key, each
batch one transaction, each row compare-and-set on the value it read: a value a request
replaced meanwhile is left alone (it was sealed under the active KEK, or the next run catches
it). A crash between batches leaves some values under the old KEK and the rest under the new
one — both in the ring, so every value still opens — and a second run finishes the rest.
The plaintext exists only inside `Sealing.reseal`, in memory; it is never returned, logged
or written anywhere but back into its own column, sealed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tortoise.transactions import in_transaction

from archive.errors import ArchiveCryptoError
from archive.keys.ring import KeyRing
from scrm.db import Database

DEFAULT_BATCH = 500


def like_literal(text: str) -> str:
    """`text` as a LIKE pattern that matches only itself (escape character: backslash)."""
    return "".join("\\" + ch if ch in "\\%_" else ch for ch in text)


class Sealing(Protocol):
    """One kind of sealed value: its version prefix, and how to move it to another KEK."""

    @property
    def version(self) -> str: ...

    def reseal(self, ring: KeyRing, sealed: str, kek_id: str) -> str:
        """Open ``sealed`` with the KEK it names and seal it again under ``kek_id``.

        Raises `ArchiveCryptoError` when it does not open (altered, or its KEK is gone).
        """
        ...


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    sealing: Sealing
    key: str = "id"  # an integer primary key: the order batches walk in

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


SEALED_COLUMNS: dict[str, SealedColumn] = {}


def register_sealed_column(table: str, column: str, sealing: Sealing, *, key: str = "id") -> None:
    """Declare that ``table.column`` holds values sealed under ring keys, as ``sealing`` does."""
    declared = SealedColumn(table, column, sealing, key)
    SEALED_COLUMNS[declared.name] = declared


@dataclass
class ColumnResult:
    """What re-sealing one column did: values moved, and those that did not open (by key)."""

    resealed: int = 0
    unopenable: list[int] = field(default_factory=list)


# Called after each committed batch: (column name, values re-sealed in that batch).
Progress = Callable[[str, int], None]


def _prefix_pattern(*parts: str) -> str:
    return like_literal(":".join(parts) + ":") + "%"


async def count_sealed_columns(db: Database, kek_id: str) -> dict[str, int]:
    """Per declared column, how many values are still sealed under ``kek_id``."""
    mark = db.placeholders(1)[0]
    found: dict[str, int] = {}
    for name, declared in sorted(SEALED_COLUMNS.items()):
        rows = await db.fetch(
            f"SELECT COUNT(*) AS n FROM {declared.table} "
            f"WHERE {declared.column} LIKE {mark} ESCAPE '\\'",
            [_prefix_pattern(declared.sealing.version, kek_id)],
        )
        if rows[0]["n"]:
            found[name] = int(rows[0]["n"])
    return found


@dataclass(frozen=True)
class RowWalk:
    """Which rows of a table hold values to move, and how one value is moved.

    ``reseal(value, bind)`` returns the new value for the column (``bind``: the row's
    ``bind_column``, for values whose AAD names it), or raises `ArchiveCryptoError`.
    """

    name: str
    table: str
    column: str
    pending: str  # LIKE pattern: a value sealed under any KEK
    done: str  # LIKE pattern: a value already under the target KEK
    reseal: Callable[[str, str], str]
    key: str = "id"
    bind_column: str | None = None


async def count_sealed_outside(db: Database, kek_ids: tuple[str, ...]) -> dict[str, int]:
    """Per declared column, how many values name a KEK other than ``kek_ids`` (start-up)."""
    found: dict[str, int] = {}
    for name, declared in sorted(SEALED_COLUMNS.items()):
        version = declared.sealing.version
        marks = db.placeholders(1 + len(kek_ids))
        excluded = "".join(
            f" AND {declared.column} NOT LIKE {mark} ESCAPE '\\'" for mark in marks[1:]
        )
        rows = await db.fetch(
            f"SELECT COUNT(*) AS n FROM {declared.table} "
            f"WHERE {declared.column} LIKE {marks[0]} ESCAPE '\\'{excluded}",
            [_prefix_pattern(version), *(_prefix_pattern(version, k) for k in kek_ids)],
        )
        if rows[0]["n"]:
            found[name] = int(rows[0]["n"])
    return found


async def reseal_rows(
    db: Database,
    walk: RowWalk,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> ColumnResult:
    """Walk ``walk.table`` by key in batches; move every pending value not done yet."""
    table, column, key = walk.table, walk.column, walk.key
    bind = f", {walk.bind_column} AS b" if walk.bind_column else ""
    marks = db.placeholders(3)
    select = (
        f"SELECT {key} AS k, {column} AS v{bind} FROM {table} WHERE {key} > {marks[0]} "
        f"AND {column} LIKE {marks[1]} ESCAPE '\\' AND {column} NOT LIKE {marks[2]} ESCAPE '\\' "
        f"ORDER BY {key} LIMIT {int(batch_size)}"
    )
    sets = db.placeholders(3)
    update = (
        f"UPDATE {table} SET {column} = {sets[0]} WHERE {key} = {sets[1]} AND {column} = {sets[2]}"
    )
    result = ColumnResult()
    after = -(2**63)
    while True:
        rows = await db.fetch(select, [after, walk.pending, walk.done])
        if not rows:
            return result
        after = int(rows[-1]["k"])
        moved: list[tuple[str, int, str]] = []
        for row in rows:
            try:
                moved.append((walk.reseal(row["v"], row.get("b") or ""), row["k"], row["v"]))
            except ArchiveCryptoError:
                result.unopenable.append(int(row["k"]))
        changed = 0
        async with in_transaction() as conn:  # one batch, one transaction; each row its own CAS
            for values in moved:
                affected, _ = await conn.execute_query(update, list(values))
                changed += int(affected)
        result.resealed += changed
        if progress is not None:
            progress(walk.name, changed)


async def reseal_column(
    db: Database,
    ring: KeyRing,
    declared: SealedColumn,
    target: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> ColumnResult:
    """Re-seal every value of one declared column that is not under ``target`` yet."""
    version = declared.sealing.version
    walk = RowWalk(
        declared.name,
        declared.table,
        declared.column,
        pending=_prefix_pattern(version),
        done=_prefix_pattern(version, target),
        reseal=lambda value, _: declared.sealing.reseal(ring, value, target),
        key=declared.key,
    )
    return await reseal_rows(db, walk, batch_size=batch_size, progress=progress)


async def reseal_columns(
    db: Database,
    ring: KeyRing,
    target: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> dict[str, ColumnResult]:
    """Re-seal every declared column under ``target``; per column what was done."""
    return {
        name: await reseal_column(
            db, ring, declared, target, batch_size=batch_size, progress=progress
        )
        for name, declared in sorted(SEALED_COLUMNS.items())
    }

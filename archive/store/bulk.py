"""Bulk SQL for both engines: arrays + unnest on PostgreSQL, chunked multi-row VALUES on SQLite.

On PostgreSQL a statement with thousands of parameters is parsed and planned anew for every
distinct row count; a handful of array parameters keeps one plan and is several times
faster for the archive's posting lists. An array-valued column (type ``bigint[]``) cannot
travel inside an array parameter (PostgreSQL arrays are not ragged), so it travels as the
array's text form and is cast back in the SELECT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scrm.db import Database

MAX_PARAMS = 30_000  # under SQLite's 32,766 bind parameters


async def insert_rows(
    db: Database,
    conn: Any,
    table: str,
    columns: Sequence[str],
    pg_types: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    suffix: str = "",
    returning: str = "",
) -> list[dict[str, Any]]:
    """Insert `rows`; `suffix` (e.g. ON CONFLICT …) and `returning` apply to every chunk."""
    if not rows:
        return []
    names = ", ".join(columns)
    tail = f" {suffix}" + (f" RETURNING {returning}" if returning else "")
    if db.is_postgres:
        arrays = [
            [_array_text(value) for value in column] if kind.endswith("[]") else list(column)
            for column, kind in zip(zip(*rows, strict=True), pg_types, strict=True)
        ]
        unnest = ", ".join(
            f"${i}::{'text' if kind.endswith('[]') else kind}[]"
            for i, kind in enumerate(pg_types, start=1)
        )
        picks = ", ".join(
            f"c{i}::{kind}" if kind.endswith("[]") else f"c{i}"
            for i, kind in enumerate(pg_types, start=1)
        )
        aliases = ", ".join(f"c{i}" for i in range(1, len(pg_types) + 1))
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {picks} "
            f"FROM unnest({unnest}) AS batch({aliases}){tail}"
        )
        return list(await conn.execute_query_dict(sql, arrays))
    found: list[dict[str, Any]] = []
    step = MAX_PARAMS // len(columns)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        sql = f"INSERT INTO {table} ({names}) VALUES {db.rows(len(columns), len(chunk))}{tail}"
        values = [value for row in chunk for value in row]
        if returning:
            found += await conn.execute_query_dict(sql, values)
        else:
            await conn.execute_query(sql, values)
    return found


def _array_text(values: Sequence[int]) -> str:
    """A PostgreSQL array literal of integers: ``{1,2,3}``."""
    return "{" + ",".join(map(str, values)) + "}"


async def select_in(
    db: Database,
    conn: Any,
    sql: str,
    column: str,
    pg_type: str,
    keys: Sequence[Any],
    params: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """Run `sql` (with ``{in}`` where the membership test goes) for every key in `keys`."""
    if not keys:
        return []
    if db.is_postgres:
        marks = db.placeholders(len(params) + 1)
        test = f"{column} = ANY({marks[-1]}::{pg_type}[])"
        query = sql.format(*marks[:-1], **{"in": test})
        return list(await conn.execute_query_dict(query, [*params, list(keys)]))
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), 1000):
        chunk = list(keys[start : start + 1000])
        marks = db.placeholders(len(params) + len(chunk))
        test = f"{column} IN ({','.join(marks[len(params) :])})"
        query = sql.format(*marks[: len(params)], **{"in": test})
        found += await conn.execute_query_dict(query, [*params, *chunk])
    return found

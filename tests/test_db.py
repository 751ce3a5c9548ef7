"""The dialect facts raw SQL needs, without a database."""

from __future__ import annotations

from scrm.db import Database


def test_sql_numbers_placeholders_on_postgres_only() -> None:
    text = 'UPDATE effects SET status = ? WHERE "key" = ? AND claimed_until < ?'
    assert Database("sqlite").sql(text) == text
    assert Database("postgres").sql(text) == (
        'UPDATE effects SET status = $1 WHERE "key" = $2 AND claimed_until < $3'
    )
    assert Database("postgres").sql("SELECT 1") == "SELECT 1"

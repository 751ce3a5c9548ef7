"""tortoise's SQLite client, except that transactions begin IMMEDIATE.

tortoise opens every transaction with a plain (deferred) ``BEGIN``: the transaction takes
SQLite's write lock only at its first write. A transaction that reads first and then writes
must upgrade its lock, and when another connection committed in between — the inbox writer
(`scrm.events.batch_store`, its own connection), or another process — SQLite refuses the
upgrade at once with ``database is locked``: waiting could not make the transaction's view
current, so ``busy_timeout`` is not consulted. ``BEGIN IMMEDIATE`` takes the write lock
first, where ``busy_timeout`` does wait, and the transaction then never has to upgrade.

All of the ORM's transactions in a process already run one at a time (tortoise keeps one
SQLite connection behind one lock), so taking the write lock up front costs the process
nothing; reads outside a transaction are not affected. Single statements outside a
transaction (and tortoise's ``executemany`` batch, whose first statement writes) take the
write lock at their start, so they wait on ``busy_timeout`` already.

`scrm.db.tortoise_config` names this module as the SQLite engine; tortoise finds
`client_class` here.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    """A `SqliteClient` whose `in_transaction()` begins ``BEGIN IMMEDIATE``."""

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient

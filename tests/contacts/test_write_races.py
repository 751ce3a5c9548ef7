"""A relation write and a newer fact committed by another worker in between, on PostgreSQL.

Each handler reads the relation, then writes it. Under READ COMMITTED another worker can
commit between the two; the newer-facts-win rule must hold in the UPDATE itself. The test
holds the row lock from a second connection, lets the write block on it, commits the other
fact, and checks the blocked write does not overwrite it. (SQLite serialises write
transactions, BEGIN IMMEDIATE, so the interleaving cannot happen there.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import asyncpg
import pytest

from adapters.wecom import ExternalContact, ExternalContactDetail, FollowUser
from scrm.contacts import service
from scrm.db import close_database, open_database
from scrm.models import Customer, FollowRelation

SECOND = 1_800_000_000
CUSTOMER = "wmRACE0000000001"
# A backend of this test's database waiting for a lock (other tests share the server).
WAITING_HERE = (
    "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN "
    "(SELECT pid FROM pg_stat_activity WHERE datname = current_database())"
)


@pytest.fixture
async def relation_id(postgres_url: str) -> AsyncIterator[int]:
    await open_database(postgres_url)
    try:
        customer = await Customer.create(external_userid=CUSTOMER, updated_at=0)
        relation = await FollowRelation.create(
            customer=customer, userid="zhangsan", last_event_at=SECOND - 10, updated_at=0
        )
        yield relation.id
    finally:
        await close_database()


async def while_row_locked(
    url: str, relation_id: int, write: Awaitable[bool], other_fact: str
) -> bool:
    """Start ``write`` while the row is locked; once it waits for the lock, commit
    ``other_fact`` (an UPDATE of the row) and release; return what ``write`` returned."""
    other = await asyncpg.connect(url)
    try:
        async with other.transaction():
            await other.execute(
                "SELECT id FROM follow_relations WHERE id = $1 FOR UPDATE", relation_id
            )
            task = asyncio.ensure_future(write)
            while not await other.fetchval(WAITING_HERE):
                assert not task.done(), "the write finished without waiting for the row"
                await asyncio.sleep(0.01)
            await other.execute(other_fact, relation_id)
        return await task
    finally:
        await other.close()


async def test_a_delete_committed_while_an_add_writes_wins(
    postgres_url: str, relation_id: int
) -> None:
    detail = ExternalContactDetail(
        ExternalContact(CUSTOMER, "客户", 1),
        (FollowUser("zhangsan", SECOND, state="fair_2026"),),
    )
    add = service.apply_contact(
        detail, userid="zhangsan", occurred_at=SECOND, status="active", now=1.0
    )
    delete = (
        "UPDATE follow_relations SET status = 'ended', ended_reason = 'del_follow_user', "
        f"ended_at = {SECOND}, last_event_at = {SECOND} WHERE id = $1"
    )
    assert await while_row_locked(postgres_url, relation_id, add, delete) is False
    relation = await FollowRelation.get(id=relation_id)
    assert (relation.status, relation.ended_reason) == ("ended", "del_follow_user")
    assert relation.state == "fair_2026"  # the listed details are still taken


async def test_an_add_committed_while_an_older_delete_writes_wins(
    postgres_url: str, relation_id: int
) -> None:
    delete = service.end_relation(
        CUSTOMER, "zhangsan", reason="del_follow_user", occurred_at=SECOND, now=1.0
    )
    newer_add = f"UPDATE follow_relations SET last_event_at = {SECOND + 1} WHERE id = $1"
    assert await while_row_locked(postgres_url, relation_id, delete, newer_add) is False
    relation = await FollowRelation.get(id=relation_id)
    assert (relation.status, relation.last_event_at) == ("active", SECOND + 1)

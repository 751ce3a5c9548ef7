"""Who hears of a breach besides the route's escalation channel: the assignee's manager.

The manager is WeCom's ``direct_leader`` (直属上级) from ``user/get``, read before the sweep's
transaction and cached in the KV for an hour. A manager is reached through a group channel of
kind ``user`` named ``主管:{userid}``, made on first use, so the notice goes through the same
queue, ledger and timeline as any other and can be seen (and parked) like any other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from tortoise.backends.base.client import BaseDBAsyncClient

from adapters.wecom import WeComError
from scrm.services import Services

log = logging.getLogger(__name__)
CACHE_SECONDS = 3600.0
PREFIX = "主管:"


async def leaders_of_due(
    services: Services, column: str, now: float, pausable: bool
) -> dict[str, list[str]]:
    """The direct leaders of the assignees of tickets whose ``column`` is due."""
    paused = " AND paused_at IS NULL" if pausable else ""
    rows = await services.db.fetch(
        services.db.sql(
            f"SELECT DISTINCT assignee FROM tickets WHERE {column} <= ?{paused} "
            "AND assignee IS NOT NULL LIMIT 1000",
        ),
        [now],
    )
    return {row["assignee"]: await leaders(services, row["assignee"]) for row in rows}


async def leaders(services: Services, userid: str) -> list[str]:
    key = services.kv.keys("tickets", "leaders", userid)
    cached = await services.kv.get(key)
    if cached is not None:
        return [str(leader) for leader in json.loads(cached)]
    runtime = services.tickets
    if runtime is None:
        return []
    try:
        found = await runtime.agent.direct_leaders(userid)
    except WeComError as exc:  # the breach still escalates to its channels
        log.warning("could not read the manager of %s: %s", userid, exc)
        return []
    await services.kv.set(key, json.dumps(found), ttl=CACHE_SECONDS)
    return found


async def channels_for(
    services: Services, conn: BaseDBAsyncClient, userids: Sequence[str], now: float
) -> list[int]:
    """The ``user`` channels of these managers, made on first use (in the caller's transaction)."""
    ids = []
    for userid in userids:
        name = PREFIX + userid
        await conn.execute_query_dict(
            services.db.sql(
                "INSERT INTO group_channels (name, kind, target, status, created_at, updated_at) "
                "VALUES (?, 'user', ?, 'active', ?, ?) ON CONFLICT (name) DO NOTHING",
            ),
            [name, userid, now, now],
        )
        rows = await conn.execute_query_dict(
            services.db.sql("SELECT id FROM group_channels WHERE name = ?"), [name]
        )
        ids.append(int(rows[0]["id"]))
    return ids

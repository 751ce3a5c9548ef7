"""`run.py simulate`: play a day at a trade fair against a running service and its sandbox.

An operator creates a contact-way QR code (through the WeCom API, as the admin console
would), customers scan it, one later deletes the staff member, the others chat (one mentions
an allergy, which a demo keyword rule turns into a tag and a ticket); then the service's own
API is read back until every customer is there with the right channel and tags.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp

from adapters.kv import MemoryKV
from adapters.wecom import WeComClient, WeComError
from config import Settings

STAFF = ("zhangsan", "lisi")
CHANNEL_STATE = "fair_2026"


async def simulate(settings: Settings, *, customers: int = 5, wait: float = 15.0) -> int:
    """Return 0 when the service recorded every simulated customer within ``wait`` seconds.

    The last customer deletes the staff member; the others (none when there is one) chat.
    """
    if customers < 1:
        print("simulate: --customers must be at least 1", file=sys.stderr)
        return 2
    sandbox = f"http://127.0.0.1:{settings.sandbox_port}"
    service = f"http://{settings.host}:{settings.port}"
    try:
        return await _play(settings, sandbox, service, customers, wait)
    except (aiohttp.ClientConnectorError, WeComError) as exc:
        print(
            f"simulate: cannot reach the service at {service} or its sandbox at {sandbox} "
            f"({exc}); is `make run` running, and are SCRM_PORT and SCRM_SANDBOX_PORT the same "
            "in this shell?",
            file=sys.stderr,
        )
    except aiohttp.ClientResponseError as exc:
        hint = " (the admin token must be the service's)" if exc.status == 401 else ""
        print(f"simulate: {exc.request_info.url} answered {exc.status}{hint}", file=sys.stderr)
    return 2


async def _play(settings: Settings, sandbox: str, service: str, customers: int, wait: float) -> int:
    headers = {"Authorization": f"Bearer {settings.admin_token.value}"}
    async with aiohttp.ClientSession() as http:
        for userid in STAFF:
            await _post(http, f"{sandbox}/_sandbox/staff", {"userid": userid})
        config_id = await _create_contact_way(http, sandbox, settings)
        print(f"created contact way {config_id} (state {CHANNEL_STATE!r}) for {STAFF[0]}")
        added = []
        for n in range(customers):
            answer = await _post(
                http,
                f"{sandbox}/_sandbox/scenarios/add_contact",
                {"config_id": config_id, "name": f"客户{n + 1}"},
            )
            added.append(answer["external_userid"])
            print(f"customer {answer['external_userid']} scanned the QR: {answer['delivery']}")
        await _post(
            http,
            f"{sandbox}/_sandbox/scenarios/remove_contact",
            {"userid": STAFF[0], "external_userid": added[-1], "by_customer": True},
        )
        print(f"customer {added[-1]} deleted {STAFF[0]}")
        await _wait_until_processed(http, service, headers, len(added) + 1, wait)
        await _ensure_demo_rule(http, service, headers)
        chats = _chats(added[:-1])
        if chats:  # the one customer of `--customers 1` deleted the member: nobody chats
            async with http.post(f"{service}/api/v1/messages", json=chats, headers=headers) as r:
                r.raise_for_status()
                print(f"customers sent {len(chats)} chat messages: {await r.json()}")
        stats = await _wait_until_processed(http, service, headers, len(added) + 1, wait)
        recorded = await _read_customers(http, service, headers, added)
    print(f"service recorded {len(recorded)}/{len(added)} customers; inbox: {stats}")
    return 0 if len(recorded) == len(added) else 1


DEMO_RULE = {
    "name": "过敏预警 (demo)",
    "keywords_any": ["过敏", "起疹子"],
    "exclude": ["不过敏"],
    "actions": [
        {"type": "add_tag", "tag": "过敏风险", "group": "服务"},
        {"type": "create_ticket", "category": "food_safety", "priority": "P1"},
    ],
}
CHAT_LINES = (
    "你好，想咨询一下",
    "孩子吃了以后有点过敏，起疹子了",
    "我不过敏，谢谢",
    "什么时候发货？",
)


async def _ensure_demo_rule(
    http: aiohttp.ClientSession, service: str, headers: dict[str, str]
) -> None:
    async with http.post(f"{service}/api/v1/tag-rules", json=DEMO_RULE, headers=headers) as r:
        if r.status == 201:
            print(f"created keyword rule {DEMO_RULE['name']!r}")
        elif r.status != 409:  # 409: it exists from an earlier run
            r.raise_for_status()


def _chats(customers: list[str]) -> list[dict[str, Any]]:
    """Each customer says one line to the staff member they added."""
    now = int(time.time() * 1000)
    return [
        {
            "msgid": f"sim-{customer}-{n}",
            "action": "send",
            "from": customer,
            "tolist": [STAFF[0]],
            "roomid": "",
            "msgtime": now + n,
            "msgtype": "text",
            "text": {"content": CHAT_LINES[n % len(CHAT_LINES)]},
        }
        for n, customer in enumerate(customers)
    ]


async def _create_contact_way(http: aiohttp.ClientSession, sandbox: str, settings: Settings) -> str:
    """Through the same WeCom client the service uses (only adapters/ speak WeCom)."""
    wecom = settings.wecom
    # This process's own token cache; the same secret choice as the service's.
    client = WeComClient.for_customers(http, MemoryKV(), wecom, api_base=sandbox)
    way = await client.add_contact_way(user=[STAFF[0]], state=CHANNEL_STATE, remark="展会")
    return way.config_id


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url, json=body) as response:
        response.raise_for_status()
        return dict(await response.json())


async def _wait_until_processed(
    http: aiohttp.ClientSession, service: str, headers: dict[str, str], events: int, wait: float
) -> dict[str, Any]:
    """Poll the inbox counts until the simulated events are stored and every run finished."""
    deadline = time.monotonic() + wait
    while True:
        async with http.get(f"{service}/api/v1/events/stats", headers=headers) as response:
            response.raise_for_status()
            stats = dict(await response.json())
        runs, received = stats["runs"], stats["events"]["received"]
        finished = received >= events and runs["pending"] + runs["running"] == 0
        if finished or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.2)


async def _read_customers(
    http: aiohttp.ClientSession, service: str, headers: dict[str, str], external_userids: list[str]
) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for external_userid in external_userids:
        url = f"{service}/api/v1/customers/{external_userid}"
        async with http.get(url, headers=headers) as response:
            if response.status == 200:
                found[external_userid] = await response.json()
    for customer in found.values():
        states = {f["userid"]: (f["state"], f["status"]) for f in customer["follow_users"]}
        tags = [t["tag_name"] for t in customer["tags"]]
        print(f"  {customer['external_userid']} {customer['name']}: {states} tags={tags}")
    return list(found.values())

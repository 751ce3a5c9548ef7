"""A staff member's phone: a cookie jar, WeCom's login through the sandbox, form posts."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from scrm.leads.models import Lead
from scrm.sandbox import events as wecom_events
from scrm.sandbox import scenarios
from tests.e2e.conftest import Stack
from tests.leads.flows import Visitor, form_channel

CALLBACK = "/s/oauth/callback"


class Phone:
    """One member's WeCom in-app browser: keeps cookies, follows the login by hand."""

    def __init__(self, stack: Stack, http: aiohttp.ClientSession) -> None:
        self.stack = stack
        self.http = http

    async def get(self, path: str) -> tuple[int, str, str]:
        """Status, page text and where a redirect points ("" when none)."""
        url = path if path.startswith("http") else self.stack.url + path
        async with self.http.get(url, allow_redirects=False) as r:
            return r.status, await r.text(), r.headers.get("Location", "")

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str]:
        async with self.http.post(self.stack.url + path, data=data, allow_redirects=False) as r:
            return r.status, await r.text(), r.headers.get("Location", "")

    async def start_login(self, path: str) -> dict[str, str]:
        """Open a page without a session: the authorize URL's query (302 to the sandbox)."""
        status, _, location = await self.get(path)
        assert status == 302, (status, location)
        assert location.startswith(self.stack.sandbox.url + "/connect/oauth2/authorize?")
        assert location.endswith("#wechat_redirect")
        query = parse_qs(urlsplit(location.removesuffix("#wechat_redirect")).query)
        return {k: v[0] for k, v in query.items()} | {"url": location}

    async def authorize(self, query: dict[str, str], userid: str) -> dict[str, str]:
        """The sandbox's authorize page, as ``userid``: the callback's code and state."""
        url = query["url"].removesuffix("#wechat_redirect") + f"&sandbox_userid={userid}"
        async with self.http.get(url, allow_redirects=False) as r:
            assert r.status == 302, await r.text()
            location = r.headers["Location"]
        assert location.startswith(self.stack.settings.public_url + CALLBACK + "?")
        back = parse_qs(urlsplit(location).query)
        return {"code": back["code"][0], "state": back["state"][0]}

    async def callback(self, code: str, state: str) -> tuple[int, str, str]:
        query = {"code": code, "state": state}
        async with self.http.get(
            self.stack.url + CALLBACK, params=query, allow_redirects=False
        ) as r:
            return r.status, await r.text(), r.headers.get("Location", "")

    async def login(self, path: str, userid: str) -> str:
        """Sign in as ``userid`` by opening ``path``; the page's text."""
        back = await self.authorize(await self.start_login(path), userid)
        status, _, location = await self.callback(back["code"], back["state"])
        assert (status, location) == (302, path)
        status, html, _ = await self.get(path)
        assert status == 200, html
        return html

    def cookie(self, name: str) -> str | None:
        for morsel in self.http.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def added_customer(stack: Stack, userid: str = "zhangsan", name: str = "李雷") -> Any:
    """A customer adds ``userid`` through a channel's code; the service has stored it."""
    stack.sandbox.state.add_staff(userid)
    body = {"name": "展会 2026", "staff": [userid], "tags": ["展会"]}
    status, channel = await stack.api("POST", "/api/v1/channels", json=body)
    assert status == 201, channel
    added = await scenarios.add_contact(
        stack.sandbox.state,
        None,
        config_id=channel["config_id"],
        external_userid="wmSTAFF0000001",
        name=name,
    )
    xml = wecom_events.add_external_contact(
        stack.corp_id,
        userid,
        "wmSTAFF0000001",
        state=channel["state"],
        welcome_code=added.welcome_code,
        create_time=added.relation.createtime,
    )
    assert (await stack.sender.send(xml)).status == 200
    await stack.drain()
    return channel


async def ticket(stack: Stack, assignee: str = "zhangsan", **extra: Any) -> Any:
    status, _ = await stack.api(
        "POST",
        "/api/v1/sla-policies",
        json={"priority": "P1", "first_response_seconds": 1800, "resolution_seconds": 86400},
    )
    assert status in (201, 409)
    body = {"title": "商品破损", "category": "售后", "priority": "P1", "assignee": assignee}
    status, created = await stack.api("POST", "/api/v1/tickets", json=body | extra)
    assert status == 201, created
    return created


async def submitted_lead(stack: Stack) -> Lead:
    channel = await form_channel(stack, staff=("zhangsan",))
    visitor = Visitor(stack, channel["state"])
    await visitor.open()
    status, _, _ = await visitor.submit(
        name="韩梅梅", phone="13812345678", company="星河科技", region="华东"
    )
    assert status == 303
    await stack.drain()
    [lead] = await Lead.all()
    assert lead.owner == "zhangsan"
    return lead

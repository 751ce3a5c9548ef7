"""Helpers shared by the lead flow tests: a form channel and a browser-like form post."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import Stack

FORM_FIELDS: list[Any] = [
    "name",
    "phone",
    "company",
    {"key": "region", "label": "地区", "type": "choice", "choices": ["华东", "华南"]},
]


async def form_channel(
    stack: Stack, staff: tuple[str, ...] = ("zhangsan", "lisi"), **extra: Any
) -> Any:
    for userid in staff:
        stack.sandbox.state.add_staff(userid)
    body = {
        "name": "展会表单",
        "kind": "form",
        "staff": list(staff),
        "fields": FORM_FIELDS,
        "consent": "我们收集姓名、手机号和公司，仅用于联系您。",
    } | extra
    status, channel = await stack.api("POST", "/api/v1/channels", json=body)
    assert status == 201, channel
    return channel


class Visitor:
    """One phone's browser: keeps the CSRF cookie, reads the token from the page."""

    def __init__(self, stack: Stack, state: str) -> None:
        self.stack = stack
        self.state = state
        self.cookies: dict[str, str] = {}
        self.token = ""

    async def open(self) -> tuple[int, str]:
        async with self.stack.http.get(
            f"{self.stack.url}/c/{self.state}", cookies=self.cookies
        ) as r:
            html = await r.text()
            for name, morsel in r.cookies.items():
                self.cookies[name] = morsel.value
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        self.token = found.group(1) if found else ""
        return r.status, html

    async def submit(self, **fields: str) -> tuple[int, str, str]:
        """Status, page text and where a redirect pointed ("" when none)."""
        data = {"csrf_token": self.token, "consent": "1"} | fields
        async with self.stack.http.post(
            f"{self.stack.url}/c/{self.state}",
            data=data,
            cookies=self.cookies,
            allow_redirects=False,
        ) as r:
            return r.status, await r.text(), r.headers.get("Location", "")

"""Shared by the property-based API suites: a seeded stack, the spec's operations, and a way
to run a synchronous Hypothesis test against the app while its event loop keeps serving.

Both suites are generic over `scrm/api/openapi.json`: an operation added to the spec is
covered without a line here. Hypothesis runs derandomized with a fixed, small number of
examples per operation and no example database, so a run is the same on every machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

from archive.review.reviewers import add_reviewer, parse_scope
from scrm.api.openapi import SPEC_PATH
from scrm.appkeys import SERVICES
from scrm.sandbox import events as wecom_events
from tests.e2e.conftest import Stack

T = TypeVar("T")
METHODS = ("get", "put", "post", "patch", "delete")
CUSTOMER = "wmFUZZ000001"
STAFF = "zhangsan"
FORM_SCENE = "expo2026"  # the scene of the /mp/* examples in the OpenAPI document


def bounded(max_examples: int) -> settings:
    """Reproducible and bounded: the same examples on every run, no deadline, no database."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def load_spec() -> dict[str, Any]:
    return dict(json.loads(SPEC_PATH.read_text()))


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]
    path_parameters: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def is_archive(self) -> bool:
        """Archive routes take reviewer and auditor tokens, not the admin token."""
        return any("archiveToken" in item for item in self.spec.get("security", []))

    @property
    def is_miniprogram(self) -> bool:
        """/mp/scan and /mp/forms take a mini-program session token, not the admin token."""
        return any("miniProgramSession" in item for item in self.spec.get("security", []))

    @property
    def is_public(self) -> bool:
        """/mp/login takes no token at all."""
        return self.spec.get("security") == []

    def parameters(self, where: str) -> list[dict[str, Any]]:
        own = [p for p in self.spec.get("parameters", []) if p["in"] == where]
        names = {p["name"] for p in own}
        return own + [
            p for p in self.path_parameters if p["in"] == where and p["name"] not in names
        ]


def operations(spec: dict[str, Any]) -> list[Operation]:
    """Every operation in the document; deletes last, so the seeded rows live until then."""
    found = [
        Operation(method, path, item[method], tuple(item.get("parameters", ())))
        for path, item in spec["paths"].items()
        for method in METHODS
        if method in item
    ]
    return sorted(found, key=lambda operation: operation.method == "delete")


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref``s (``#/components/schemas/X``)."""
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


@dataclass(frozen=True)
class Seeded:
    """A stack with a customer, a saved rule, an archived message, archive tokens, a form
    channel whose scene is the documented example and a mini-program session."""

    stack: Stack
    reviewer: str
    auditor: str
    rule_id: int
    event_id: int
    miniprogram: str

    def headers(self, operation: Operation, role: str = "reviewer") -> dict[str, str]:
        if operation.is_public:
            return {}
        if operation.is_miniprogram:
            return {"Authorization": f"Bearer {self.miniprogram}"}
        if not operation.is_archive:
            return self.stack.auth
        return {"Authorization": f"Bearer {self.reviewer if role == 'reviewer' else self.auditor}"}

    @property
    def known_path_values(self) -> dict[str, str]:
        """Values that name existing rows, so generated requests also reach deep code."""
        return {
            "rule_id": str(self.rule_id),
            "event_id": str(self.event_id),
            "external_userid": CUSTOMER,
        }


async def seed(stack: Stack) -> Seeded:
    stack.sandbox.state.add_relation(STAFF, CUSTOMER)
    await stack.sender.send(wecom_events.add_external_contact(stack.corp_id, STAFF, CUSTOMER))
    rule = {
        "name": "过敏",
        "keywords_any": ["过敏"],
        "actions": [{"type": "add_tag", "tag": "过敏风险"}],
    }
    status, created = await stack.api("POST", "/api/v1/tag-rules", json=rule)
    assert status == 201, created
    message = {
        "msgid": "FUZZ-1",
        "action": "send",
        "from": CUSTOMER,
        "tolist": [STAFF],
        "roomid": "",
        "msgtime": int(time.time() * 1000),
        "msgtype": "text",
        "text": {"content": "上次买的坚果吃了过敏"},
    }
    status, stored = await stack.api("POST", "/api/v1/messages", json=[message])
    assert (status, stored["accepted"]) == (200, 1), stored
    await stack.drain()
    _, page = await stack.api("GET", "/api/v1/events?limit=1")
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    reviewer = await add_reviewer(runtime, "fuzz-reviewer", "reviewer", parse_scope("all"))
    auditor = await add_reviewer(runtime, "fuzz-auditor", "auditor", parse_scope("all"))
    form = {"name": "表单", "kind": "form", "staff": [STAFF], "state": FORM_SCENE}
    status, channel = await stack.api("POST", "/api/v1/channels", json=form)
    assert status == 201, channel
    code = stack.sandbox.state.issue_js_code(openid="oFUZZ0001", unionid="uFUZZ0001")
    status, session = await stack.api("POST", "/mp/login", json={"code": code}, headers={})
    assert status == 200, session
    return Seeded(
        stack, reviewer, auditor, created["id"], page["events"][0]["id"], session["token"]
    )


class LoopBridge:
    """Run the app's coroutines from a worker thread, where Hypothesis drives the test."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def run(self, coroutine: Awaitable[T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(_await(coroutine), self._loop).result(timeout)


async def _await(coroutine: Awaitable[T]) -> T:
    return await coroutine


async def each_operation(
    spec: dict[str, Any], check: Callable[[Operation], None]
) -> dict[str, str]:
    """Run ``check`` per operation in a thread (the loop keeps serving); collect failures."""
    failures: dict[str, str] = {}
    for operation in operations(spec):
        try:
            await asyncio.to_thread(check, operation)
        except (Exception, BaseExceptionGroup) as exc:  # report every operation, not the first
            notes = "\n".join(getattr(exc, "__notes__", ()))  # Hypothesis: the failing example
            failures[operation.name] = f"{type(exc).__name__}: {exc}\n{notes}"
    return failures


def report(failures: dict[str, str]) -> str:
    return "\n\n".join(f"== {name}\n{text}" for name, text in failures.items())

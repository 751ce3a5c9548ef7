"""Fault injection: make the next N calls to a path fail the way WeCom fails.

Kinds: ``errcode`` (answer that errcode, e.g. -1, 45009, 42001), ``http`` (answer a bare HTTP
status such as 500), ``hang`` (never answer within the client's timeout) and ``slow`` (answer
correctly after ``delay`` seconds).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from scrm.sandbox.wire import answer

KINDS = frozenset({"errcode", "http", "hang", "slow"})
ERRMSG = {
    -1: "system busy",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    42001: "access_token expired",
    40014: "invalid access_token",
}


@dataclass
class Fault:
    path: str = "*"  # a full path, a suffix such as "mark_tag", or "*" for every API call
    kind: str = "errcode"
    errcode: int = -1
    status: int = 500
    delay: float = 0.0
    count: int = 1  # how many calls it hits; 0 = until cleared

    def matches(self, path: str) -> bool:
        return self.path == "*" or path == self.path or path.endswith("/" + self.path.lstrip("/"))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """The queue of pending faults; the first match wins and is used up."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.release = asyncio.Event()

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {sorted(KINDS)}")
        self.faults.append(fault)
        return fault

    def inject(self, path: str = "*", kind: str = "errcode", **fields: Any) -> Fault:
        return self.add(Fault(path=path, kind=kind, **fields))

    def clear(self) -> None:
        self.faults.clear()

    def take(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(path):
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                return fault
        return None

    async def apply(self, fault: Fault, hang_seconds: float) -> web.Response | None:
        """Act out ``fault``; returns the answer to send, or None to let the handler answer."""
        if fault.kind == "errcode":
            return answer(fault.errcode, ERRMSG.get(fault.errcode, "sandbox fault"))
        if fault.kind == "http":
            response = web.Response(status=fault.status, text="sandbox fault")
            return response
        wait = fault.delay or hang_seconds if fault.kind == "hang" else fault.delay
        try:
            # Released at app shutdown so a hung request never holds up a test's teardown.
            async with asyncio.timeout(wait):
                await self.release.wait()
        except TimeoutError:
            pass
        return None

"""The call log: every API request the sandbox answered, for tests to assert effects on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from adapters.wecom.errors import SECRET_PARAMS

# Credential values are masked: tests assert that a call carried one, not what it was.
MASKED_PARAMS = frozenset(SECRET_PARAMS)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    errcode: int | None
    status: int
    time: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.calls: list[Call] = []

    def record(self, request: web.Request, payload: Any, errcode: int | None, status: int) -> Call:
        query = {k: ("***" if k in MASKED_PARAMS else v) for k, v in request.query.items()}
        call = Call(request.method, request.path, query, payload, errcode, status, self._clock())
        self.calls.append(call)
        return call

    def find(self, path: str | None = None, *, errcode: int | None = None) -> list[Call]:
        """Calls to ``path`` (suffix match, e.g. ``"mark_tag"``), optionally with one errcode."""
        return [
            c
            for c in self.calls
            if (path is None or c.path.endswith(path)) and (errcode is None or c.errcode == errcode)
        ]

    def clear(self) -> None:
        self.calls.clear()

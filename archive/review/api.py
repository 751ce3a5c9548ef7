"""`/api/v1/archive/*`: search, export (reviewers) and the audit log (auditors).

These routes authenticate themselves (the service's admin middleware skips them): reviewer
tokens come from `run.py reviewers add`; SCRM_ADMIN_TOKEN and archive admins are refused
content. Every authenticated request — allowed, refused, invalid or failed — gets exactly one
audit entry (`audited`); an unknown or missing token gets 401 without an entry (there is
nobody to name).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from archive.review.audit_log import AuditEvent, append_audit, read_audit
from archive.review.departments import DepartmentsUnavailable, staff_of_departments
from archive.review.export import MAX_EXPORT, export
from archive.review.query import (
    filters_for_audit,
    justification_of,
    limit_of,
    out_of_scope,
    parse_filters,
)
from archive.review.reviewers import Principal, Scope, authenticate
from archive.review.search import SearchProblem, decode_cursor, search
from archive.runtime import ArchiveRuntime
from scrm.api.errors import ApiError, json_body
from scrm.appkeys import SERVICES

log = logging.getLogger(__name__)

MAX_AUDITED_TEXT = 256  # a request's values are recorded, cut to this length
MAX_AUDITED_ITEMS = 100
MAX_JUSTIFICATION = 1000  # as `justification_of` keeps it


@dataclass
class ArchiveCall:
    """One authenticated archive request and what its audit entry will say.

    The view fills in what it learns (the body, the justification, the result count); the
    `audited` wrapper appends the entry once, with the outcome the request ended in.
    """

    runtime: ArchiveRuntime
    who: Principal
    action: str
    body: Any = None
    justification: str = ""
    filters: dict[str, Any] | None = None  # None: the body's filters (`filters_for_audit`)
    result_count: int = 0
    # Records left out because they no longer verify: the service's own finding, kept whole.
    problems: list[dict[str, Any]] = field(default_factory=list)
    outcome: str | None = None  # set by a view to name a refusal that is not a 403
    error: dict[str, Any] = field(default_factory=dict)


ArchiveView = Callable[[web.Request, ArchiveCall], Awaitable[web.StreamResponse]]


def _runtime(request: web.Request) -> ArchiveRuntime:
    runtime = request.app[SERVICES].archive
    if runtime is None:
        raise ApiError(503, "unavailable", "the archive is not open")
    return runtime


async def _principal(request: web.Request, runtime: ArchiveRuntime) -> Principal:
    principal = await authenticate(runtime, request.headers.get("Authorization", ""))
    if principal is None:
        raise ApiError(401, "unauthorized", "a valid archive reviewer token is required")
    return principal


def _outcome_of(status: int) -> str:
    if status == 403:
        return "denied"
    return "failed" if status >= 500 else "invalid"


def _clean(value: Any, limit: int = MAX_AUDITED_TEXT) -> Any:
    """A request value as the audit log may hold it: short, encodable, not nested."""
    if isinstance(value, str):
        return value[:limit].encode("utf-8", "replace").decode("utf-8")
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else "<a very large number>"
    if isinstance(value, list) and not any(isinstance(item, list | dict) for item in value):
        return [_clean(item) for item in value[:MAX_AUDITED_ITEMS]]
    return f"<{type(value).__name__}>"


async def _record(call: ArchiveCall, outcome: str) -> None:
    given: Any = call.justification
    if not given and isinstance(call.body, dict):
        given = call.body.get("justification")
    filters = call.filters if call.filters is not None else filters_for_audit(call.body)
    filters = {name: _clean(value) for name, value in filters.items()}
    if call.error and outcome != "denied":  # why it was invalid or failed
        filters["error"] = call.error
    if call.problems:
        filters["problems"] = call.problems
    await append_audit(
        call.runtime,
        AuditEvent(
            call.who.actor, call.who.role, call.action,
            _clean(given, MAX_JUSTIFICATION) if isinstance(given, str) else "", filters,
            call.result_count,
            outcome,
        ),
    )  # fmt: skip


async def _record_refusal(call: ArchiveCall, outcome: str) -> None:
    """Record how a request ended badly; a broken audit log must not hide the first error."""
    try:
        await _record(call, outcome)
    except Exception:
        log.exception("could not audit a %s archive %s by %s", outcome, call.action, call.who.role)


def audited(action: str) -> Callable[[ArchiveView], Callable[[web.Request], Awaitable[Any]]]:
    """Authenticate, run the view, and append exactly one audit entry with its outcome.

    `allowed` is recorded before the answer leaves (no content without its entry);
    403 is `denied`, other 4xx `invalid`, 5xx and crashes `failed`.
    """

    def wrap(view: ArchiveView) -> Callable[[web.Request], Awaitable[Any]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            runtime = _runtime(request)
            who = await _principal(request, runtime)
            call = ArchiveCall(runtime, who, action)
            try:
                response = await view(request, call)
            except ApiError as exc:
                call.error = {"code": exc.code, **({"field": exc.field} if exc.field else {})}
                await _record_refusal(call, call.outcome or _outcome_of(exc.status))
                raise
            except web.HTTPException as exc:  # aiohttp's own, e.g. 413 for a huge body
                call.error = {"code": f"http_{exc.status}"}
                await _record_refusal(call, call.outcome or _outcome_of(exc.status))
                raise
            except Exception as exc:
                call.error = {"code": "internal", "type": type(exc).__name__}
                await _record_refusal(call, "failed")
                raise
            await _record(call, "allowed")
            return response

        return handler

    return wrap


async def reviewer_body(request: web.Request, call: ArchiveCall) -> dict[str, Any]:
    """The JSON object a reviewer sent, once the caller is known to be a reviewer with a
    justification; a departments scope is resolved to the staff in them now."""
    body = await json_body(request)
    call.body = body
    if not isinstance(body, dict):
        raise ApiError(400, "invalid", "the body must be a JSON object", "body")
    who = call.who
    if who.role != "reviewer":
        raise ApiError(403, "forbidden", f"role {who.role} cannot read the archive")
    if who.scope.kind == "departments":
        call.who = await _with_department_staff(request, call)
    call.justification = justification_of(body)
    return body


async def _with_department_staff(request: web.Request, call: ArchiveCall) -> Principal:
    """Turn a departments scope into the staff in them now; refuse if unknown."""
    who = call.who
    try:
        staff = await staff_of_departments(request.app[SERVICES], who.scope.values)
    except DepartmentsUnavailable:
        call.outcome = "denied"
        raise ApiError(
            503, "unavailable", "the reviewer's departments could not be read; retry later"
        ) from None
    if not staff:
        raise ApiError(403, "forbidden", "the reviewer's departments have no staff")
    return dataclasses.replace(who, scope=Scope("staff", staff))


async def _reviewer_query(
    request: web.Request, call: ArchiveCall, max_limit: int
) -> tuple[Any, ...]:
    """Check role, justification and scope, and validate the filters of a search/export."""
    body = await reviewer_body(request, call)
    filters = parse_filters(body, call.who)
    limit = limit_of(body, default=min(50, max_limit), maximum=max_limit)
    cursor = body.get("cursor")
    if cursor is not None:
        try:
            decode_cursor(cursor if isinstance(cursor, str) else "")
        except ValueError:
            raise ApiError(400, "invalid", "cursor is not valid", "cursor") from None
    reason = out_of_scope(filters, call.who)
    if reason:
        raise ApiError(403, "forbidden", reason)
    return body, filters, limit, cursor


@audited("search")
async def post_search(request: web.Request, call: ArchiveCall) -> web.Response:
    _, filters, limit, cursor = await _reviewer_query(request, call, 500)
    problems: list[SearchProblem] = []
    messages, next_cursor = await search(call.runtime, filters, limit, cursor, problems)
    call.result_count = len(messages)
    call.problems = found = [problem.as_json() for problem in problems]
    return web.json_response({"messages": messages, "next_cursor": next_cursor, "problems": found})


@audited("export")
async def post_export(request: web.Request, call: ArchiveCall) -> web.Response:
    body, filters, limit, _ = await _reviewer_query(request, call, MAX_EXPORT)
    if "limit" not in body:
        limit = MAX_EXPORT
    result = await export(call.runtime, filters, limit)
    call.result_count = result["manifest"]["count"]
    call.problems = result["manifest"]["problems"]
    return web.json_response(result)


@audited("audit")
async def get_audit(request: web.Request, call: ArchiveCall) -> web.Response:
    call.filters = {k: request.query[k] for k in ("cursor", "limit") if k in request.query}
    if call.who.role != "auditor":
        raise ApiError(403, "forbidden", f"role {call.who.role} cannot read the audit log")
    after = _query_number(request, "cursor", "0", 0, 2**62)
    limit = _query_number(request, "limit", "100", 1, 1000)
    entries = await read_audit(call.runtime, after, limit)
    out = [{"seq": e.seq, **e.fields, "hash": e.hash, "prev_hash": e.prev_hash} for e in entries]
    next_cursor = str(entries[-1].seq) if len(entries) == limit else None
    call.result_count = len(entries)
    return web.json_response({"entries": out, "next_cursor": next_cursor})


def _query_number(request: web.Request, name: str, default: str, low: int, high: int) -> int:
    """ASCII digits within ``low..high`` (``int()`` would also take ``١`` and ``1_0``)."""
    raw = request.query.get(name, default)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and low <= int(raw) <= high):
        raise ApiError(400, "invalid", f"{name} must be a whole number from {low} to {high}", name)
    return int(raw)


def register(app: web.Application) -> None:
    """Add the archive routes; the app must hold `SERVICES` with `archive` set."""
    app.router.add_post("/api/v1/archive/search", post_search)
    app.router.add_get("/api/v1/archive/audit", get_audit)
    app.router.add_post("/api/v1/archive/export", post_export)

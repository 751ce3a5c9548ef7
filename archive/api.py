"""`/api/v1/archive/*`: search, export (reviewers) and the audit log (auditors).

These routes authenticate themselves (the service's admin middleware skips them): reviewer
tokens come from `run.py reviewers add`; SCRM_ADMIN_TOKEN and archive admins are refused
content. Every search and export, and every refusal of a known caller, is audited; an
unknown or missing token gets 401 without an entry (there is nobody to name).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from archive.audit import AuditEvent, append_audit, read_audit
from archive.departments import DepartmentsUnavailable, staff_of_departments
from archive.export import MAX_EXPORT, export
from archive.query import (
    filters_for_audit,
    justification_of,
    limit_of,
    out_of_scope,
    parse_filters,
)
from archive.reviewers import Principal, Scope, authenticate
from archive.runtime import ArchiveRuntime
from archive.search import decode_cursor, search
from scrm.api.errors import ApiError, json_body
from scrm.appkeys import SERVICES


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


async def _body(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid", "the body must be a JSON object", "body")
    return body


async def _deny(
    runtime: ArchiveRuntime, who: Principal, action: str, body: Any, reason: str
) -> ApiError:
    """Record a refusal in the audit log and return the 403 to raise."""
    given = body.get("justification") if isinstance(body, dict) else None
    await append_audit(
        runtime,
        AuditEvent(
            who.actor, who.role, action, given if isinstance(given, str) else "",
            filters_for_audit(body), 0, "denied",
        ),
    )  # fmt: skip
    return ApiError(403, "forbidden", reason)


async def _reviewer_query(request: web.Request, action: str, max_limit: int) -> tuple[Any, ...]:
    """Authenticate, check role and scope (auditing refusals), validate the body."""
    runtime = _runtime(request)
    who = await _principal(request, runtime)
    body = await _body(request)
    if who.role != "reviewer":
        raise await _deny(runtime, who, action, body, f"role {who.role} cannot read the archive")
    if who.scope.kind == "departments":
        who = await _with_department_staff(request, runtime, who, action, body)
    justification = justification_of(body)
    filters = parse_filters(body, who)
    limit = limit_of(body, default=min(50, max_limit), maximum=max_limit)
    cursor = body.get("cursor")
    if cursor is not None:
        try:
            decode_cursor(cursor if isinstance(cursor, str) else "")
        except ValueError:
            raise ApiError(400, "invalid", "cursor is not valid", "cursor") from None
    reason = out_of_scope(filters, who)
    if reason:
        raise await _deny(runtime, who, action, body, reason)
    return runtime, who, body, justification, filters, limit, cursor


async def _with_department_staff(
    request: web.Request, runtime: ArchiveRuntime, who: Principal, action: str, body: Any
) -> Principal:
    """Turn a departments scope into the staff in them now; refuse (audited) if unknown."""
    try:
        staff = await staff_of_departments(request.app[SERVICES], who.scope.values)
    except DepartmentsUnavailable:
        await _deny(runtime, who, action, body, "the reviewer's departments could not be read")
        raise ApiError(
            503, "unavailable", "the reviewer's departments could not be read; retry later"
        ) from None
    if not staff:
        raise await _deny(runtime, who, action, body, "the reviewer's departments have no staff")
    return dataclasses.replace(who, scope=Scope("staff", staff))


async def post_search(request: web.Request) -> web.Response:
    runtime, who, body, justification, filters, limit, cursor = await _reviewer_query(
        request, "search", 500
    )
    messages, next_cursor = await search(runtime, filters, limit, cursor)
    await append_audit(
        runtime,
        AuditEvent(
            who.actor, who.role, "search", justification, filters_for_audit(body),
            len(messages), "allowed",
        ),
    )  # fmt: skip
    return web.json_response({"messages": messages, "next_cursor": next_cursor})


async def post_export(request: web.Request) -> web.Response:
    runtime, who, body, justification, filters, limit, _ = await _reviewer_query(
        request, "export", MAX_EXPORT
    )
    if "limit" not in body:
        limit = MAX_EXPORT
    result = await export(runtime, filters, limit)
    await append_audit(
        runtime,
        AuditEvent(
            who.actor, who.role, "export", justification, filters_for_audit(body),
            result["manifest"]["count"], "allowed",
        ),
    )  # fmt: skip
    return web.json_response(result)


async def get_audit(request: web.Request) -> web.Response:
    runtime = _runtime(request)
    who = await _principal(request, runtime)
    if who.role != "auditor":
        raise await _deny(runtime, who, "audit", {}, f"role {who.role} cannot read the audit log")
    after = _query_number(request, "cursor", "0", 0, 2**62)
    limit = _query_number(request, "limit", "100", 1, 1000)
    entries = await read_audit(runtime, after, limit)
    out = [{"seq": e.seq, **e.fields, "hash": e.hash, "prev_hash": e.prev_hash} for e in entries]
    next_cursor = str(entries[-1].seq) if len(entries) == limit else None
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

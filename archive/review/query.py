"""Validate a search or export body into `SearchFilters`, and decide who may run it."""

from __future__ import annotations

from typing import Any

from archive.keys.blind_index import query_grams
from archive.review.reviewers import Principal
from archive.review.search import SearchFilters
from scrm.api.errors import ApiError
from scrm.api.params import MAX_EPOCH_MS

MIN_JUSTIFICATION = 10
MAX_LIMIT = 500


def filters_for_audit(body: Any) -> dict[str, Any]:
    """The filters a request asked for, as recorded in the audit log (even when refused)."""
    if not isinstance(body, dict):
        return {}
    names = ("customer", "staff", "room", "from", "to", "keyword", "msgtype", "limit", "cursor")
    return {name: body[name] for name in names if body.get(name) is not None}


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise ApiError(400, "invalid", f"{name} must be a non-empty string", name)
    return value


def _millis(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EPOCH_MS:
        raise ApiError(400, "invalid", f"{name} must be milliseconds since the epoch", name)
    return value


def justification_of(body: Any) -> str:
    """Every query needs a reason a later auditor can judge."""
    value = body.get("justification") if isinstance(body, dict) else None
    if not isinstance(value, str) or len(value.strip()) < MIN_JUSTIFICATION:
        raise ApiError(
            400,
            "justification_required",
            f"justification is required (at least {MIN_JUSTIFICATION} characters)",
            "justification",
        )
    return value.strip()[:1000]


def parse_filters(body: dict[str, Any], principal: Principal) -> SearchFilters:
    """Build the filters; the caller checked the role, this checks values and scope."""
    keyword = _string(body, "keyword")
    filters = SearchFilters(
        customer=_string(body, "customer"),
        staff=_string(body, "staff"),
        room=_string(body, "room"),
        from_ms=_millis(body, "from"),
        to_ms=_millis(body, "to"),
        keyword=keyword,
        msgtype=_string(body, "msgtype"),
        staff_scope=principal.scope.values if principal.scope.kind == "staff" else None,
    )
    if keyword is not None:
        try:
            query_grams(keyword)
        except ValueError:
            raise ApiError(
                400, "invalid", "keyword is empty after normalisation", "keyword"
            ) from None
    return filters


def out_of_scope(filters: SearchFilters, principal: Principal) -> str | None:
    """Why a reviewer may not run this query, or None when it is within their scope."""
    scope = principal.scope
    if scope.kind == "all":
        return None
    if scope.kind == "departments":  # the API resolves departments to staff before this
        return "the reviewer's departments were not resolved"
    if filters.staff is not None and filters.staff not in scope.values:
        return "the staff filter is outside the reviewer's scope"
    return None


def limit_of(body: dict[str, Any], default: int = 50, maximum: int = MAX_LIMIT) -> int:
    value = body.get("limit", default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ApiError(400, "invalid", f"limit must be between 1 and {maximum}", "limit")
    return value

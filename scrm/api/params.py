"""Parsing of query and path parameters: 422 naming a bad query parameter, 404 for a bad id.

Numbers and ids are ASCII digits only: ``str.isdigit()`` also accepts ``²`` and ``①`` (which
``int()`` then refuses) and ``int()`` reads ``١`` as 1 and ``1_0`` as 10.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, overload

from aiohttp import web

from scrm.api.errors import ApiError
from scrm.chat import MAX_USERID
from scrm.storable import text_problem

MAX_ID: Final = 2**62  # ids are BIGINT; cursors are ids
MAX_EPOCH_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_INTEGER = re.compile(r"-?[0-9]+")
_ID = re.compile(r"[0-9]{1,19}")


@overload
def int_param(request: web.Request, name: str, *, default: int, low: int, high: int) -> int: ...
@overload
def int_param(
    request: web.Request, name: str, *, default: None, low: int, high: int
) -> int | None: ...
def int_param(
    request: web.Request, name: str, *, default: int | None, low: int, high: int
) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not _INTEGER.fullmatch(raw):
        raise ApiError(422, "invalid", f"{name} must be a whole number", name)
    value = int(raw) if len(raw) <= 20 else high + 1  # longer is out of range anyway
    if not low <= value <= high:
        raise ApiError(422, "invalid", f"{name} must be between {low} and {high}", name)
    return value


def parse_id(raw: str) -> int | None:
    """A row id from ASCII digits, or None when ``raw`` cannot name a row."""
    if not _ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def path_id(request: web.Request, name: str, what: str) -> int:
    """The numeric id in the path; 404 naming ``what`` when it cannot exist."""
    raw = request.match_info[name]
    value = parse_id(raw)
    if value is None:
        raise ApiError(404, "not_found", f"{what} {raw} does not exist")
    return value


def path_userid(request: web.Request, name: str, what: str) -> str:
    """A WeCom user id in the path; 404 when it is too long or could not be stored anyway."""
    raw = request.match_info[name]
    if not raw or len(raw) > MAX_USERID or text_problem(raw):
        raise ApiError(404, "not_found", f"{what} {raw} does not exist")
    return raw


def text_param(request: web.Request, name: str, *, limit: int) -> str | None:
    """A text query filter; 422 when it is longer than its column or could not be stored."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > limit or text_problem(raw):
        raise ApiError(422, "invalid", f"{name} must be text of at most {limit} characters", name)
    return raw


def choice_param(request: web.Request, name: str, allowed: Sequence[str]) -> str | None:
    """A query filter that must be one of ``allowed``; 422 naming them otherwise."""
    raw = request.query.get(name)
    if raw is not None and raw not in allowed:
        raise ApiError(422, "invalid", f"{name} must be one of {', '.join(allowed)}", name)
    return raw

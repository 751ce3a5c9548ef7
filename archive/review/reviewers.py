"""Reviewers, auditors and archive admins: tokens shown once, stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from archive.runtime import ArchiveRuntime

ROLES = ("reviewer", "auditor", "admin")
SERVICE_ADMIN = "service_admin"  # SCRM_ADMIN_TOKEN: runs the service, never reads content
TOKEN_PREFIX = "sar_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class Scope:
    """What a reviewer may see: everything, or the conversations of listed staff/departments."""

    kind: str  # all | staff | departments
    values: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "values": list(self.values)})

    @classmethod
    def from_json(cls, text: str) -> Scope:
        data = json.loads(text)
        return cls(data["kind"], tuple(data.get("values", ())))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the archive API."""

    actor: str
    role: str
    scope: Scope


def parse_scope(text: str) -> Scope:
    """Parse ``all``, ``staff:a,b`` or ``departments:1,2`` (ValueError names the problem)."""
    if text.strip() == "all":
        return Scope("all")
    kind, sep, rest = text.partition(":")
    values = tuple(v.strip() for v in rest.split(",") if v.strip())
    if not sep or kind not in ("staff", "departments") or not values:
        raise ValueError("scope must be 'all', 'staff:ID,ID…' or 'departments:ID,ID…'")
    if kind == "departments" and not all(v.isascii() and v.isdigit() for v in values):
        raise ValueError("department ids are numbers (WeCom's department_id)")
    return Scope(kind, values)


def hash_token(token: str) -> str:
    """Tokens are 256-bit random, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def add_reviewer(runtime: ArchiveRuntime, name: str, role: str, scope: Scope) -> str:
    """Create a reviewer and return its token; only its hash is stored."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not 1 <= len(name) <= 64:
        raise ValueError("name must be 1 to 64 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db = runtime.db
    rows = await db.fetch(
        f"SELECT id FROM archive_reviewers WHERE name = {db.placeholders(1)[0]}", [name]
    )
    if rows:
        raise ValueError(f"a reviewer named {name!r} already exists")
    marks = ",".join(db.placeholders(6))
    await db.connection().execute_query(
        "INSERT INTO archive_reviewers (name, role, scope, token_hash, created_at, disabled) "
        f"VALUES ({marks})",
        [name, role, scope.to_json(), hash_token(token), runtime.clock(), False],
    )
    return token


async def authenticate(runtime: ArchiveRuntime, header: str) -> Principal | None:
    """The principal behind an ``Authorization: Bearer`` header, or None (→ 401)."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not token.isascii():
        return None  # tokens are ASCII; a non-UTF-8 byte must be a 401, not a 500
    admin = runtime.admin_token
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal("service-admin", SERVICE_ADMIN, Scope("all"))
    db = runtime.db
    rows: list[Any] = list(
        await db.fetch(
            "SELECT name, role, scope FROM archive_reviewers "
            f"WHERE token_hash = {db.placeholders(1)[0]} AND disabled = {db.placeholders(1, 2)[0]}",
            [hash_token(token), False],
        )
    )
    if not rows:
        return None
    row = rows[0]
    return Principal(row["name"], row["role"], Scope.from_json(row["scope"]))

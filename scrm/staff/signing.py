"""Signed tokens for staff pages: the session cookie, the login state, the form CSRF token.

A token is ``base64url(JSON claims) "." base64url(HMAC-SHA256)``. The MAC covers a purpose
label as well as the claims, so a token made for one purpose (the login state) is never
accepted for another (the session). Every token carries ``exp`` (unix seconds); a token past
it, malformed, or with a MAC that does not match (compared in constant time) is None.
Pure: no I/O, the clock is passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

MAX_TOKEN = 2048  # longer is not ours: refused before any decoding
MAX_NEXT = 512


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, body: str) -> bytes:
    return hmac.digest(key, f"{purpose}\x00{body}".encode(), hashlib.sha256)


def sign(key: bytes, purpose: str, claims: Mapping[str, Any]) -> str:
    """A token for ``purpose``; ``claims`` must hold ``exp``."""
    if not isinstance(claims.get("exp"), int):
        raise ValueError("claims need an integer exp")
    body = _b64(json.dumps(dict(claims), separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(_mac(key, purpose, body))}"


def verify(key: bytes, purpose: str, token: str | None, now: float) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token made for ``purpose``; else None."""
    if not token or len(token) > MAX_TOKEN or not token.isascii() or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(given, _mac(key, purpose, body)):
        return None
    try:
        claims = json.loads(_unb64(body))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool) or exp <= now:
        return None
    return claims


def csrf_token(key: bytes, session_id: str) -> str:
    """The form token of one session: forms of another session (or none) do not pass."""
    return _b64(_mac(key, "csrf", session_id))[:32]


def check_csrf(key: bytes, session_id: str, given: str) -> bool:
    expected = csrf_token(key, session_id)
    return given.isascii() and hmac.compare_digest(given.encode(), expected.encode())


def safe_next(path: object) -> str | None:
    """``path`` when it is a path of the staff pages on this site, else None.

    Only a relative ``/s/…`` path passes: no scheme, no host, no ``//`` or ``\\`` that a
    browser would read as another site, no control characters. This is what keeps the
    login from being an open redirect.
    """
    if not isinstance(path, str) or not 3 <= len(path) <= MAX_NEXT or not path.isascii():
        return None
    if not path.startswith("/s/") or "\\" in path or "//" in path:
        return None
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in path):
        return None
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return None
    return path

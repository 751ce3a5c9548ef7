"""The key that signs staff sessions, login states and form tokens.

``SCRM_STAFF_SESSION_SECRET`` when set (every process of a deployment must share it: a
session signed by one host is read by another). Unset, a key is generated once into
``{SCRM_VAR_DIR}/staff-session.key`` (owner-only, linked into place so two processes
starting together agree) and reused; outside sandbox mode that is warned about once, since
several hosts would each make their own. It signs only: it opens nothing stored, so it is
not an archive key and a new one merely logs every staff member out.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from pathlib import Path

from config import Settings

log = logging.getLogger(__name__)
FILE_NAME = "staff-session.key"


def session_key(settings: Settings) -> bytes:
    """32 bytes derived from the configured secret, or from the generated key file."""
    if settings.staff.session_secret:
        secret = settings.staff.session_secret.value
    else:
        secret = _generated(settings.var_dir / FILE_NAME)
        if not settings.sandbox:
            log.warning(
                "staff pages sign sessions with a key generated in %s; set "
                "SCRM_STAFF_SESSION_SECRET to one value on every process when several serve",
                settings.var_dir / FILE_NAME,
            )
    return hashlib.sha256(b"scrm staff session\x00" + secret.encode()).digest()


def _generated(path: Path) -> str:
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then linked into place: a reader never sees a half-written key, and of
    # two processes starting together the first link wins and the other reads it.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
    return _read(path)


def _read(path: Path) -> str:
    text = path.read_text().strip()
    if len(text) < 32:
        raise RuntimeError(f"{path} holds no usable key; delete it to make a new one")
    return text

"""Load, write and generate the archive key file (JSON, owner-only permissions)."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from archive.errors import KeyRingError
from archive.keys.ring import KEY_BYTES, KeyRing, decode_key, show_id

FORMAT = "scrm-archive-keys/1"


def ring_from_document(document: Any, source: str) -> KeyRing:
    """Build a ring from a parsed key-file document; errors name the field, never a value."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise KeyRingError(f"{source}: not a key file (expected format {FORMAT!r})")
    keks = document.get("keks")
    if not isinstance(keks, dict) or not keks:
        raise KeyRingError(f"{source}: 'keks' must be a non-empty object of id: base64")
    for field in ("active", "index", "signing"):
        if not isinstance(document.get(field), str):
            raise KeyRingError(f"{source}: {field!r} must be a string")
    return KeyRing(
        {
            str(kek_id): decode_key(str(value), f"{source} key {show_id(str(kek_id))}")
            for kek_id, value in keks.items()
        },
        document["active"],
        decode_key(document["index"], f"{source} 'index'"),
        decode_key(document["signing"], f"{source} 'signing'"),
    )


def load_key_file(path: Path | str) -> KeyRing:
    """Read a key file, refusing one that group or others may read or write."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise KeyRingError(f"cannot open archive key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())  # the opened file itself, not the name: no race
        if not stat.S_ISREG(info.st_mode):
            raise KeyRingError(f"archive key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyRingError(
                f"archive key file {path} has mode {mode:04o}: group or others can access it; "
                f"run `chmod 600 {path}` (and check who may have read it)"
            )
        raw = handle.read()
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise KeyRingError(f"archive key file {path} is not valid JSON") from None
    return ring_from_document(document, f"archive key file {path}")


def write_key_file(path: Path | str, ring: KeyRing) -> None:
    """Write (or atomically replace) a key file created with mode 0600 from the start."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    data = json.dumps(ring.to_document(), indent=2).encode("utf-8") + b"\n"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def key_file_lock(path: Path | str) -> Iterator[None]:
    """Hold an exclusive lock for a read-modify-write of the key file (``.<name>.lock``).

    Two ``rotate-kek`` runs that read the file before either wrote it would each add a KEK
    under the same id and one would overwrite the other: values sealed under the lost one
    could never be opened. Under this lock each run re-reads the file first.
    """
    path = Path(path)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def generate_ring(kek_id: str = "kek1") -> KeyRing:
    """A fresh ring of random keys: one KEK, the index key and the signing seed."""
    return KeyRing(
        {kek_id: secrets.token_bytes(KEY_BYTES)},
        kek_id,
        secrets.token_bytes(KEY_BYTES),
        secrets.token_bytes(KEY_BYTES),
    )


def generate_key_file(path: Path | str, kek_id: str = "kek1") -> KeyRing:
    """Create a fresh dev key file (never overwrites); the caller must warn loudly."""
    path = Path(path)
    if path.exists():
        raise KeyRingError(f"archive key file {path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    ring = generate_ring(kek_id)
    write_key_file(path, ring)
    return ring

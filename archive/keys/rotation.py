"""KEK rotation: move everything sealed under the ring to a new KEK while the service runs.

With a key file, `rotate_kek` adds a fresh KEK to the file (made active) and then moves every
value to it: each data key is re-wrapped; every value of a column a feature declared
(`archive.keys.sealed_columns`: lead phone numbers, mini-program session keys, robot webhook
keys) is re-sealed, and so is inbox content still waiting for a handler. Running services
notice the replaced key file on their next seal (and on an unknown KEK id) and re-read it, so
nothing stops. With SCRM_ARCHIVE_KEYS the operator adds the new KEK and ``active=`` it first
(and rolls the services), runs the command to move everything to it, then removes the old KEK
there; the start-up check (`archive.keys.loading`) refuses a ring that lacks a KEK a value
still needs. With a key file the old KEK stays until `retire_kek`, which refuses while anything
still needs it.

Every row is updated compare-and-set, in batches: a racing retention shred is never undone,
and a crash midway leaves each value under the old KEK or the new one, both in the ring. Run
again with ``resume=True`` (``rotate-kek --resume``) to finish under the active KEK without
adding another; a run without it adds a fresh KEK and moves everything to that one instead.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from archive.errors import KeyRingError
from archive.keys.envelope import WrappedKey, rewrap
from archive.keys.inbox_seal import count_sealed_under, inbox_walk
from archive.keys.key_file import key_file_lock, write_key_file
from archive.keys.ring import KEY_BYTES
from archive.keys.sealed_columns import (
    DEFAULT_BATCH,
    ColumnResult,
    Progress,
    count_sealed_columns,
    reseal_columns,
    reseal_rows,
)
from archive.review.audit_log import AuditEvent, append_audit
from archive.runtime import ArchiveRuntime
from scrm.db import Database

_KEK_ID = re.compile(r"kek(\d+)")
DATA_KEYS = "archive_partitions.wrapped_key"  # the name progress reports data keys under


@dataclass
class RotationReport:
    """What one `rotate_kek` run did."""

    kek_id: str  # everything was moved to this KEK
    data_keys: int = 0  # data keys re-wrapped
    columns: dict[str, ColumnResult] = field(default_factory=dict)  # per sealed column

    @property
    def unopenable(self) -> dict[str, list[int]]:
        """Per column, the keys of values that did not open (left as they were)."""
        return {name: r.unopenable for name, r in self.columns.items() if r.unopenable}


def _next_kek_id(existing: tuple[str, ...]) -> str:
    """``kek<N>`` one above the highest in the ring: an id is never given out twice.

    (The newest KEK is the active one and stays in the ring, so a retired id is never below
    it; a cached key derived from a retired KEK can never be mistaken for a new one's.)
    """
    numbers = [int(m.group(1)) for m in map(_KEK_ID.fullmatch, existing) if m]
    return f"kek{max(numbers, default=len(existing)) + 1}"


async def rotate_kek(
    runtime: ArchiveRuntime,
    *,
    resume: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> RotationReport:
    """Move every data key and sealed value to a new KEK (``resume``: to the active one)."""
    if runtime.key_file is not None:
        with key_file_lock(runtime.key_file):
            runtime.reload_ring()  # the file is the truth: another run may have rotated already
            if not resume:
                ring = runtime.ring.with_kek(
                    _next_kek_id(runtime.ring.kek_ids), secrets.token_bytes(KEY_BYTES)
                )
                write_key_file(runtime.key_file, ring)  # first: never seal under an unsaved key
                runtime.reload_ring()
    ring = runtime.ring
    report = RotationReport(ring.active_kek_id)
    report.data_keys = await _rewrap_data_keys(runtime, report.kek_id, progress)
    report.columns = await reseal_columns(
        runtime.db, ring, report.kek_id, batch_size=batch_size, progress=progress
    )
    inbox = inbox_walk(ring, report.kek_id)  # content still waiting for a handler
    report.columns[inbox.name] = await reseal_rows(
        runtime.db, inbox, batch_size=batch_size, progress=progress
    )
    counts = {name: r.resealed for name, r in report.columns.items()}
    unopenable = {name: len(keys) for name, keys in report.unopenable.items()}
    await append_audit(
        runtime,
        AuditEvent(
            "rotate-kek", "system", "rotate", f"re-wrap and re-seal under {report.kek_id}",
            {"resealed": counts, "unopenable": unopenable, "resume": resume},
            report.data_keys + sum(counts.values()), "done",
        ),
    )  # fmt: skip
    return report


async def _rewrap_data_keys(runtime: ArchiveRuntime, target: str, progress: Progress | None) -> int:
    """Re-wrap every live data key not under ``target``; each row compare-and-set."""
    db = runtime.db
    rows: list[Any] = list(
        await db.fetch(
            "SELECT id, name, kek_id, wrapped_key FROM archive_partitions "
            f"WHERE wrapped_key IS NOT NULL AND kek_id <> {db.placeholders(1)[0]} ORDER BY id",
            [target],
        )
    )
    marks = db.placeholders(5)
    update = (
        f"UPDATE archive_partitions SET kek_id = {marks[0]}, wrapped_key = {marks[1]} "
        f"WHERE id = {marks[2]} AND kek_id = {marks[3]} AND wrapped_key = {marks[4]}"
    )
    done = 0
    for row in rows:
        old = WrappedKey(row["kek_id"], bytes(row["wrapped_key"]))
        new = rewrap(runtime.ring, old, row["name"], target)
        changed, _ = await db.connection().execute_query(
            update, [new.kek_id, new.blob, row["id"], old.kek_id, old.blob]
        )
        done += int(changed)
        if progress is not None:
            progress(DATA_KEYS, int(changed))
    return done


async def retire_kek(runtime: ArchiveRuntime, kek_id: str) -> None:
    """Remove a KEK from the key file once nothing is wrapped or sealed under it any more."""
    if runtime.key_file is None:
        raise KeyRingError("keys come from SCRM_ARCHIVE_KEYS: remove the KEK there instead")
    with key_file_lock(runtime.key_file):
        runtime.reload_ring()  # never write back a ring older than the file
        await _check_unused(runtime.db, kek_id)
        write_key_file(runtime.key_file, runtime.ring.retire(kek_id))
        runtime.reload_ring()


async def _check_unused(db: Database, kek_id: str) -> None:
    """Raise `KeyRingError` naming what still needs ``kek_id``."""
    rows = await db.fetch(
        "SELECT COUNT(*) AS n FROM archive_partitions WHERE wrapped_key IS NOT NULL "
        f"AND kek_id = {db.placeholders(1)[0]}",
        [kek_id],
    )
    if rows[0]["n"]:
        raise KeyRingError(
            f"{rows[0]['n']} data keys are still wrapped under {kek_id!r}; "
            "run rotate-kek --resume first"
        )
    if waiting := await count_sealed_under(db, kek_id):
        raise KeyRingError(
            f"{waiting} inbox messages waiting for handlers are sealed under {kek_id!r}; "
            "run rotate-kek --resume first"
        )
    if sealed := await count_sealed_columns(db, kek_id):
        listed = ", ".join(f"{count} in {name}" for name, count in sealed.items())
        raise KeyRingError(
            f"values are still sealed under {kek_id!r} ({listed}); retiring it would make them "
            "unreadable, so it stays in the ring: run rotate-kek --resume first"
        )

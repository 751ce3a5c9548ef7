"""The sandbox's corp on disk, so a restarted `make run` meets the same WeCom corp.

A real corp keeps its directory, customers, tags, contact ways and robots across our
restarts; a sandbox that forgot them made the service's stored tag ids fail with 40068. What
a corp keeps is written to one JSON file (``var/sandbox-state.json`` under `make run`):
owner-only, replaced atomically (temp file, fsync, rename), at most once per
``state_save_delay`` seconds while calls come in and once more when the sandbox stops.
Short-lived codes, the call log, injected faults and delivered messages are not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scrm.sandbox.state import (
    Customer,
    Department,
    IssuedToken,
    Relation,
    SandboxState,
    Staff,
    Tag,
    TagGroup,
)

log = logging.getLogger(__name__)

STATE_FILE_NAME = "sandbox-state.json"
FORMAT = 1


def snapshot(state: SandboxState) -> dict[str, Any]:
    """Everything a corp would still know after our restart, as JSON-ready data."""
    return {
        "format": FORMAT,
        "corp_id": state.config.corp_id,
        "departments": [asdict(d) for d in state.departments.values()],
        "staff": [asdict(s) for s in state.staff.values()],
        "customers": [asdict(c) for c in state.customers.values()],
        "relations": [asdict(r) for r in state.relations.values()],
        "tag_groups": [asdict(g) for g in state.tag_groups.values()],
        "contact_ways": state.contact_ways,
        "robots": list(state.robots),
        "appchats": state.appchats,
        # WeCom keeps issued tokens valid until they expire, whoever restarts.
        "tokens": {value: asdict(token) for value, token in state.tokens.items()},
    }


def restore(state: SandboxState, data: dict[str, Any]) -> None:
    """Put a `snapshot` back into a fresh ``state``."""
    state.departments = {d["id"]: Department(**d) for d in data.get("departments", [])} or {
        1: state.departments[1]
    }
    state.staff = {s["userid"]: Staff(**s) for s in data.get("staff", [])}
    state.customers = {c["external_userid"]: Customer(**c) for c in data.get("customers", [])}
    relations = [Relation(**r) for r in data.get("relations", [])]
    state.relations = {(r.userid, r.external_userid): r for r in relations}
    state.tag_groups = {}
    for raw in data.get("tag_groups", []):
        group = TagGroup(**{**raw, "tags": [Tag(**t) for t in raw.get("tags", [])]})
        state.tag_groups[group.group_id] = group
    state.contact_ways = dict(data.get("contact_ways", {}))
    for key in data.get("robots", []):
        state.add_robot(key)
    state.appchats = dict(data.get("appchats", {}))
    state.tokens = {value: IssuedToken(**t) for value, t in data.get("tokens", {}).items()}


class StateFile:
    """One owner-only JSON file, always replaced whole."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        """The stored snapshot, or None when there is none (an unreadable file is set aside)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("not a sandbox state file")
        except ValueError as exc:
            aside = self.path.with_name(self.path.name + ".unreadable")
            os.replace(self.path, aside)
            log.warning("sandbox state %s unreadable (%s); moved to %s", self.path, exc, aside)
            return None
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Write atomically: a reader (or a crash) sees the old file or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=self.path.name + ".", dir=self.path.parent)  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)


class StateSaver:
    """Debounced saving of one sandbox's state: `touch` after a change, `close` at the end."""

    def __init__(self, state: SandboxState, file: StateFile, delay: float) -> None:
        self._state = state
        self._file = file
        self._delay = delay
        self._pending: asyncio.TimerHandle | None = None
        self._written = json.dumps(snapshot(state), sort_keys=True)  # what the file holds
        self.writes = 0

    @classmethod
    def open(cls, state: SandboxState, path: Path, delay: float) -> StateSaver:
        """Load ``path`` into ``state`` (when it belongs to this corp) and keep it saved."""
        file = StateFile(path)
        data = file.load()
        if data is not None and data.get("corp_id") != state.config.corp_id:
            log.warning(
                "sandbox state %s belongs to corp %s, not %s: starting an empty corp",
                path,
                data.get("corp_id"),
                state.config.corp_id,
            )
        elif data is not None:
            restore(state, data)
            log.info("sandbox state restored from %s", path)
        return cls(state, file, delay)

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def touch(self) -> None:
        """Something may have changed: save within ``delay`` seconds (one write per burst)."""
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._delay, self.flush)

    def flush(self) -> None:
        """Write now if the state differs from what the file holds."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        data = snapshot(self._state)
        text = json.dumps(data, sort_keys=True)
        if text == self._written:
            return
        try:
            self._file.save(data)
        except OSError as exc:  # a full disk must not take the sandbox down
            log.error("could not save sandbox state to %s: %s", self._file.path, exc)
            return
        self._written = text
        self.writes += 1

    def close(self) -> None:
        self.flush()

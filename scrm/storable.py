"""Strings every database can store: one check for every intake (issue 9 §4).

JSON can carry what no text column holds: ``\\u0000`` (PostgreSQL refuses NUL in text) and
a lone surrogate such as ``\\ud800`` (not encodable as UTF-8, so neither SQLite nor
PostgreSQL takes it). Such a string inside an otherwise valid item used to fail the whole
group commit it shared with valid neighbours; each intake now refuses the item itself,
naming the field, before it reaches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UnstorableText(ValueError):
    """A key or string value holds a NUL or a lone surrogate; `field` names where (its
    dotted path, ``""`` for the value itself; a bad key names its object)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if "\x00" in text:
        return "must not contain NUL characters"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain unpaired surrogate characters"
    return None


def _join(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_storable(value: Any, field: str = "") -> None:
    """Raise `UnstorableText` for the first key or string in ``value`` (any JSON) that a
    database cannot store; walks without recursion, so nesting depth costs no stack."""
    pending: list[tuple[str, Any]] = [(field, value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise UnstorableText(path, problem)
        elif isinstance(item, Mapping):
            for key, child in item.items():
                key_problem = text_problem(key) if isinstance(key, str) else None
                if key_problem:
                    raise UnstorableText(path, f"a key {key_problem}")
                pending.append((_join(path, key), child))
        elif isinstance(item, list | tuple):
            pending.extend((_join(path, index), child) for index, child in enumerate(item))

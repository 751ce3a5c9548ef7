"""Refuse strings no database stores, before they reach one.

PostgreSQL refuses NUL in text (and ``\\u0000`` in jsonb); a lone surrogate (``"\\ud800"`` is
valid JSON) cannot be encoded as UTF-8 by any driver. Both once ended in a 500 at the first
write; checked here they end in a 4xx naming the field.
"""

from __future__ import annotations

from typing import Any


class Unstorable(ValueError):
    """A string in the value holds NUL or a lone surrogate; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (not valid Unicode text)"
    return None


def reject_unstorable(value: Any, field: str = "") -> None:
    """Raise `Unstorable` for the first string or object key in a JSON value that holds NUL
    or a lone surrogate; ``field`` prefixes the path (``actions[0].tag``, ``rule.name``)."""
    pending: list[tuple[str, Any]] = [(field, value)]
    while pending:  # a loop, not recursion: the value may nest as deep as its parser allowed
        path, item = pending.pop()
        if isinstance(item, str):
            reason = unstorable_reason(item)
            if reason:
                raise Unstorable(path, f"{path or 'the value'} {reason}")
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                child_path = f"{path}.{key}" if path else str(key)
                reason = unstorable_reason(str(key))
                if reason:
                    raise Unstorable(path, f"a key of {path or 'the object'} {reason}")
                pending.append((child_path, child))
        elif isinstance(item, list | tuple):
            pending.extend(
                (f"{path}[{index}]", child) for index, child in reversed(list(enumerate(item)))
            )

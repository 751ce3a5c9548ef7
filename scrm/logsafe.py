"""Request data in logs: escaped, so a CR/LF in a path, header or id never forges a line.

`loggable` is for values a request controls (paths, event names, ids, error texts that may
quote them); `OneLineFilter` is the net under it, installed on the process's log handlers
by run.py, escaping whatever message still carries a line break.
"""

from __future__ import annotations

import logging
import unicodedata

MAX_CHARS = 200


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return char == "\\" or (char != " " and unicodedata.category(char)[0] in "CZ")


def loggable(value: object, limit: int = MAX_CHARS) -> str:
    """``value`` as one printable line: control, format and surrogate characters escaped
    (``\\n`` → ``\\x0a``), cut to ``limit`` characters with a marker."""
    text = str(value)
    cut = len(text) > limit
    text = "".join(_escape(char) if _unsafe(char) else char for char in text[:limit])
    return text + "…" if cut else text


def one_line(message: str) -> str:
    """Escape only line breaks: for a formatted message that may hold request data."""
    return message.replace("\r", "\\r").replace("\n", "\\n").replace("\u2028", "\\u2028")


class OneLineFilter(logging.Filter):
    """Escape line breaks in each record's message, and mark each line of its traceback
    as a continuation (``| ``), so an exception text quoting a request cannot start a line
    that reads like a record of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "one_line", False):
            return True  # another handler already did it
        record.one_line = True
        message = record.getMessage()
        if "\n" in message or "\r" in message or "\u2028" in message:
            record.msg, record.args = one_line(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _continued(record.exc_text)
        if record.stack_info:
            record.stack_info = _continued(record.stack_info)
        return True


def _continued(text: str) -> str:
    lines = text.replace("\r", "\\r").replace("\u2028", "\\u2028").split("\n")
    return "\n".join([lines[0], *("| " + line for line in lines[1:])])


def install(handlers: list[logging.Handler] | None = None) -> None:
    """Add the filter to the root logger's handlers (after `logging.basicConfig`)."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, OneLineFilter) for f in handler.filters):
            handler.addFilter(OneLineFilter())

"""Requests aiohttp refuses before routing (raw UTF-8 in a URL, a broken request line).

aiohttp answers them itself — ``400`` with its reason, e.g. "Invalid char in url query", the
status and text are right — but it logs each as an ERROR with a traceback, which reads like a
crash and lets any client fill the log. This filter turns such a record into one WARNING line
(the reason escaped, no traceback), counted as ``scrm_api_errors_total{code="malformed_http"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError

from scrm.logsafe import loggable

SERVER_LOGGER = "aiohttp.server"
CODE = "malformed_http"


class MalformedRequestFilter(logging.Filter):
    """On the ``aiohttp.server`` logger: a client's malformed request is a warning, counted."""

    def __init__(self, count: Callable[[int, str], None]) -> None:
        super().__init__()
        self._count = count

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError) or not 400 <= (error.code or 0) < 500:
            return True  # a real server error keeps its traceback
        self._count(error.code, CODE)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "refused a malformed HTTP request (%s): %s"
        record.args = (error.code, loggable(error.message, 200))
        record.exc_info, record.exc_text = None, None
        return True


def attach(count: Callable[[int, str], None]) -> Callable[[], None]:
    """Install the filter; the returned function removes it again (at app cleanup)."""
    logger = logging.getLogger(SERVER_LOGGER)
    installed = MalformedRequestFilter(count)
    logger.addFilter(installed)
    return lambda: logger.removeFilter(installed)

"""How a handler tells the worker what to do with a failure."""

from __future__ import annotations


class Retry(Exception):
    """Try this run again later; ``defer`` overrides the backoff delay (seconds)."""

    def __init__(self, reason: str = "", defer: float | None = None) -> None:
        super().__init__(reason)
        self.defer = defer


class PermanentError(Exception):
    """Retrying cannot help (bad data, a business error): park the run as dead at once."""

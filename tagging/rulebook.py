"""Hold the live rule set and swap it whole, so no evaluation sees half of an update."""

import threading
from collections.abc import Iterable

from tagging.engine import RuleEngine, RuleMatch
from tagging.rules import KeywordRule, SenderKind


class RuleBook:
    """The current compiled engine; readers take a snapshot, writers replace it atomically."""

    def __init__(self, rules: Iterable[KeywordRule] = ()) -> None:
        """Start with ``rules`` compiled (none by default)."""
        self._engine = RuleEngine(rules)
        self._version = 0
        self._write = threading.Lock()  # serialises writers only; readers never wait

    @property
    def engine(self) -> RuleEngine:
        """Return the current snapshot; keep using it for a whole batch to stay consistent."""
        return self._engine

    @property
    def version(self) -> int:
        """Count replacements, so callers can tell whether their snapshot is stale."""
        return self._version

    def replace(self, rules: Iterable[KeywordRule]) -> RuleEngine:
        """Compile ``rules`` off to the side, then install them with one reference swap."""
        with self._write:
            engine = RuleEngine(rules)  # the old engine keeps serving while this compiles
            self._engine = engine  # a single assignment: atomic for every reader
            self._version += 1
            return engine

    def evaluate(self, text: str, sender: SenderKind | str) -> list[RuleMatch]:
        """Evaluate one message against the snapshot current at the call."""
        return self._engine.evaluate(text, sender)

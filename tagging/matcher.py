"""Find every keyword in a message with one Aho-Corasick pass, whatever the number of rules."""

from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

import ahocorasick

from tagging.normalize import normalize

Payload = TypeVar("Payload")


class KeywordMatcher(Generic[Payload]):
    """A compiled automaton from normalised keywords to what the caller attached to them."""

    __slots__ = ("_automaton", "_size")

    def __init__(self, payloads: Mapping[str, Payload]) -> None:
        """Compile ``payloads``, whose keys must already be normalised and non-empty."""
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for keyword, payload in payloads.items():
            if not keyword:
                raise ValueError("empty keyword")
            # Store the length so a hit's start costs a subtraction, not a len() call.
            automaton.add_word(keyword, (len(keyword) - 1, payload))
        self._size = len(payloads)
        if self._size:
            automaton.make_automaton()
        self._automaton = automaton

    def __len__(self) -> int:
        """Count the distinct keywords compiled in."""
        return self._size

    def scan(self, normalized: str) -> list[tuple[int, int, Payload]]:
        """Return (start, end, payload) of every occurrence, overlapping ones included.

        Positions index the normalised text, end exclusive, in order of their end.
        """
        if not self._size:
            return []
        return [
            (end - extra, end + 1, payload)
            for end, (extra, payload) in self._automaton.iter(normalized)
        ]

    def contains_any(self, normalized: str) -> bool:
        """Say whether any keyword occurs, stopping at the first."""
        if not self._size:
            return False
        return next(self._automaton.iter(normalized), None) is not None


def compile_keywords(keywords: Iterable[str]) -> KeywordMatcher[str]:
    """Compile plain keywords; each hit's payload is the keyword's normalised form."""
    return KeywordMatcher({form: form for form in map(normalize, keywords) if form})


def match_keywords(matcher: KeywordMatcher[str], text: str) -> set[str]:
    """Return the normalised keywords occurring in ``text`` (normalising it first)."""
    return {payload for _start, _end, payload in matcher.scan(normalize(text))}

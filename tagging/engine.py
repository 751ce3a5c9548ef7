"""Evaluate all enabled rules against one message: normalise, scan once, apply any/all/exclude."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

from tagging.matcher import KeywordMatcher
from tagging.normalize import normalize, normalize_with_spans
from tagging.rules import KeywordRule, SenderKind, action_to_dict


class Role(IntEnum):
    """How a keyword is used by a rule."""

    ANY = 0
    ALL = 1
    EXCLUDE = 2


class _Use(NamedTuple):
    """One rule's use of a normalised keyword, the automaton's payload."""

    rule: int
    role: Role
    keyword: str  # as the operator wrote it, reported back in matches
    form: str  # normalised


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """A counted keyword occurrence, positioned in the ORIGINAL text (end exclusive)."""

    keyword: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """Render for the API."""
        return {"keyword": self.keyword, "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule whose conditions a message meets, with the hits that made it so."""

    rule: KeywordRule
    keywords: tuple[KeywordHit, ...]

    def to_dict(self) -> dict[str, Any]:
        """Render one entry of the API's ``matches`` list."""
        return {
            "rule_id": self.rule.id,
            "rule": self.rule.name,
            "keywords": [hit.to_dict() for hit in self.keywords],
            "actions": [action_to_dict(action) for action in self.rule.actions],
        }


def matches_to_dict(matches: Iterable[RuleMatch]) -> dict[str, Any]:
    """Render the dry-run API answer ``{"matches": [...]}``."""
    return {"matches": [match.to_dict() for match in matches]}


class RuleEngine:
    """All enabled rules compiled into one automaton; immutable once built, safe to share."""

    __slots__ = ("_all_forms", "_listening", "_matcher", "_needs_any", "rules")

    def __init__(self, rules: Iterable[KeywordRule]) -> None:
        """Compile the enabled ``rules``; disabled ones are left out entirely."""
        self.rules: tuple[KeywordRule, ...] = tuple(rule for rule in rules if rule.enabled)
        uses: dict[str, list[_Use]] = {}
        self._all_forms: list[frozenset[str]] = []
        self._needs_any: list[bool] = []
        for index, rule in enumerate(self.rules):
            seen: set[tuple[str, Role]] = set()
            for role, keywords in (
                (Role.ANY, rule.keywords_any),
                (Role.ALL, rule.keywords_all),
                (Role.EXCLUDE, rule.exclude),
            ):
                for keyword in keywords:
                    form = normalize(keyword)
                    if form and (form, role) not in seen:  # 過敏 and 过敏 are one keyword
                        seen.add((form, role))
                        uses.setdefault(form, []).append(_Use(index, role, keyword, form))
            self._all_forms.append(frozenset(normalize(k) for k in rule.keywords_all) - {""})
            self._needs_any.append(bool(rule.keywords_any))
        self._matcher = KeywordMatcher({form: tuple(use) for form, use in uses.items()})
        self._listening = {
            sender: [rule.listens_to(sender) for rule in self.rules] for sender in SenderKind
        }

    @property
    def keyword_count(self) -> int:
        """Count distinct normalised keywords and exclude phrases in the automaton."""
        return len(self._matcher)

    def evaluate(self, text: str, sender: SenderKind | str) -> list[RuleMatch]:
        """Return the rules ``text`` from ``sender`` satisfies, in rule order."""
        try:
            listening = self._listening[sender]  # type: ignore[index]  # StrEnum hashes as str
        except KeyError:
            raise ValueError(f"unknown sender kind {sender!r}") from None
        normalized = normalize(text)
        per_rule: dict[int, list[tuple[int, int, _Use]]] = {}
        for start, end, uses in self._matcher.scan(normalized):
            for use in uses:
                if listening[use.rule]:
                    per_rule.setdefault(use.rule, []).append((start, end, use))
        if not per_rule:
            return []
        spans: tuple[list[int], list[int]] | None = None
        if normalized != text:
            _, starts, ends = normalize_with_spans(text)
            spans = (starts, ends)
        matches = []
        for index in sorted(per_rule):
            counted = self._counted(per_rule[index])
            if counted is None or not self._satisfied(index, counted):
                continue
            hits = sorted(
                {_hit(use, start, end, spans) for start, end, use in counted},
                key=lambda hit: (hit.start, hit.end, hit.keyword),
            )
            matches.append(RuleMatch(self.rules[index], tuple(hits)))
        return matches

    @staticmethod
    def _counted(found: list[tuple[int, int, _Use]]) -> list[tuple[int, int, _Use]] | None:
        """Drop keyword occurrences lying inside an occurrence of an exclude phrase."""
        excluded = [(start, end) for start, end, use in found if use.role is Role.EXCLUDE]
        counted = [
            (start, end, use)
            for start, end, use in found
            if use.role is not Role.EXCLUDE
            and not any(low <= start and end <= high for low, high in excluded)
        ]
        return counted or None

    def _satisfied(self, index: int, counted: list[tuple[int, int, _Use]]) -> bool:
        """Check any-of (when the rule has any-keywords) and all-of on counted occurrences."""
        if self._needs_any[index] and not any(use.role is Role.ANY for _, _, use in counted):
            return False
        required = self._all_forms[index]
        return not required or required <= {
            use.form for _, _, use in counted if use.role is Role.ALL
        }


def _hit(use: _Use, start: int, end: int, spans: tuple[list[int], list[int]] | None) -> KeywordHit:
    """Position a hit in the original text; identical texts need no mapping."""
    if spans is not None:
        start, end = spans[0][start], spans[1][end - 1]
    return KeywordHit(use.keyword, start, end)

"""Evaluate all enabled rules against one message: normalise, scan once, apply any/all/exclude."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from tagging.matcher import KeywordMatcher
from tagging.normalize import normalize, normalize_with_spans
from tagging.rules import KeywordRule, SenderKind, action_to_dict

# How a rule uses a keyword; plain ints because enum lookups are slow on the hot path.
ANY: Final = 1
ALL: Final = 2
EXCLUDE: Final = 4


class _Use(NamedTuple):
    """One rule's use of a normalised keyword, the automaton's payload."""

    rule: int
    role: int  # ANY | ALL when a keyword is in both lists, or EXCLUDE
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

    @property
    def keyword_set(self) -> list[str]:
        """The keywords that matched, sorted and unique: what may be kept about a message.

        No positions and no counts: a rule of single characters would otherwise spell the
        message out to anyone who can read hits (issue 9).
        """
        return sorted({hit.keyword for hit in self.keywords})

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
            for use in _uses(index, rule):
                uses.setdefault(use.form, []).append(use)
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
        found: dict[int, list[tuple[int, int, _Use]]] = {}
        excluded: dict[int, list[tuple[int, int]]] = {}
        for start, end, uses in self._matcher.scan(normalized):
            for use in uses:
                if not listening[use.rule]:
                    continue
                if use.role == EXCLUDE:
                    excluded.setdefault(use.rule, []).append((start, end))
                elif use.rule in found:
                    found[use.rule].append((start, end, use))
                else:
                    found[use.rule] = [(start, end, use)]
        if not found:
            return []
        spans = None if normalized == text else normalize_with_spans(text)
        matches = []
        for index in sorted(found):
            counted = found[index]
            if index in excluded:
                counted = _outside(counted, excluded[index])
            if counted and self._satisfied(index, counted):
                matches.append(RuleMatch(self.rules[index], _hits(counted, spans)))
        return matches

    def _satisfied(self, index: int, counted: list[tuple[int, int, _Use]]) -> bool:
        """Check any-of (when the rule has any-keywords) and all-of on counted occurrences."""
        required = self._all_forms[index]
        if not required:
            return True  # an any-only rule: every counted occurrence is an any-keyword
        if self._needs_any[index] and not any(use.role & ANY for _, _, use in counted):
            return False
        return required <= {use.form for _, _, use in counted if use.role & ALL}


def _uses(index: int, rule: KeywordRule) -> list[_Use]:
    """List how rule ``index`` uses each normalised keyword; 過敏 and 过敏 are one keyword."""
    roles: dict[str, tuple[int, str]] = {}
    for role, keywords in ((ANY, rule.keywords_any), (ALL, rule.keywords_all)):
        for keyword in keywords:
            form = normalize(keyword)
            if form:
                previous, first = roles.get(form, (0, keyword))
                roles[form] = (previous | role, first)
    uses = [_Use(index, role, keyword, form) for form, (role, keyword) in roles.items()]
    phrases = {normalize(phrase): phrase for phrase in reversed(rule.exclude)}
    uses += [_Use(index, EXCLUDE, phrase, form) for form, phrase in phrases.items() if form]
    return uses


def _outside(
    found: list[tuple[int, int, _Use]], excluded: list[tuple[int, int]]
) -> list[tuple[int, int, _Use]]:
    """Drop keyword occurrences lying inside an occurrence of an exclude phrase."""
    return [
        (start, end, use)
        for start, end, use in found
        if not any(low <= start and end <= high for low, high in excluded)
    ]


def _hits(
    counted: list[tuple[int, int, _Use]], spans: tuple[str, list[int], list[int]] | None
) -> tuple[KeywordHit, ...]:
    """Position hits in the original text, ordered by start; identical texts need no map."""
    if len(counted) > 1:
        counted = sorted(counted, key=lambda hit: (hit[0], hit[1]))
    if spans is None:
        return tuple(KeywordHit(use.keyword, start, end) for start, end, use in counted)
    _, starts, ends = spans
    return tuple(
        KeywordHit(use.keyword, starts[start], ends[end - 1]) for start, end, use in counted
    )

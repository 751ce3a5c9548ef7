"""Replay stored messages through a rule to show what it would have done, doing nothing."""

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tagging.engine import KeywordHit, RuleEngine
from tagging.rules import KeywordRule, SenderKind
from tagging.threshold import fire_times


class StoredMessage(NamedTuple):
    """A message as the archive hands it back for a backtest."""

    msgid: str
    customer: str
    sender_kind: SenderKind | str
    time_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class BacktestSample:
    """One message the rule matched, with its text and where the keywords are (reviewers only)."""

    msgid: str
    customer: str
    time_ms: int
    keywords: tuple[KeywordHit, ...]
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Render for the archive's reviewer API."""
        return {
            "msgid": self.msgid,
            "customer": self.customer,
            "time_ms": self.time_ms,
            "text": self.text,
            "keywords": [hit.to_dict() for hit in self.keywords],
        }


@dataclass(slots=True)
class BacktestReport:
    """What a rule would have matched and whom it would have tagged."""

    messages_scanned: int = 0
    messages_matched: int = 0
    customers_matched: int = 0
    customers_fired: int = 0  # distinct customers the rule would have acted on (tagged)
    fires: int = 0  # times the actions would have run, thresholds applied in time order
    keywords: list[str] = field(default_factory=list)  # the rule's keywords seen, sorted
    samples: list[BacktestSample] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts and the set of matched keywords: all a non-reviewer may learn (issue 9)."""
        data = dataclasses.asdict(self)
        del data["samples"]
        return data

    def to_dict(self) -> dict[str, Any]:
        """The summary plus samples with texts and positions: a reviewer's answer."""
        return {**self.summary(), "samples": [sample.to_dict() for sample in self.samples]}


class Backtest:
    """An incremental backtest: `feed` pages of messages as they arrive, then `report`.

    Only hit times are kept per customer, so an archive of any size streams through;
    thresholds are applied to each customer's hits sorted by time at the end.
    """

    def __init__(self, rule: KeywordRule, *, sample_limit: int = 20) -> None:
        self._rule = rule
        self._engine = RuleEngine([dataclasses.replace(rule, enabled=True)])
        self._sample_limit = sample_limit
        self._report = BacktestReport()
        self._hits: dict[str, list[int]] = {}
        self._keywords: set[str] = set()

    @property
    def scanned(self) -> int:
        return self._report.messages_scanned

    def feed(self, messages: Iterable[StoredMessage | tuple[str, str, str, int, str]]) -> None:
        report = self._report
        for msgid, customer, sender_kind, time_ms, text in messages:
            report.messages_scanned += 1
            matches = self._engine.evaluate(text, sender_kind)
            if not matches:
                continue
            report.messages_matched += 1
            self._hits.setdefault(customer, []).append(time_ms)
            self._keywords.update(hit.keyword for hit in matches[0].keywords)
            if len(report.samples) < self._sample_limit:
                report.samples.append(
                    BacktestSample(msgid, customer, time_ms, matches[0].keywords, text)
                )

    def report(self) -> BacktestReport:
        """The totals so far, thresholds applied per customer."""
        report = dataclasses.replace(self._report, samples=list(self._report.samples))
        report.fires = report.customers_fired = 0
        for times in self._hits.values():
            fired = len(fire_times(self._rule.threshold, times))
            report.fires += fired
            report.customers_fired += fired > 0
        report.customers_matched = len(self._hits)
        report.keywords = sorted(self._keywords)
        return report


def backtest(
    rule: KeywordRule,
    messages: Iterable[StoredMessage | tuple[str, str, str, int, str]],
    *,
    sample_limit: int = 20,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
) -> BacktestReport:
    """Run ``rule`` (saved or draft, enabled or not) over ``messages`` in any order."""
    run = Backtest(rule, sample_limit=sample_limit)
    page: list[StoredMessage | tuple[str, str, str, int, str]] = []
    for message in messages:
        page.append(message)
        if len(page) == progress_every:
            run.feed(page)
            page.clear()
            if progress is not None:
                progress(run.scanned)
    run.feed(page)
    if progress is not None:
        progress(run.scanned)
    return run.report()

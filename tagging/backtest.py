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
    """One message the rule matched, with where the keywords are."""

    msgid: str
    customer: str
    time_ms: int
    keywords: tuple[KeywordHit, ...]

    def to_dict(self) -> dict[str, Any]:
        """Render for the API."""
        return {
            "msgid": self.msgid,
            "customer": self.customer,
            "time_ms": self.time_ms,
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
    samples: list[BacktestSample] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Render for the API."""
        data = dataclasses.asdict(self)
        data["samples"] = [sample.to_dict() for sample in self.samples]
        return data


def backtest(
    rule: KeywordRule,
    messages: Iterable[StoredMessage | tuple[str, str, str, int, str]],
    *,
    sample_limit: int = 20,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
) -> BacktestReport:
    """Run ``rule`` (saved or draft, enabled or not) over ``messages`` in any order.

    Only hit times are kept per customer, so the messages are streamed, not loaded;
    thresholds are then applied to each customer's hits sorted by time.
    """
    engine = RuleEngine([dataclasses.replace(rule, enabled=True)])
    report = BacktestReport()
    hits: dict[str, list[int]] = {}
    for msgid, customer, sender_kind, time_ms, text in messages:
        report.messages_scanned += 1
        if progress is not None and report.messages_scanned % progress_every == 0:
            progress(report.messages_scanned)
        matches = engine.evaluate(text, sender_kind)
        if not matches:
            continue
        report.messages_matched += 1
        hits.setdefault(customer, []).append(time_ms)
        if len(report.samples) < sample_limit:
            report.samples.append(BacktestSample(msgid, customer, time_ms, matches[0].keywords))
    for times in hits.values():
        fired = len(fire_times(rule.threshold, times))
        report.fires += fired
        report.customers_fired += fired > 0
    report.customers_matched = len(hits)
    if progress is not None:
        progress(report.messages_scanned)
    return report

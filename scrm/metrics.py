"""Prometheus metrics, one registry per app so tests and several apps in a process never clash."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds: fine-grained under 10 ms, where the callback ack budget lives.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Every counter the service exposes at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.callbacks = Counter(
            "scrm_callbacks_total", "WeCom callbacks by outcome", ["outcome"], registry=r
        )
        self.callback_rejections = Counter(
            "scrm_callback_rejected_total", "Callbacks refused, by reason", ["reason"], registry=r
        )
        self.events_stored = Counter(
            "scrm_events_stored_total", "New events committed to the inbox", registry=r
        )
        self.events_duplicate = Counter(
            "scrm_events_duplicate_total", "Events dropped as duplicates", registry=r
        )
        self.inbox_batch = Histogram(
            "scrm_inbox_batch_size",
            "Events per inbox commit (group commit)",
            buckets=(1, 2, 5, 10, 25, 50, 100, 200, 400),
            registry=r,
        )
        self.inbox_commit = Histogram(
            "scrm_inbox_commit_seconds",
            "Duration of one inbox commit (one round trip for the whole batch)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.callback_seconds = Histogram(
            "scrm_callback_seconds",
            "Callback POST handling, from the request to the answer (accepted ones)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.handler_runs = Counter(
            "scrm_handler_runs_total", "Handler executions", ["handler", "outcome"], registry=r
        )
        self.api_errors = Counter(
            "scrm_api_errors_total", "API error answers", ["status", "code"], registry=r
        )
        self.up = Gauge("scrm_up", "1 while the service is serving", registry=r)
        self.gc_pause = Histogram(
            "scrm_gc_pause_seconds",
            "Garbage-collection pauses by generation",
            ["generation"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2),
            registry=r,
        )

        self.tickets_created = Counter(
            "scrm_tickets_created_total", "Tickets opened, by source", ["source"], registry=r
        )
        self.ticket_notices = Counter(
            "scrm_ticket_notices_total",
            "Ticket notices by channel kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.ticket_sla = Counter(
            "scrm_ticket_sla_total", "SLA warnings and breaches", ["event"], registry=r
        )
        self.keyword_notice_seconds = Histogram(
            "scrm_keyword_notice_seconds",
            "From a customer's message to the group notice naming its ticket",
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )

    def record_batch(self, received: int, new: int, seconds: float) -> None:
        self.inbox_batch.observe(received)
        self.inbox_commit.observe(seconds)
        self.events_stored.inc(new)
        self.events_duplicate.inc(received - new)

    def render(self) -> bytes:
        return generate_latest(self.registry)

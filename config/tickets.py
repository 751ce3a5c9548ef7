"""Tickets: the SLA sweep, the merge window, and email (SMTP) for ticket notices."""

from __future__ import annotations

from dataclasses import dataclass

from config.converters import float_in, int_in, text
from config.source import Source

TICKET_KEYS = "sla_sweep_seconds ticket_merge_window smtp_host smtp_port smtp_from".split()


@dataclass(frozen=True)
class TicketSettings:
    """Tickets: the SLA sweep, the merge window, and email (SMTP); links use `public_url`."""

    sla_sweep_seconds: float = 10.0
    merge_window_seconds: int = 24 * 3600  # a request joins an open ticket this recent
    smtp_host: str | None = None  # unset: email channels cannot send
    smtp_port: int = 25
    smtp_from: str = "scrm@localhost"


def load_tickets(src: Source) -> TicketSettings:
    return TicketSettings(
        sla_sweep_seconds=src.get("sla_sweep_seconds", float_in(0.1, 3600), 10.0),
        merge_window_seconds=src.get("ticket_merge_window", int_in(0, 30 * 86400), 86400),
        smtp_host=src.get("smtp_host", text, None),
        smtp_port=src.get("smtp_port", int_in(1, 65535), 25),
        smtp_from=src.get("smtp_from", text, "scrm@localhost"),
    )

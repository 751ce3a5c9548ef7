"""What the tickets feature needs at run time: its senders and settings (built in app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.email import Mailer
from adapters.wecom import RobotWebhookClient, WeComClient


@dataclass
class TicketRuntime:
    robot: RobotWebhookClient  # group robots: webhook/send?key=
    agent: WeComClient  # the self-built app: message/send, appchat/send
    agent_id: int
    mailer: Mailer | None  # None: no SMTP server configured
    merge_window: int = 24 * 3600

"""The app-level container handed to every handler: adapters are injected, never imported."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from adapters.kv import KVStore
from config import Settings
from scrm.db import Database
from scrm.effects import EffectLedger
from scrm.events.content import ContentSeal
from scrm.metrics import Metrics

if TYPE_CHECKING:
    from adapters.wecom import MiniProgramClient, WeComClient
    from archive.keys.pii import FieldSeal
    from archive.runtime import ArchiveRuntime
    from scrm.autotag.runtime import AutoTagRuntime
    from scrm.events.inbox import Inbox
    from scrm.tickets.runtime import TicketRuntime


@dataclass
class Services:
    settings: Settings
    db: Database
    kv: KVStore
    metrics: Metrics
    wecom: WeComClient
    clock: Callable[[], float] = field(default=time.time)
    # Handlers that emit follow-up events (ticket.requested, alert.raised) store them here.
    inbox: Inbox | None = None
    autotag: AutoTagRuntime | None = None
    # The compliance archive's key ring and stores; only archive/ looks inside.
    archive: ArchiveRuntime | None = None
    # Seals message content in the inbox and opens it for handlers (archive/keys/inbox_seal.py).
    seal: ContentSeal | None = None
    # Ticket notices: robot, app and email senders, links.
    tickets: TicketRuntime | None = None
    # The self-built app (SCRM_AGENT_ID/SCRM_AGENT_SECRET) for app messages; None: not set up.
    agent: WeComClient | None = None
    # Seals and key-hashes personal fields (a lead's phone); keys stay inside archive/.
    pii: FieldSeal | None = None
    # The company mini-program's WeChat client (jscode2session, wxacode); None: not set up.
    miniprogram: MiniProgramClient | None = None

    @cached_property
    def effects(self) -> EffectLedger:
        """The ledger every outbound effect goes through; a claim's lease is the run's."""
        return EffectLedger(self.db, clock=self.clock, lease=self.settings.worker.lease_seconds)

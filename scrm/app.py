"""The app factory: one aiohttp app holding the database, KV, WeCom client, inbox and workers.

Resources open and close in `cleanup_ctx`, in dependency order, so a test, `make run` and a
production process all start and stop the same way. Routers are passed in by the composition
root (run.py), never discovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp
from aiohttp import web

from adapters.email import Mailer
from adapters.kv import KVStore, open_kv
from adapters.wecom import MiniProgramClient, RetryPolicy, RobotWebhookClient, WeComClient
from adapters.wecom.miniprogram import WECHAT_API_BASE
from archive.keys.inbox_seal import InboxSeal
from archive.keys.pii import FieldSeal
from archive.pull.puller import attach_puller
from archive.review import api as archive_api
from archive.runtime import open_archive
from callbacks.crypto import CallbackCrypto
from callbacks.intake import WeComCallbackView
from config import Settings
from scrm.api import customers, events, health, malformed, messages, openapi
from scrm.api.auth import bearer_auth
from scrm.api.errors import error_middleware
from scrm.appkeys import DISPATCHER, INBOX, SERVICES
from scrm.autotag import api as autotag_api
from scrm.autotag.catalog import RuleCatalog
from scrm.autotag.runtime import AutoTagRuntime
from scrm.channels import api as channels_api
from scrm.db import Database, close_database, open_database
from scrm.effects import api as effects_api
from scrm.events.inbox import Inbox
from scrm.events.router import FAST_LANE, Dispatcher, Router
from scrm.events.worker import Worker
from scrm.jobs import JOBS, ticket_jobs
from scrm.leads import api as leads_api
from scrm.leads import miniprogram as leads_miniprogram
from scrm.leads import web as leads_web
from scrm.metrics import Metrics
from scrm.readiness import WECOM_READINESS, WeComReadiness, check_customer_api
from scrm.scheduler import Scheduler
from scrm.services import Services
from scrm.staff import web as staff_web
from scrm.tickets import api as tickets_api
from scrm.tickets.runtime import TicketRuntime

log = logging.getLogger(__name__)
SLOTS = 16  # runs a per-slot lane (welcomes, the add chain, tickets) executes at once
LANE_POLL = 0.1  # seconds between a lane's polls when the doorbell is quiet


def create_app(
    settings: Settings,
    routers: Sequence[Router],
    *,
    clock: Callable[[], float] = time.time,
    kv: KVStore | None = None,
) -> web.Application:
    """Build the service app; nothing connects until the app starts."""
    metrics = Metrics()
    db = Database("postgres" if settings.is_postgres else "sqlite", settings.database_url)
    kv = kv or open_kv(settings.redis_url, prefix="scrm")
    dispatcher = Dispatcher(routers)
    inbox = Inbox(db, dispatcher, kv, clock=clock, on_batch=metrics.record_batch)

    def count_error(status: int, code: str) -> None:
        metrics.api_errors.labels(status=str(status), code=code).inc()

    app = web.Application(
        middlewares=[error_middleware(count_error), bearer_auth(settings.admin_token)],
        client_max_size=max(settings.max_body_bytes, 1024 * 1024),
    )
    app[INBOX] = inbox
    app[DISPATCHER] = dispatcher
    readiness = app[WECOM_READINESS] = WeComReadiness()  # filled in once the app starts
    wecom = settings.wecom
    crypto = CallbackCrypto(wecom.callback_token.value, wecom.callback_aes_key.value, wecom.corp_id)
    WeComCallbackView(
        crypto,
        inbox,
        metrics,
        corp_id=wecom.corp_id,
        max_skew=wecom.callback_max_skew,
        max_body=settings.max_body_bytes,
        clock=clock,
    ).register(app)
    for area in (
        health,
        events,
        effects_api,
        channels_api,
        leads_api,
        leads_web,
        leads_miniprogram,
        customers,
        messages,
        autotag_api,
        archive_api,
        tickets_api,
        openapi,
    ):
        area.register(app)
    staff_web.setup(app, settings, clock)  # the staff pages (/s/…) and their WeCom login

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        # Each resource is released in reverse order, also when a later one fails to open
        # (a missing archive KEK must not leave the database thread keeping the process up).
        async with contextlib.AsyncExitStack() as opened:
            opened.callback(malformed.attach(count_error))
            await open_database(settings.database_url)
            opened.push_async_callback(close_database)
            opened.push_async_callback(kv.close)
            archive_runtime = await open_archive(settings, db)  # refuses a missing KEK
            opened.push_async_callback(archive_runtime.close)  # also stops the SDK worker
            seal = InboxSeal(archive_runtime)  # before any intake: content is never stored clear
            inbox.use_seal(seal)
            attach_puller(archive_runtime, settings, inbox.store_many)  # if the SDK is set
            session = await opened.enter_async_context(aiohttp.ClientSession())
            client = WeComClient.for_customers(session, kv, wecom)
            # The self-built app sends app messages (message/send) with its own secret.
            agent = WeComClient.for_agent(session, kv, wecom)
            services = Services(
                settings,
                db,
                kv,
                metrics,
                client,
                clock=clock,
                inbox=inbox,
                autotag=AutoTagRuntime(RuleCatalog(clock=clock)),
                archive=archive_runtime,
                seal=seal,
                tickets=ticket_runtime(settings, session, kv),
                agent=agent if wecom.agent_id and wecom.agent_secret else None,
                pii=FieldSeal(archive_runtime),
                miniprogram=_miniprogram(settings, session, kv),
            )
            app[SERVICES] = services
            # Once, before anything runs: a missing 客户联系 permission is an ERROR an operator
            # reads at start (and on /readyz), not the first contact event failing.
            # One try (the token cache is shared), so an unreachable WeCom delays nothing.
            once = WeComClient.for_customers(session, kv, wecom, retry=RetryPolicy(tries=1))
            checked = await check_customer_api(once, wecom)
            readiness.status, readiness.errcode = checked.status, checked.errcode
            readiness.message = checked.message
            stop = asyncio.Event()
            workers = _start_workers(db, dispatcher, services, stop)
            opened.push_async_callback(_stop_workers, workers)
            opened.callback(stop.set)
            await inbox.start()
            opened.push_async_callback(inbox.close)  # first out: commit what is queued
            scheduler = Scheduler(services, [*JOBS, *ticket_jobs(settings)])
            if settings.worker.concurrency:  # intake-only processes leave jobs to others
                scheduler.start()
                opened.callback(scheduler.stop)
            metrics.up.set(1)
            opened.callback(metrics.up.set, 0)
            yield

    app.cleanup_ctx.append(lifecycle)
    return app


def ticket_runtime(
    settings: Settings, session: aiohttp.ClientSession, kv: KVStore
) -> TicketRuntime:
    """The senders ticket notices use: robots (no retries: the notices queue backs off)."""
    wecom = settings.wecom
    once = RetryPolicy(tries=1)
    agent = WeComClient.for_agent(session, kv, wecom, retry=once)
    tickets = settings.tickets
    mailer = None
    if tickets.smtp_host:
        mailer = Mailer(tickets.smtp_host, tickets.smtp_port, tickets.smtp_from)
    return TicketRuntime(
        robot=RobotWebhookClient(
            session, wecom.api_base, timeout=wecom.request_timeout, retry=once
        ),
        agent=agent,
        agent_id=wecom.agent_id,
        mailer=mailer,
        merge_window=tickets.merge_window_seconds,
    )


def _miniprogram(
    settings: Settings, session: aiohttp.ClientSession, kv: KVStore
) -> MiniProgramClient | None:
    """The mini-program's WeChat client; the sandbox plays WeChat when the service is sandboxed."""
    if not settings.miniprogram_appid:
        return None
    default = settings.wecom.api_base if settings.sandbox else WECHAT_API_BASE
    return MiniProgramClient(
        session,
        kv,
        appid=settings.miniprogram_appid,
        secret=settings.miniprogram_secret,
        api_base=settings.miniprogram_api_base or default,
        timeout=settings.wecom.request_timeout,
    )


def _start_workers(
    db: Database, dispatcher: Dispatcher, services: Services, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """One worker per lane the routers named, so a lane's runs skip the backlog of the
    others, and the main lane (every other run, oldest first), which yields to the per-slot
    lanes (deadline work)."""
    if services.settings.worker.concurrency == 0:
        return []  # an intake-only process: other processes run the workers
    settings = services.settings.worker
    workers: list[Worker] = []
    for lane, handlers in sorted(dispatcher.lanes.items()):
        if not handlers:
            continue
        per_slot = dispatcher.lane_specs[lane].per_slot
        workers.append(
            Worker(
                db,
                dispatcher,
                services,
                dataclasses.replace(
                    settings,
                    # A per-slot lane's runs wait on WeCom, not the CPU: more at once keeps
                    # 100 adds/s from queueing.
                    concurrency=max(SLOTS, settings.concurrency)
                    if per_slot
                    else settings.concurrency,
                    # A lane's claim is one index range, so polling often bounds the cost of
                    # a missed doorbell.
                    poll_interval=min(LANE_POLL, settings.poll_interval),
                ),
                clock=services.clock,
                name=f"{lane}-worker",
                handlers=sorted(handlers),
                per_slot=per_slot,
            )
        )
    # Who goes first: the welcome's lane, then the other per-slot lanes, then the rest.
    fast = [w for w in workers if w.name == f"{FAST_LANE.name}-worker"]
    for worker in workers:
        if worker.per_slot and worker not in fast:
            worker.yield_to(fast)
    first = [w for w in workers if w.per_slot]
    lanes = sorted(name for names in dispatcher.lanes.values() for name in names)
    main = Worker(db, dispatcher, services, settings, clock=services.clock, skip=lanes)
    main.yield_to(first)
    workers.append(main)
    return [asyncio.create_task(w.run(stop), name=w.name) for w in workers]


async def _stop_workers(tasks: list[asyncio.Task[None]]) -> None:
    """Let running handlers finish briefly; a cut-off run is redelivered after its lease."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=5.0)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""scrm's entry point and composition root: settings, routers, app, commands.

python run.py [serve]      the service (and the sandbox, when no WeCom credentials are set)
python run.py sandbox      only the WeCom sandbox
python run.py simulate     drive a scenario (customers adding staff via QR) against a service
python run.py migrate      apply database migrations and exit
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from archive import cli as archive_cli
from archive.errors import ArchiveCryptoError
from archive.handlers import router as archive_router
from config import ConfigError, Settings, load_settings
from scrm.appkeys import SERVICES
from scrm.autotag import cli as autotag_cli
from scrm.autotag.handlers import router as autotag_router
from scrm.channels import cli as channels_cli
from scrm.channels.handlers import router as channels_router
from scrm.contacts.handlers import router as contacts_router
from scrm.events.router import Router
from scrm.gctune import freeze_startup_objects, measure_pauses
from scrm.leads.handlers import router as leads_router

log = logging.getLogger("scrm")

# Every feature's router, composed here and nowhere else.
ROUTERS: Sequence[Router] = (
    contacts_router,
    channels_router,
    archive_router,
    autotag_router,
    leads_router,
)


def build_app(settings: Settings) -> web.Application:
    from scrm.app import create_app

    return create_app(settings, ROUTERS)


async def serve(settings: Settings) -> None:
    from scrm.db import redact_url
    from scrm.sandbox.app import SandboxServer
    from scrm.sandbox.config import SandboxConfig

    stop = _stop_on_signals()
    sandbox: SandboxServer | None = None
    service_url = f"http://{settings.host}:{settings.port}"
    if settings.sandbox:
        config = SandboxConfig.from_settings(
            settings.wecom, callback_url=f"{service_url}/wecom/callback"
        )
        sandbox = SandboxServer(config, host="127.0.0.1", port=settings.sandbox_port)
        await sandbox.start()
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    measure_pauses(app[SERVICES].metrics.gc_pause)
    freeze_startup_objects()  # everything loaded so far lives as long as the process
    log.info("scrm serving on %s (database %s)", service_url, redact_url(settings.database_url))
    if sandbox is not None:
        print(_sandbox_banner(settings, service_url, sandbox.url), flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if sandbox is not None:
            await sandbox.stop()


async def sandbox_only(settings: Settings) -> None:
    from scrm.sandbox.app import SandboxServer
    from scrm.sandbox.config import SandboxConfig

    stop = _stop_on_signals()
    service_url = f"http://{settings.host}:{settings.port}"
    config = SandboxConfig.from_settings(
        settings.wecom, callback_url=f"{service_url}/wecom/callback"
    )
    async with SandboxServer(config, port=settings.sandbox_port) as sandbox:
        print(f"WeCom sandbox on {sandbox.url}, sending callbacks to {config.callback_url}")
        await stop.wait()


async def migrate_only(settings: Settings) -> None:
    from scrm.db import migrate, redact_url

    applied = await migrate(settings.database_url)
    print(f"{redact_url(settings.database_url)}: applied {applied or 'nothing (up to date)'}")


def _sandbox_banner(settings: Settings, service_url: str, sandbox_url: str) -> str:
    wecom = settings.wecom
    token = settings.admin_token.value
    return "\n".join(
        [
            "",
            "scrm is running in SANDBOX mode (no WeCom credentials configured).",
            f"  service      {service_url}   (callbacks at {service_url}/wecom/callback)",
            f"  sandbox      {sandbox_url}   (plays WeCom; calls log at /_sandbox/calls)",
            f"  corp id      {wecom.corp_id}",
            f"  admin token  {token}",
            "  dev credentials are kept in var/dev-credentials.json (never use them in production)",
            "",
            "Try:",
            f"  curl -H 'Authorization: Bearer {token}' {service_url}/api/v1/events/stats",
            "  python run.py simulate      # customers add staff via QR; then list events:",
            f"  curl -H 'Authorization: Bearer {token}' '{service_url}/api/v1/events?limit=5'",
            "",
        ]
    )


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py", description="scrm")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (default)")
    commands.add_parser("sandbox", help="run only the WeCom sandbox")
    commands.add_parser("migrate", help="apply database migrations")
    sim = commands.add_parser("simulate", help="drive a scenario against a running service")
    sim.add_argument("--customers", type=int, default=5)
    autotag_cli.add_commands(commands)
    archive_cli.add_commands(commands)
    channels_cli.add_commands(commands)
    mig = commands.add_parser("makemigration", help="(development) write the next migration")
    mig.add_argument("name")
    mig.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/test")
    args = parser.parse_args(argv)
    if args.command == "makemigration":
        from scrm.makemigration import main as make

        make(args.name, args.postgres)
        return 0
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    command = args.command or "serve"
    if command == "serve":
        try:
            asyncio.run(serve(settings))
        except ArchiveCryptoError as exc:  # e.g. a data key wrapped under a KEK not in the ring
            print(f"refusing to start: {exc}", file=sys.stderr)
            return 2
    elif command == "sandbox":
        asyncio.run(sandbox_only(settings))
    elif command == "migrate":
        asyncio.run(migrate_only(settings))
    elif command in archive_cli.COMMANDS:
        return asyncio.run(archive_cli.run_command(args, settings, ROUTERS))
    elif command in channels_cli.COMMANDS:
        return asyncio.run(channels_cli.run_command(args, settings))
    elif command == "rules":
        return asyncio.run(autotag_cli.run_command(args, settings))
    elif command == "simulate":
        from scrm.simulate import simulate

        return asyncio.run(simulate(settings, customers=args.customers))
    return 0


if __name__ == "__main__":
    sys.exit(main())

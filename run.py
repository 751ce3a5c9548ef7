"""scrm's entry point and composition root: settings, routers, app, commands.

python run.py [serve]      the service (and the sandbox, when no WeCom credentials are set)
python run.py sandbox      only the WeCom sandbox
python run.py simulate     drive a scenario (customers adding staff via QR) against a service
python run.py migrate      apply database migrations and exit
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from archive import cli as archive_cli
from archive.errors import ArchiveCryptoError
from archive.handlers import router as archive_router
from config import ConfigError, Settings, load_settings
from scrm import logsafe
from scrm.appkeys import SERVICES
from scrm.autotag import cli as autotag_cli
from scrm.autotag.handlers import router as autotag_router
from scrm.channels import cli as channels_cli
from scrm.channels.handlers import router as channels_router
from scrm.contacts.handlers import router as contacts_router
from scrm.events.router import Router
from scrm.gctune import freeze_startup_objects, measure_pauses
from scrm.leads import cli as leads_cli
from scrm.leads.handlers import router as leads_router
from scrm.tickets import cli as tickets_cli
from scrm.tickets.handlers import router as tickets_router

if TYPE_CHECKING:
    from scrm.sandbox.app import SandboxServer

log = logging.getLogger("scrm")

# Every feature's router, composed here and nowhere else.
ROUTERS: Sequence[Router] = (
    contacts_router,
    channels_router,
    archive_router,
    autotag_router,
    tickets_router,
    leads_router,
)

# Libraries that log routine lifecycle at INFO ("Tortoise-ORM shutdown", APScheduler's
# "Adding job tentatively" and "Running job" every minute): an operator acts on none of it.
QUIET_LIBRARIES = ("tortoise", "aerich", "apscheduler", "aiosqlite", "asyncpg")


class PortUnavailable(Exception):
    """A listen port is taken (or not ours to take); the message names the setting."""

    def __init__(self, host: str, port: int, variable: str, exc: OSError) -> None:
        if exc.errno == errno.EADDRINUSE:
            reason = f"port {port} is already in use"
        else:
            reason = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        super().__init__(f"{reason}; set {variable} to a free port")


def build_app(settings: Settings) -> web.Application:
    from scrm.app import create_app

    return create_app(settings, ROUTERS)


async def serve(settings: Settings) -> None:
    from scrm.db import redact_url
    from scrm.sandbox.app import SandboxServer
    from scrm.sandbox.config import SandboxConfig
    from scrm.sandbox.persist import STATE_FILE_NAME

    stop = _stop_on_signals()
    async with contextlib.AsyncExitStack() as opened:
        # Both ports are taken before the database opens: a busy port is one line, not a
        # traceback followed by the database thread's noise.
        listener = opened.enter_context(listen(settings.host, settings.port, "SCRM_PORT"))
        service_url = f"http://{settings.host}:{listener.getsockname()[1]}"  # SCRM_PORT=0
        sandbox: SandboxServer | None = None
        if settings.sandbox:
            config = SandboxConfig.from_settings(
                settings.wecom,
                callback_url=f"{service_url}/wecom/callback",
                state_file=settings.var_dir / STATE_FILE_NAME,  # the same corp after a restart
            )
            sandbox = SandboxServer(config, host="127.0.0.1", port=settings.sandbox_port)
            await start_sandbox(sandbox, settings.sandbox_port)
            opened.push_async_callback(sandbox.stop)
            if settings.wecom.api_base == "http://127.0.0.1:0":  # SCRM_SANDBOX_PORT=0
                wecom = dataclasses.replace(settings.wecom, api_base=sandbox.url)
                settings = dataclasses.replace(settings, wecom=wecom)
        app = build_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        opened.push_async_callback(runner.cleanup)
        await web.SockSite(runner, listener).start()
        measure_pauses(app[SERVICES].metrics.gc_pause)
        freeze_startup_objects()  # everything loaded so far lives as long as the process
        log.info("scrm serving on %s (database %s)", service_url, redact_url(settings.database_url))
        if sandbox is not None:
            print(sandbox_banner(settings, service_url, sandbox.url), flush=True)
        await stop.wait()


async def sandbox_only(settings: Settings) -> None:
    from scrm.sandbox.app import SandboxServer
    from scrm.sandbox.config import SandboxConfig
    from scrm.sandbox.persist import STATE_FILE_NAME

    stop = _stop_on_signals()
    service_url = f"http://{settings.host}:{settings.port}"
    config = SandboxConfig.from_settings(
        settings.wecom,
        callback_url=f"{service_url}/wecom/callback",
        state_file=settings.var_dir / STATE_FILE_NAME,
    )
    sandbox = SandboxServer(config, port=settings.sandbox_port)
    await start_sandbox(sandbox, settings.sandbox_port)
    try:
        print(f"WeCom sandbox on {sandbox.url}, sending callbacks to {config.callback_url}")
        await stop.wait()
    finally:
        await sandbox.stop()


def listen(host: str, port: int, variable: str) -> socket.socket:
    """Bind and listen on (host, port) now, or raise `PortUnavailable` naming `variable`."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise PortUnavailable(host, port, variable, exc) from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
        listener.bind(address)
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise PortUnavailable(host, port, variable, exc) from None
    listener.setblocking(False)
    return listener


async def start_sandbox(sandbox: SandboxServer, port: int) -> None:
    try:
        await sandbox.start()
    except OSError as exc:
        await sandbox.stop()
        raise PortUnavailable("127.0.0.1", port, "SCRM_SANDBOX_PORT", exc) from None


async def migrate_only(settings: Settings) -> None:
    from scrm.db import migrate, redact_url

    applied = await migrate(settings.database_url)
    print(f"{redact_url(settings.database_url)}: applied {applied or 'nothing (up to date)'}")


def sandbox_banner(settings: Settings, service_url: str, sandbox_url: str) -> str:
    """What a new user sees: where things are, and commands that work in a fresh shell."""
    wecom = settings.wecom
    token = settings.admin_token.value
    exports = shell_exports(settings, service_url, sandbox_url)
    curl = "curl -w '\\n' -H \"Authorization: Bearer $TOKEN\""  # -w: a newline after the JSON
    return "\n".join(
        [
            "",
            "scrm is running in SANDBOX mode (no WeCom credentials configured).",
            f"  service      {service_url}   (callbacks at {service_url}/wecom/callback)",
            f"  sandbox      {sandbox_url}   (plays WeCom; calls log at /_sandbox/calls)",
            f"  staff pages  {settings.public_url}/s/   (the sandbox signs in its first member)",
            f"  corp id      {wecom.corp_id}",
            f"  admin token  {token}",
            f"  dev credentials are kept in {settings.var_dir / 'dev-credentials.json'}"
            " (never use them in production)",
            "",
            "Try, in another shell:",
            f"  cd {shlex.quote(os.getcwd())}",
            f"  TOKEN={shlex.quote(token)}",
            *([f"  export {exports}"] if exports else []),  # may pass $TOKEN on
            f"  {python_command()} run.py simulate   # customers add staff via QR, then chat",
            f"  {curl} {service_url}/api/v1/events/stats",
            f"  {curl} '{service_url}/api/v1/events?limit=5'",
            "",
        ]
    )


def python_command() -> str:
    """This interpreter as a user would type it here: `.venv/bin/python`, not `python`."""
    executable = sys.executable or "python3"
    relative = os.path.relpath(executable)
    if relative.startswith(os.pardir):
        return shlex.quote(executable)
    return shlex.quote(relative if os.sep in relative else os.curdir + os.sep + relative)


def shell_exports(settings: Settings, service_url: str, sandbox_url: str) -> str:
    """The variables another shell needs for `run.py simulate` to find this service."""
    values: dict[str, str] = {}
    if "SCRM_CONFIG" in os.environ:
        values["SCRM_CONFIG"] = os.environ["SCRM_CONFIG"]
    if settings.host != "127.0.0.1":
        values["SCRM_HOST"] = settings.host
    port = service_url.rsplit(":", 1)[1]
    if port != "8080":
        values["SCRM_PORT"] = port
    sandbox_port = sandbox_url.rsplit(":", 1)[1]
    if sandbox_port != "8081":
        values["SCRM_SANDBOX_PORT"] = sandbox_port
    if settings.var_dir != Path("var"):  # where the dev credentials (and token) are
        values["SCRM_VAR_DIR"] = str(settings.var_dir)
    exports = [f"{name}={shlex.quote(value)}" for name, value in values.items()]
    if "SCRM_ADMIN_TOKEN" in os.environ:
        exports.append('SCRM_ADMIN_TOKEN="$TOKEN"')
    return " ".join(exports)


def configure_logging(level: str) -> None:
    """Our loggers at `level`; chatty libraries only from WARNING (all of it at DEBUG)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logsafe.install()  # no CR/LF from a request ever starts a forged log line
    quiet = level if logging.getLevelName(level) == logging.DEBUG else "WARNING"
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)


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
    sim.add_argument("--customers", type=int, default=5, help="how many scan (≥ 1; default 5)")
    autotag_cli.add_commands(commands)
    archive_cli.add_commands(commands)
    channels_cli.add_commands(commands)
    tickets_cli.add_commands(commands)
    leads_cli.add_commands(commands)
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
    configure_logging(settings.log_level)
    command = args.command or "serve"
    try:
        if command == "serve":
            asyncio.run(serve(settings))
        elif command == "sandbox":
            asyncio.run(sandbox_only(settings))
    except ArchiveCryptoError as exc:  # e.g. a data key wrapped under a KEK not in the ring
        print(f"refusing to start: {exc}", file=sys.stderr)
        archive = settings.archive
        if not archive.keys and not archive.key_file.exists():
            print(
                f"create the key ring once with: {python_command()} run.py archive init-keys",
                file=sys.stderr,
            )
        return 2
    except PortUnavailable as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    if command == "migrate":
        asyncio.run(migrate_only(settings))
    elif command in archive_cli.COMMANDS:
        return asyncio.run(archive_cli.run_command(args, settings, ROUTERS))
    elif command in channels_cli.COMMANDS:
        return asyncio.run(channels_cli.run_command(args, settings))
    elif command in tickets_cli.COMMANDS:
        return asyncio.run(tickets_cli.run_command(args, settings, ROUTERS))
    elif command in leads_cli.COMMANDS:
        return asyncio.run(leads_cli.run_command(args, settings))
    elif command == "rules":
        return asyncio.run(autotag_cli.run_command(args, settings))
    elif command == "simulate":
        from scrm.simulate import simulate

        return asyncio.run(simulate(settings, customers=args.customers))
    return 0


if __name__ == "__main__":
    sys.exit(main())

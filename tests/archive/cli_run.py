"""Run an archive CLI command as run.py would."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from archive.cli import add_commands, run_command
from config import Settings
from run import ROUTERS
from scrm.events.router import Router


async def run(settings: Settings, *argv: str, routers: Sequence[Router] = ROUTERS) -> int:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    return await run_command(parser.parse_args(list(argv)), settings, routers)

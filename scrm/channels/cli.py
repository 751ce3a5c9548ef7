"""`run.py channels create|list|qrcode`: channels from the command line, same rules as the API.

Talks to WeCom (or, in sandbox mode, to the sandbox that ``make run`` started) through the
same client and service functions as ``/api/v1/channels``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from config import Settings
from scrm.api.errors import ApiError
from scrm.channels import qr
from scrm.channels.models import Channel
from scrm.channels.service import channel_json, code_png, code_text, create_channel
from scrm.channels.spec import SpecError, parse_spec
from scrm.cli_services import cli_services
from scrm.services import Services

COMMANDS = ("channels",)


def add_commands(commands: Any) -> None:
    channels = commands.add_parser("channels", help="acquisition channels (渠道活码)")
    actions = channels.add_subparsers(dest="channels_command", required=True)
    create = actions.add_parser("create", help="create a channel (add_contact_way in WeCom)")
    create.add_argument("--name", help="required unless --json is given")
    create.add_argument(
        "--staff",
        action="append",
        default=[],
        help="userids, comma-separated or repeated; required unless --json is given",
    )
    create.add_argument("--tag", action="append", default=[], help="a corp tag name (repeatable)")
    create.add_argument("--welcome", help="the welcome message text")
    create.add_argument("--state", help="the contact-way state (generated when not given)")
    create.add_argument("--json", dest="spec", help="the whole channel as API JSON instead")
    listing = actions.add_parser("list", help="list channels: id, state, name, staff, kind")
    listing.add_argument("--archived", action="store_true", help="include archived channels")
    code = actions.add_parser("qrcode", help="write a channel's code (PNG, poster or SVG)")
    code.add_argument("channel_id", type=int)
    code.add_argument("--out", required=True, help="the file to write")
    code.add_argument("--poster", action="store_true", help="a printable poster PNG")
    code.add_argument("--caption", help="the poster's caption")
    code.add_argument("--svg", action="store_true", help="the code re-encoded as SVG")


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        async with cli_services(settings) as services:
            if args.channels_command == "create":
                return await _create(args, services)
            if args.channels_command == "list":
                return await _list(args)
            return await _qrcode(args, services)
    except ApiError as exc:
        field = f" ({exc.field})" if exc.field else ""
        print(f"error: {exc.message}{field}", file=sys.stderr)
        return 1


async def _create(args: argparse.Namespace, services: Services) -> int:
    if args.spec:
        try:
            data = json.loads(args.spec)
        except ValueError as exc:
            raise ApiError(400, "invalid", f"--json is not valid JSON: {exc}", "json") from None
    else:
        staff = [userid.strip() for entry in args.staff for userid in entry.split(",")]
        if args.name is None or not any(staff):
            raise ApiError(422, "invalid", "--name and --staff are required (or give --json)")
        data = {"name": args.name, "staff": [userid for userid in staff if userid]}
        data |= {"tags": args.tag} if args.tag else {}
        data |= {"welcome": {"text": args.welcome}} if args.welcome else {}
        data |= {"state": args.state} if args.state else {}
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        raise ApiError(422, "invalid", str(exc), exc.field) from None
    channel = await create_channel(services, spec)
    print(json.dumps(channel_json(channel), ensure_ascii=False, indent=2))
    return 0


async def _list(args: argparse.Namespace) -> int:
    query = Channel.all().order_by("id")
    if not args.archived:
        query = query.filter(archived=False)
    for channel in await query:
        flags = " (default)" if channel.is_default else ""
        flags += " (archived)" if channel.archived else ""
        staff = ",".join(channel.active_staff or channel.staff or []) or "-"
        print(f"{channel.id}\t{channel.state}\t{channel.name}{flags}\t{staff}\t{channel.kind}")
    return 0


async def _qrcode(args: argparse.Namespace, services: Services) -> int:
    channel = await Channel.get_or_none(id=args.channel_id)
    if channel is None:
        raise ApiError(404, "not_found", f"channel {args.channel_id} does not exist")
    if args.svg:
        data = qr.code_svg(await code_text(services, channel))
    elif args.poster:
        png = await code_png(services, channel)
        try:
            data = qr.render_poster(png, channel.name, args.caption)
        except qr.PosterUnavailable as exc:
            raise ApiError(503, "poster_unavailable", str(exc)) from None
    else:
        data = await code_png(services, channel)
    try:
        Path(args.out).write_bytes(data)  # noqa: ASYNC240 - CLI: nothing else runs
    except OSError as exc:
        raise ApiError(400, "invalid", f"cannot write {args.out}: {exc.strerror}", "out") from None
    print(f"wrote {len(data)} bytes to {args.out}", file=sys.stderr)
    return 0

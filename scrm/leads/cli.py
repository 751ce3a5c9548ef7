"""`run.py leads list|show|claim|release`: leads from the command line, same rules as the API.

Reads and changes leads through the same service functions as ``/api/v1/leads``: lists show
phones masked, ``show`` the lead's own record with the phone in full and its history; a claim
is first-wins and capped per day, a release needs an owned open lead. Phones are opened and
hashed with the archive's key ring, as in the service.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from archive.errors import ArchiveCryptoError
from config import Settings
from scrm.api.errors import ApiError
from scrm.cli_services import cli_services
from scrm.leads.models import STATUSES, Lead
from scrm.leads.pool import claim_lead, release_lead
from scrm.leads.queries import LeadFilter, find_leads, lead_detail
from scrm.leads.service import lead_json
from scrm.services import Services

COMMANDS = ("leads",)


def add_commands(commands: Any) -> None:
    leads = commands.add_parser("leads", help="leads (线索) and the public pool (公海)")
    actions = leads.add_subparsers(dest="leads_command", required=True)
    listing = actions.add_parser("list", help="list leads, newest first (phones masked)")
    listing.add_argument("--channel", type=int, help="a channel id")
    listing.add_argument("--owner", help="the owner's userid")
    listing.add_argument("--status", choices=STATUSES)
    pool = listing.add_mutually_exclusive_group()
    pool.add_argument("--pooled", action="store_true", default=None, help="only pooled leads")
    pool.add_argument("--owned", dest="pooled", action="store_false", help="only owned leads")
    listing.add_argument("--q", help="a whole phone number, or part of a name or company")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (1..200)")
    listing.add_argument("--cursor", type=int, help="the next_cursor a previous page printed")
    listing.add_argument("--json", action="store_true", help="the API's JSON instead of lines")
    show = actions.add_parser("show", help="one lead: the phone in full, history, follow-ups")
    show.add_argument("lead_id", type=int)
    claim = actions.add_parser("claim", help="take a pooled lead (the first claim wins)")
    claim.add_argument("lead_id", type=int)
    claim.add_argument("--by", required=True, help="the claiming staff member's userid")
    release = actions.add_parser("release", help="return an owned lead to the pool")
    release.add_argument("lead_id", type=int)
    release.add_argument("--by", required=True, help="who releases it (a userid)")
    release.add_argument("--reason", help="why, kept in the lead's history")


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        async with cli_services(settings, personal_data=True) as services:
            if args.leads_command == "list":
                return await _list(args, services)
            lead = await Lead.get_or_none(id=args.lead_id)
            if lead is None:
                raise ApiError(404, "not_found", f"lead {args.lead_id} does not exist")
            if args.leads_command == "claim":
                lead = await claim_lead(services, lead.id, _userid(args.by, "by"))
            elif args.leads_command == "release":
                by, reason = _userid(args.by, "by"), _reason(args.reason)
                lead = await release_lead(services, lead, by=by, reason=reason)
            print(json.dumps(await lead_detail(services, lead), ensure_ascii=False, indent=2))
            return 0
    except ApiError as exc:
        field = f" ({exc.field})" if exc.field else ""
        print(f"error: {exc.message}{field}", file=sys.stderr)
        return 1
    except ArchiveCryptoError as exc:
        print(f"leads: {exc}", file=sys.stderr)
        return 2


async def _list(args: argparse.Namespace, services: Services) -> int:
    if not 1 <= args.limit <= 200:
        raise ApiError(422, "invalid", "limit must be 1..200", "limit")
    where = LeadFilter(
        channel=args.channel,
        owner=args.owner,
        status=args.status,
        pooled=args.pooled,
        q=args.q,
        cursor=args.cursor,
        limit=args.limit,
    )
    page, next_cursor = await find_leads(services, where)
    if args.json:
        leads = [lead_json(services, lead) for lead in page]
        print(json.dumps({"leads": leads, "next_cursor": next_cursor}, ensure_ascii=False))
        return 0
    for lead in page:
        shown = lead_json(services, lead)
        owner = "(pool)" if lead.pooled else lead.owner or "-"
        columns = (lead.id, shown["phone"], lead.name or "-", lead.status, owner)
        print("\t".join(map(str, columns)) + f"\tchannel {shown['channel_id']}")
    if next_cursor is not None:
        print(f"more: --cursor {next_cursor}", file=sys.stderr)
    return 0


def _userid(value: str, field: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= 64 or not value.isprintable():
        raise ApiError(422, "invalid", f"{field} must be a userid (1..64 characters)", field)
    return value


def _reason(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value.strip()) > 200 or not value.isprintable():
        raise ApiError(422, "invalid", "reason must be 1..200 characters", "reason")
    return value.strip()

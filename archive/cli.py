"""Archive commands for `run.py`: reviewers, import, verify, keys, rotation, daily jobs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from tqdm import tqdm

from adapters.kv import open_kv
from archive.errors import ArchiveCryptoError, KeyRingError
from archive.integrity.signing import sign_checkpoints
from archive.integrity.verify import newest_checkpoint, verify_archive
from archive.keys.inbox_seal import InboxSeal
from archive.keys.key_file import generate_key_file
from archive.keys.rotation import retire_kek, rotate_kek
from archive.review.audit_log import AuditEvent, append_audit
from archive.review.reviewers import ROLES, add_reviewer, parse_scope
from archive.runtime import ArchiveRuntime, open_archive
from archive.store.importer import import_jsonl
from archive.store.retention import apply_retention
from config import Settings
from scrm.db import close_database, open_database
from scrm.events.inbox import Inbox
from scrm.events.router import Dispatcher, Router

COMMANDS = ("reviewers", "archive")


def _anchor(text: str) -> tuple[int, bytes]:
    """Parse ``SEQ:DIGEST`` as printed by `archive verify`."""
    seq, _, digest = text.partition(":")
    try:
        return int(seq), bytes.fromhex(digest)
    except ValueError:
        raise argparse.ArgumentTypeError("expected SEQ:HEX-DIGEST") from None


def add_commands(subparsers: Any) -> None:
    """Add ``reviewers add`` and ``archive import|verify|rotate-kek|…`` to run.py's parser."""
    reviewers = subparsers.add_parser("reviewers", help="archive reviewers and auditors")
    rsub = reviewers.add_subparsers(dest="archive_command", required=True)
    add = rsub.add_parser("add", help="create a reviewer and print its token once")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--scope", default="all", help="all | staff:a,b | departments:1,2")

    archive = subparsers.add_parser("archive", help="the encrypted compliance archive")
    asub = archive.add_subparsers(dest="archive_command", required=True)
    init = asub.add_parser("init-keys", help="create the archive key file (once, before the start)")
    init.add_argument(
        "--file", type=Path, default=None, help="default: SCRM_ARCHIVE_KEY_FILE or var/keys/…"
    )
    imp = asub.add_parser("import", help="import WeCom message JSON, one per line")
    imp.add_argument("file", type=Path)
    ver = asub.add_parser("verify", help="re-check chains, GCM tags and checkpoints")
    ver.add_argument("--from", dest="start", type=date.fromisoformat, default=None)
    ver.add_argument("--to", dest="end", type=date.fromisoformat, default=None)
    ver.add_argument(
        "--anchor", type=_anchor, default=None, metavar="SEQ:DIGEST",
        help="a checkpoint noted earlier (verify prints the newest): it must still be there",
    )  # fmt: skip
    rotate = asub.add_parser(
        "rotate-kek", help="re-wrap every data key and re-seal every sealed value under a new KEK"
    )
    rotate.add_argument(
        "--resume", action="store_true",
        help="finish an interrupted rotation under the active KEK instead of adding a new one",
    )  # fmt: skip
    retire = asub.add_parser("retire-kek", help="remove a KEK nothing is sealed under any more")
    retire.add_argument("kek_id")
    asub.add_parser("sign-checkpoints", help="sign today's chain heads now")
    asub.add_parser("retention", help="crypto-shred partitions past retention now")


async def run_command(
    args: argparse.Namespace, settings: Settings, routers: Sequence[Router] = ()
) -> int:
    """Run one archive command against the configured database; return the exit code.

    `routers` (run.py's) decide which handlers an imported message's `chat.message` event
    fans out to, exactly as in the service.
    """
    if (args.command, args.archive_command) == ("archive", "init-keys"):
        return init_keys(args.file or settings.archive.key_file, settings)  # no database yet
    db = await open_database(settings.database_url)
    kv = open_kv(settings.redis_url, prefix="scrm")  # rings the service's workers
    inbox = Inbox(db, Dispatcher(routers), kv)
    try:
        try:
            runtime = await open_archive(settings, db)
        except ArchiveCryptoError as exc:
            print(f"archive: {exc}", file=sys.stderr)
            return 2
        inbox.use_seal(InboxSeal(runtime))  # imported messages wait for handlers sealed
        return await _dispatch(args, runtime, inbox)
    finally:
        await inbox.close()
        await kv.close()
        await close_database()


async def _rotate(runtime: ArchiveRuntime, *, resume: bool) -> int:
    """rotate-kek with a progress bar per column; a failure says how to finish."""
    bars: dict[str, Any] = {}

    def progress(name: str, count: int) -> None:
        if name not in bars:
            bars[name] = tqdm(desc=name, unit="value", disable=not sys.stderr.isatty())
        bars[name].update(count)

    try:
        report = await rotate_kek(runtime, resume=resume, progress=progress)
    except Exception as exc:  # the database went away, the process is stopping, …
        print(
            f"rotate-kek stopped ({type(exc).__name__}: {exc}); every value still opens with "
            "the ring. Run `run.py archive rotate-kek --resume` to finish.",
            file=sys.stderr,
        )
        return 1
    finally:
        for bar in bars.values():
            bar.close()
    print(f"{report.data_keys} data keys re-wrapped under {report.kek_id}")
    for name, result in report.columns.items():
        print(f"{result.resealed} values of {name} re-sealed under {report.kek_id}")
    for name, keys in report.unopenable.items():
        shown = ", ".join(map(str, keys[:20])) + (", …" if len(keys) > 20 else "")
        print(
            f"{len(keys)} values of {name} do not open (altered, or their KEK is gone) and "
            f"were left as they are: ids {shown}",
            file=sys.stderr,
        )
    return 1 if report.unopenable else 0


def init_keys(path: Path, settings: Settings) -> int:
    """Write a fresh key ring to a new owner-only file and say what to set; never overwrite."""
    try:
        generate_key_file(path)
    except (KeyRingError, OSError) as exc:
        print(f"archive init-keys: {exc}", file=sys.stderr)
        return 2
    path = path.resolve()
    print(f"wrote a new archive key ring to {path} (mode 0600, owner only)")
    print("Back it up now, apart from the database: whoever holds it can read the archive,")
    print("and losing it loses the archive. Then, for every scrm process, set:")
    print(f"  SCRM_ARCHIVE_KEY_FILE={path}")
    if settings.archive.keys:
        print("Note: SCRM_ARCHIVE_KEYS is set and wins over every key file; unset it.")
    return 0


async def _dispatch(args: argparse.Namespace, runtime: ArchiveRuntime, inbox: Inbox) -> int:
    action = f"{args.command} {args.archive_command}"
    if action == "reviewers add":
        try:
            scope = parse_scope(args.scope)
            token = await add_reviewer(runtime, args.name, args.role, scope)
        except ValueError as exc:
            print(f"reviewers add: {exc}", file=sys.stderr)
            return 2
        print(f"reviewer {args.name!r} ({args.role}, scope {args.scope}) created.")
        print("Token (shown once, store it now):")
        print(token)
        return 0
    if action == "archive import":
        try:
            args.file.open("rb").close()
        except OSError as exc:
            print(f"archive import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
        report = await import_jsonl(runtime, args.file, inbox.store_many)
        await append_audit(
            runtime,
            AuditEvent(
                "cli", "system", "import", f"import of {args.file.name}",
                {"file": args.file.name, "rejected": len(report.errors)}, report.stored, "done",
            ),
        )  # fmt: skip
        for number, reason in report.errors:
            print(f"{args.file}:{number}: {reason}", file=sys.stderr)
        print(
            f"read {report.read}, stored {report.stored}, duplicates {report.duplicates}, "
            f"rejected {len(report.errors)}, chat.message events queued {report.queued}"
        )
        return 1 if report.errors else 0
    if action == "archive verify":
        problems = await verify_archive(runtime, args.start, args.end, args.anchor)
        for line in problems:
            print(line)
        newest = await newest_checkpoint(runtime)
        if newest is not None:
            print(
                f"newest checkpoint: {newest.seq}:{newest.digest().hex()} ({newest.day}); "
                "keep it outside the database and pass it as --anchor later"
            )
        else:  # nothing to anchor yet: say when there will be
            print(
                "no checkpoint signed yet: the service signs one daily "
                "(`run.py archive sign-checkpoints` signs today's now); verify then prints it"
            )
        count = len(problems)
        print("archive verify: " + (f"{count} problem{'s' * (count != 1)}" if count else "OK"))
        return 1 if problems else 0
    if action == "archive rotate-kek":
        return await _rotate(runtime, resume=args.resume)
    if action == "archive retire-kek":
        try:
            await retire_kek(runtime, args.kek_id)
        except ArchiveCryptoError as exc:
            print(f"retire-kek: {exc}", file=sys.stderr)
            return 2
        print(f"KEK {args.kek_id} retired")
        return 0
    if action == "archive sign-checkpoints":
        print(f"{await sign_checkpoints(runtime, runtime.clock())} checkpoints signed")
        return 0
    if action == "archive retention":
        shredded = await apply_retention(runtime, runtime.clock())
        print(f"shredded: {', '.join(shredded) or 'nothing due'}")
        return 0
    print(f"unknown archive command {action}", file=sys.stderr)
    return 2

"""`run.py rules import|export`: all keyword rules as one YAML or JSON file.

Import validates every rule first and changes nothing if one is invalid; rules are matched
by name (created or replaced); running services pick the change up within about a second (the
rule version is in the database, so this works with or without Redis).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from tortoise.transactions import in_transaction
from tqdm import tqdm

from config import Settings
from scrm.autotag.catalog import RuleCatalog, definition_of, rule_from_row, rule_json
from scrm.autotag.models import TagRule
from scrm.db import Database, close_database, open_database
from tagging import RuleValidationError, parse_rule


def add_commands(commands: Any) -> None:
    rules = commands.add_parser("rules", help="keyword tagging rules")
    actions = rules.add_subparsers(dest="rules_command", required=True)
    export = actions.add_parser("export", help="write every rule to FILE (or stdout)")
    export.add_argument("file", nargs="?")
    export.add_argument("--format", choices=("yaml", "json"), default=None)
    load = actions.add_parser("import", help="create or replace rules from a YAML/JSON file")
    load.add_argument("file")
    test = actions.add_parser(
        "backtest", help="run a rule over archived messages, no actions: counts and keywords"
    )
    which = test.add_mutually_exclusive_group(required=True)
    which.add_argument("rule_id", nargs="?", type=int, help="a saved rule")
    which.add_argument("--draft", help="a YAML/JSON file holding one rule not yet saved")
    test.add_argument("--from", dest="from_", required=True, type=_when, help="YYYY-MM-DD or ms")
    test.add_argument("--to", required=True, type=_when, help="YYYY-MM-DD (inclusive) or ms")


async def run_command(args: argparse.Namespace, settings: Settings) -> int:
    db = await open_database(settings.database_url)
    try:
        if args.rules_command == "export":
            return await export_rules(args.file, args.format)
        if args.rules_command == "backtest":
            return await backtest_command(args, settings, db)
        return await import_rules(Path(args.file), RuleCatalog())
    finally:
        await close_database()


async def export_rules(file: str | None, fmt: str | None) -> int:
    rules = [rule_json(row) for row in await TagRule.all().order_by("id")]
    for rule in rules:
        rule.pop("id")
    document = {"rules": rules}
    fmt = fmt or ("json" if file and file.endswith(".json") else "yaml")
    text = (
        json.dumps(document, ensure_ascii=False, indent=2)
        if fmt == "json"
        else yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
    )
    if file:
        try:
            Path(file).write_text(text, encoding="utf-8")  # noqa: ASYNC240 - CLI: nothing else runs
        except OSError as exc:
            print(f"cannot write {file}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"exported {len(rules)} rules to {file}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def read_rules(path: Path) -> list[dict[str, Any]]:
    document = _load(path)
    rules = document.get("rules") if isinstance(document, dict) else document
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError("the file must hold a list of rules (or {rules: [...]})")
    return rules


async def import_rules(path: Path, catalog: RuleCatalog) -> int:
    try:
        raw = read_rules(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    parsed, problems = [], []
    for index, data in enumerate(raw):
        data = {k: v for k, v in data.items() if k != "id"}
        try:
            parsed.append(parse_rule(data, 0))
        except RuleValidationError as exc:
            problems += [f"rule {index + 1}: {e.field}: {e.message}" for e in exc.errors]
    names = [rule.name for rule in parsed]
    problems += [f"the name {n!r} appears twice" for n in set(names) if names.count(n) > 1]
    if problems:
        print("\n".join(problems) + "\nnothing was imported", file=sys.stderr)
        return 2
    created = replaced = 0
    now = time.time()
    async with in_transaction():  # running services see all of the file or none of it
        for rule in parsed:
            row = await TagRule.get_or_none(name=rule.name)
            if row is None:
                await TagRule.create(
                    name=rule.name,
                    definition=definition_of(rule),
                    enabled=rule.enabled,
                    created_at=now,
                    updated_at=now,
                )
                created += 1
            else:
                row.definition, row.enabled, row.updated_at = definition_of(rule), rule.enabled, now
                await row.save()
                replaced += 1
        await catalog.changed()
    print(f"imported {len(parsed)} rules: {created} created, {replaced} replaced")
    return 0


def read_draft(path: Path) -> dict[str, Any]:
    """The one rule of a draft file: the rule itself, or a list (or {rules: [...]}) of one."""
    document = _load(path)
    if isinstance(document, dict) and "rules" not in document:
        return {k: v for k, v in document.items() if k != "id"}
    rules = read_rules(path)
    if len(rules) != 1:
        raise ValueError(f"a draft file holds one rule, not {len(rules)}")
    return {k: v for k, v in rules[0].items() if k != "id"}


def _when(text: str) -> int:
    """Milliseconds from ``YYYY-MM-DD`` (UTC midnight) or a plain millisecond count."""
    if text.isascii() and text.isdigit():  # not ² or ١, which isdigit() also accepts
        return int(text)
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not YYYY-MM-DD or milliseconds") from None
    moment = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


async def backtest_command(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    from archive.runtime import open_archive
    from scrm.autotag.backtest import audit_summary_backtest, backtest_rule

    if args.draft:
        try:
            rule = parse_rule(read_draft(Path(args.draft)), 0)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            print(f"cannot use {args.draft}: {exc}", file=sys.stderr)
            return 2
    else:
        row = await TagRule.get_or_none(id=args.rule_id)
        if row is None:
            print(f"no rule {args.rule_id}", file=sys.stderr)
            return 2
        rule = rule_from_row(row)
    to_ms = args.to + 86_400_000 - 1 if args.to % 86_400_000 == 0 else args.to
    if args.from_ > to_ms:
        print("--from is after --to: no day to scan", file=sys.stderr)
        return 2
    runtime = await open_archive(settings, db)
    with tqdm(desc=f"backtest {rule.name}", unit=" msg") as bar:
        report, _ = await backtest_rule(
            runtime,
            rule,
            from_ms=args.from_,
            to_ms=to_ms,
            progress=lambda scanned: bar.update(scanned - bar.n),
        )
    await audit_summary_backtest(
        runtime, rule, report, from_ms=args.from_, to_ms=to_ms, actor="cli"
    )
    # Counts and matched keywords only: texts and positions are a reviewer's query.
    print(json.dumps(report.summary(), ensure_ascii=False, indent=2))
    print("sample messages: a reviewer's query, POST /api/v1/archive/backtest", file=sys.stderr)
    return 0

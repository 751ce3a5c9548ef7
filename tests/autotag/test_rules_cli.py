"""Rules import/export through the real CLI entry point, on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import run
from scrm.autotag.models import TagRule
from scrm.db import close_database, open_database

RULES = {
    "rules": [
        {
            "name": "过敏预警",
            "keywords_any": ["过敏"],
            "actions": [{"type": "add_tag", "tag": "过敏风险"}],
        },
        {
            "name": "投诉",
            "keywords_any": ["投诉", "差评"],
            "scope": "any",
            "actions": [{"type": "alert", "channel": "qa"}],
        },
    ]
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCRM_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("SCRM_REDIS_URL", raising=False)
    monkeypatch.delenv("SCRM_DATABASE_URL", raising=False)
    return tmp_path


async def names(tmp_path: Path) -> list[str]:
    await open_database(f"sqlite://{tmp_path}/var/scrm.db")
    try:
        return list(await TagRule.all().order_by("id").values_list("name", flat=True))
    finally:
        await close_database()


def test_import_then_export_round_trips(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = env / "rules.yaml"
    source.write_text(yaml.safe_dump(RULES, allow_unicode=True))
    assert run.main(["rules", "import", str(source)]) == 0
    assert "2 created, 0 replaced" in capsys.readouterr().out
    assert run.main(["rules", "import", str(source)]) == 0  # again: replaced by name
    assert "0 created, 2 replaced" in capsys.readouterr().out
    out = env / "out.json"
    assert run.main(["rules", "export", str(out)]) == 0
    exported = json.loads(out.read_text())["rules"]
    assert [r["name"] for r in exported] == ["过敏预警", "投诉"]
    assert exported[1]["scope"] == "any" and "id" not in exported[0]


def test_an_invalid_rule_imports_nothing(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    bad = {"rules": [RULES["rules"][0], {"name": "坏", "keywords_any": [" "], "actions": []}]}
    source = env / "bad.json"
    source.write_text(json.dumps(bad, ensure_ascii=False))
    assert run.main(["rules", "import", str(source)]) == 2
    err = capsys.readouterr().err
    assert "rule 2: keywords_any[0]" in err and "nothing was imported" in err
    assert asyncio.run(names(env)) == []


def test_export_to_an_unwritable_path_says_so(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.main(["rules", "export", str(env / "no-such-dir" / "rules.yaml")]) == 2
    assert "cannot write" in capsys.readouterr().err  # a line, not a traceback


def test_backtest_takes_a_draft_file_holding_one_rule(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--draft` is "a file holding one rule": the rule itself, as one writes it."""
    draft = env / "draft.yaml"
    draft.write_text(yaml.safe_dump(RULES["rules"][0], allow_unicode=True))
    day = ["--from", "2026-11-30", "--to", "2026-11-30"]
    assert run.main(["rules", "backtest", "--draft", str(draft), *day]) == 0
    assert json.loads(capsys.readouterr().out)["messages_scanned"] == 0
    draft.write_text(yaml.safe_dump(RULES, allow_unicode=True))  # two rules: which one?
    assert run.main(["rules", "backtest", "--draft", str(draft), *day]) == 2
    assert "holds one rule, not 2" in capsys.readouterr().err


def test_backtest_refuses_a_period_that_ends_before_it_starts(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = env / "draft.yaml"
    draft.write_text(yaml.safe_dump(RULES["rules"][0], allow_unicode=True))
    period = ["--from", "2026-12-30", "--to", "2026-11-30"]
    assert run.main(["rules", "backtest", "--draft", str(draft), *period]) == 2
    captured = capsys.readouterr()
    assert "--from is after --to" in captured.err and captured.out == ""

"""Backtests run a rule over the encrypted archive: counts, samples, audit, no actions.

The admin gets counts and matched keyword sets only; samples with texts and positions are
a reviewer's query under /api/v1/archive/backtest (token, justification, scope, audit).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from archive.review.audit_log import read_audit
from archive.review.reviewers import Scope, add_reviewer
from scrm.appkeys import SERVICES
from scrm.autotag.models import RuleHit
from tests.e2e.conftest import Stack

DAY = 86_400_000
NOW = int(time.time() * 1000)
ROOT = Path(__file__).resolve().parents[2]


def chat(msgid: str, sender: str, text: str, ms: int, to: str = "zhangsan") -> dict[str, Any]:
    return {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": [to],
        "roomid": "",
        "msgtime": ms,
        "msgtype": "text",
        "text": {"content": text},
    }


HISTORY = [
    chat("h1", "wmA", "我好像过敏了", NOW - 3 * DAY),
    chat("h2", "wmA", "又过敏了", NOW - 2 * DAY),
    chat("h3", "wmB", "我不过敏", NOW - 2 * DAY),
    chat("h4", "wmC", "起疹子了", NOW - DAY),
    chat("h5", "zhangsan", "过敏的话请就医", NOW - DAY, to="wmC"),  # staff: out of scope
    chat("h6", "wmD", "过敏", NOW - 40 * DAY),  # outside the period
]
RULE = {
    "name": "过敏",
    "keywords_any": ["过敏", "起疹子"],
    "exclude": ["不过敏"],
    "threshold": {"count": 2, "window_days": 7},
    "actions": [{"type": "add_tag", "tag": "过敏风险"}],
}


async def archive_history(stack: Stack) -> None:
    status, body = await stack.api("POST", "/api/v1/messages", json=HISTORY)
    assert (status, body["accepted"]) == (200, len(HISTORY))
    await stack.drain()


async def test_backtest_of_a_saved_rule_over_the_archive(stack: Stack) -> None:
    await archive_history(stack)  # archived before the rule exists: nothing tagged
    _, rule = await stack.api("POST", "/api/v1/tag-rules", json=RULE)
    period = {"from": NOW - 10 * DAY, "to": NOW}
    status, report = await stack.api(
        "POST", f"/api/v1/tag-rules/{rule['id']}/backtest", json=period
    )
    assert status == 200
    assert report["messages_scanned"] == 5  # text messages in the period
    assert report["messages_matched"] == 3  # h1, h2, h4
    assert (report["customers_matched"], report["customers_fired"], report["fires"]) == (2, 1, 1)
    assert report["keywords"] == ["起疹子", "过敏"]  # a set: no positions, no texts
    assert "samples" not in report
    assert report["truncated"] is False
    assert await RuleHit.all().count() == 0 and stack.sandbox_calls("mark_tag") == []
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    [entry] = [e.fields for e in await read_audit(runtime) if e.fields["action"] == "backtest"]
    assert (entry["result_count"], entry["outcome"]) == (3, "done")
    assert entry["filters"]["keywords"] == ["过敏", "起疹子"]  # the auditor sees the rule


async def test_backtest_of_a_draft_and_bad_input(stack: Stack) -> None:
    await archive_history(stack)
    draft = {**RULE, "threshold": None}
    status, report = await stack.api(
        "POST",
        "/api/v1/tag-rules/backtest",
        json={"rule": draft, "from": NOW - 50 * DAY, "to": NOW},
    )
    assert status == 200
    assert (report["messages_matched"], report["customers_fired"]) == (4, 3)
    for body, field in (
        ({"rule": draft, "from": NOW, "to": NOW - 1}, "from"),
        ({"rule": draft, "from": "yesterday", "to": NOW}, "from"),
        ({"rule": draft, "from": 0, "to": 400 * DAY}, "to"),
        ({"rule": {**draft, "keywords_any": []}, "from": 0, "to": DAY}, "rule.keywords_any"),
    ):
        status, answer = await stack.api("POST", "/api/v1/tag-rules/backtest", json=body)
        assert (status, answer["error"]["field"]) == (422, field)
    status, _ = await stack.api("POST", "/api/v1/tag-rules/999/backtest", json={"from": 0, "to": 1})
    assert status == 404


async def test_cli_backtest_prints_the_report(stack: Stack) -> None:
    if stack.settings.is_postgres:
        return  # one engine is enough for the command line; the API test covers both
    await archive_history(stack)
    _, rule = await stack.api("POST", "/api/v1/tag-rules", json=RULE)
    env = {
        **os.environ,
        "SCRM_VAR_DIR": str(stack.settings.var_dir),
        "SCRM_DATABASE_URL": stack.settings.database_url,
    }
    day = time.strftime("%Y-%m-%d", time.gmtime(NOW / 1000))
    since = time.strftime("%Y-%m-%d", time.gmtime((NOW - 10 * DAY) / 1000))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "run.py",
        "rules",
        "backtest",
        str(rule["id"]),
        "--from",
        since,
        "--to",
        day,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    assert (report["messages_matched"], report["customers_fired"]) == (3, 1)
    assert report["keywords"] == ["起疹子", "过敏"] and "samples" not in report
    assert "backtest 过敏" in err.decode()  # the progress bar


def _reviewer(stack: Stack) -> Any:
    runtime = stack.server.app[SERVICES].archive
    assert runtime is not None
    return runtime


async def reviewer_backtest(stack: Stack, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    return await stack.api(
        "POST",
        "/api/v1/archive/backtest",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


WHY = "checking the allergy rule before enabling it"


def _positions_or_texts(value: Any, texts: list[str]) -> list[str]:
    """Every key naming a position, and every archived text found, anywhere in ``value``."""
    found: list[str] = []
    if isinstance(value, dict):
        found += [key for key in value if key in ("start", "end", "samples", "text")]
        for item in value.values():
            found += _positions_or_texts(item, texts)
    elif isinstance(value, list):
        for item in value:
            found += _positions_or_texts(item, texts)
    elif isinstance(value, str):
        found += [text for text in texts if text in value]
    return found


async def test_single_character_alphabet_no_longer_reconstructs_messages(stack: Stack) -> None:
    """The issue's attack: 22 draft backtests of single characters used to return every
    character's position in every archived message. The admin now learns keyword sets."""
    secret = "wmA: 我的卡号是 6222 0200, 密码 pass!"
    await stack.api("POST", "/api/v1/messages", json=[chat("s1", "wmA", secret, NOW - DAY)])
    await stack.drain()
    alphabets = [[chr(c) for c in range(0x21, 0x7F)]]
    alphabets += [
        [chr(c) for c in range(low, min(low + 1000, 0x9FA6))] for low in range(0x4E00, 0x9FA6, 1000)
    ]
    assert len(alphabets) == 22
    answers = []
    for index, alphabet in enumerate(alphabets):
        draft = {"name": f"a{index}", "keywords_any": alphabet, "actions": RULE["actions"]}
        status, report = await stack.api(
            "POST",
            "/api/v1/tag-rules/backtest",
            json={"rule": draft, "from": NOW - 2 * DAY, "to": NOW},
        )
        assert status == 200
        answers.append(report)
    texts = [secret[i : i + 2] for i in range(len(secret) - 1) if secret[i : i + 2].strip()]
    assert _positions_or_texts(answers, texts) == []
    for report in answers:  # sets in code point order, never in the message's order
        assert report["keywords"] == sorted(set(report["keywords"]))
    assert {k.casefold() for k in answers[0]["keywords"]} == set("!,026:ampsw")
    assert "我的卡号" not in json.dumps(answers, ensure_ascii=False)
    # the same alphabet as a live rule: hits and alerts keep which characters, not where
    rule = {
        "name": "alphabet",
        "keywords_any": alphabets[0],
        "actions": [{"type": "alert", "channel": "x"}],
    }
    assert (await stack.api("POST", "/api/v1/tag-rules", json=rule))[0] == 201
    later = "hello world, pay 42"
    await stack.api("POST", "/api/v1/messages", json=[chat("s2", "wmA", later, NOW)])
    await stack.drain()
    _, hits = await stack.api("GET", "/api/v1/customers/wmA/tag-hits")
    [hit] = hits["hits"]
    assert {k.casefold() for k in hit["keywords"]} == set(later) - {" "}
    assert hit["keywords"] == sorted(hit["keywords"])
    [stored] = await RuleHit.all()
    assert json.loads(stored.keywords) == hit["keywords"] and "start" not in stored.keywords
    from scrm.models import Event

    alert = await Event.get(name="alert.raised")
    assert json.loads(alert.payload)["keywords"] == hit["keywords"]


async def test_reviewer_backtest_has_samples_in_scope_and_is_audited(stack: Stack) -> None:
    await archive_history(stack)
    other = chat("l1", "wmE", "过敏很严重", NOW - DAY, to="lisi")
    await stack.api("POST", "/api/v1/messages", json=[other])
    await stack.drain()
    runtime = _reviewer(stack)
    rita = await add_reviewer(runtime, "rita", "reviewer", Scope("all"))
    sam = await add_reviewer(runtime, "sam", "reviewer", Scope("staff", ("lisi",)))
    _, rule = await stack.api("POST", "/api/v1/tag-rules", json=RULE)
    period = {"from": NOW - 10 * DAY, "to": NOW}

    status, report = await reviewer_backtest(
        stack, rita, {"rule_id": rule["id"], **period, "justification": WHY}
    )
    assert status == 200
    assert report["messages_matched"] == 4  # h1, h2, h4, l1
    assert {s["msgid"] for s in report["samples"]} == {"h1", "h2", "h4", "l1"}
    [h1] = [s for s in report["samples"] if s["msgid"] == "h1"]
    assert h1["text"] == "我好像过敏了"
    assert h1["keywords"] == [{"keyword": "过敏", "start": 3, "end": 5}]

    draft = {**RULE, "threshold": None}
    status, scoped = await reviewer_backtest(
        stack, sam, {"rule": draft, **period, "justification": WHY, "limit": 5}
    )
    assert status == 200
    assert [s["msgid"] for s in scoped["samples"]] == ["l1"]  # only lisi's conversations
    assert (scoped["messages_scanned"], scoped["messages_matched"]) == (1, 1)

    entries = [e.fields for e in await read_audit(runtime) if e.fields["action"] == "backtest"]
    assert [(e["actor"], e["outcome"], e["result_count"]) for e in entries] == [
        ("rita", "allowed", 4),
        ("sam", "allowed", 1),
    ]
    assert entries[0]["justification"] == WHY
    assert entries[0]["filters"]["rule_id"] == rule["id"]
    assert entries[1]["filters"]["keywords"] == ["过敏", "起疹子"]


async def test_reviewer_backtest_refusals_are_audited(stack: Stack) -> None:
    runtime = _reviewer(stack)
    rita = await add_reviewer(runtime, "rita", "reviewer", Scope("all"))
    auditor = await add_reviewer(runtime, "ada", "auditor", Scope("all"))
    period = {"from": NOW - DAY, "to": NOW}
    cases = [
        (stack.settings.admin_token.value, {"rule": RULE, **period, "justification": WHY}, 403),
        (auditor, {"rule": RULE, **period, "justification": WHY}, 403),
        (rita, {"rule": RULE, **period}, 400),
        (rita, {"rule": RULE, **period, "justification": WHY, "limit": 1000}, 400),
        (rita, {"rule": {"name": "x"}, **period, "justification": WHY}, 400),
        (rita, {"rule_id": 999, **period, "justification": WHY}, 404),
    ]
    for token, body, expected in cases:
        status, _ = await reviewer_backtest(stack, token, body)
        assert status == expected
    outcomes = [
        (e.fields["actor"], e.fields["outcome"])
        for e in await read_audit(runtime)
        if e.fields["action"] == "backtest"
    ]
    assert outcomes == [
        ("service-admin", "denied"),
        ("ada", "denied"),
        *[("rita", "invalid")] * 4,
    ]

"""The archive API: import → search by keyword, customer and time → audit entries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from archive.review.reviewers import Scope, add_reviewer
from archive.runtime import ArchiveRuntime
from archive.store.write import store_messages
from scrm.db import Database
from tests.archive.api_app import archive_app, bearer
from tests.archive.conftest import ADMIN_TOKEN
from tests.archive.dump import dump_database
from tests.archive.messages import NOV_2025, text_message

HOUR = 3_600_000
ALL = Scope("all")
WHY = "complaint #4711 review requested by legal"
Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
async def client(
    runtime: ArchiveRuntime, aiohttp_client: Callable[..., Awaitable[Client]]
) -> Client:
    await store_messages(
        runtime,
        [
            text_message("m1", "您好，我想申请退款", to="wmAlice", msgtime=NOV_2025),
            text_message("m2", "退款已经处理完毕", to="wmAlice", msgtime=NOV_2025 + 5 * HOUR),
            text_message("m3", "请问发票怎么开", to="wmBob", msgtime=NOV_2025 + 9 * HOUR),
            text_message("m4", "退 款", sender="lisi", to="wmBob", msgtime=NOV_2025 + HOUR),
            text_message("m5", "退款", sender="lisi", to="wmCarol", msgtime=NOV_2025 + HOUR),
        ],
    )
    return await aiohttp_client(archive_app(runtime))


async def token(runtime: ArchiveRuntime, name: str, role: str, scope: Scope = ALL) -> str:
    return await add_reviewer(runtime, name, role, scope)


async def search(client: Client, tok: str, **body: Any) -> tuple[int, Any]:
    response = await client.post("/api/v1/archive/search", json=body, headers=bearer(tok))
    return response.status, await response.json()


async def audit(client: Client, tok: str, **query: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/archive/audit", params=query, headers=bearer(tok))
    assert response.status == 200
    return list((await response.json())["entries"])


def ids(body: Any) -> list[str]:
    return [message["msgid"] for message in body["messages"]]


async def test_search_by_keyword_customer_and_time(runtime: ArchiveRuntime, client: Client) -> None:
    tok = await token(runtime, "rita", "reviewer")
    status, body = await search(client, tok, justification=WHY, keyword="退款")
    assert status == 200 and ids(body) == ["m1", "m2", "m5"]  # "退 款" is not the word
    assert body["next_cursor"] is None
    assert body["messages"][0]["text"]["content"] == "您好，我想申请退款"
    _, body = await search(client, tok, justification=WHY, customer="wmAlice")
    assert ids(body) == ["m1", "m2"]
    _, body = await search(
        client, tok, justification=WHY, **{"from": NOV_2025 + 1, "to": NOV_2025 + 5 * HOUR}
    )
    assert ids(body) == ["m2", "m4", "m5"]
    _, body = await search(client, tok, justification=WHY, staff="lisi", keyword="退款")
    assert ids(body) == ["m5"]
    _, body = await search(client, tok, justification=WHY, keyword="退款已", customer="wmBob")
    assert ids(body) == []


async def test_pages_with_cursor(runtime: ArchiveRuntime, client: Client) -> None:
    tok = await token(runtime, "rita", "reviewer")
    seen: list[str] = []
    cursor = None
    while True:
        body_in: dict[str, Any] = {"justification": WHY, "limit": 2}
        if cursor:
            body_in["cursor"] = cursor
        status, body = await search(client, tok, **body_in)
        assert status == 200
        seen += ids(body)
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["m1", "m2", "m3", "m4", "m5"]


async def test_every_search_is_audited(runtime: ArchiveRuntime, client: Client) -> None:
    tok = await token(runtime, "rita", "reviewer")
    auditor = await token(runtime, "ada", "auditor")
    await search(client, tok, justification=WHY, keyword="退款", customer="wmAlice")
    await search(client, tok, justification=WHY, staff="lisi")
    entries = await audit(client, auditor)
    assert [
        (e["seq"], e["actor"], e["action"], e["outcome"], e["result_count"]) for e in entries
    ] == [
        (1, "rita", "search", "allowed", 2),
        (2, "rita", "search", "allowed", 2),
    ]
    assert entries[0]["justification"] == WHY
    assert entries[0]["filters"] == {"keyword": "退款", "customer": "wmAlice"}
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    # reading the log is itself an entry: the first read is seq 3
    assert [e["seq"] for e in await audit(client, auditor, cursor="1")] == [2, 3]


@pytest.mark.parametrize("body", [{}, {"justification": "short"}, {"justification": 42}])
async def test_search_without_justification_is_400(
    runtime: ArchiveRuntime, client: Client, body: dict[str, Any]
) -> None:
    status, answer = await search(client, await token(runtime, "rita", "reviewer"), **body)
    assert status == 400 and answer["error"]["field"] == "justification"


async def test_refusals_are_403_and_audited(runtime: ArchiveRuntime, client: Client) -> None:
    auditor = await token(runtime, "ada", "auditor")
    admin = await token(runtime, "root", "admin")
    scoped = await token(runtime, "sam", "reviewer", Scope("staff", ("zhangsan",)))
    for tok in (ADMIN_TOKEN, auditor, admin):
        status, body = await search(client, tok, justification=WHY, keyword="退款")
        assert status == 403 and body["error"]["code"] == "forbidden"
    status, _ = await search(client, scoped, justification=WHY, staff="lisi")
    assert status == 403
    response = await client.get("/api/v1/archive/audit", headers=bearer(scoped))
    assert response.status == 403
    entries = await audit(client, auditor)
    assert [(e["actor"], e["role"], e["action"], e["outcome"]) for e in entries] == [
        ("service-admin", "service_admin", "search", "denied"),
        ("ada", "auditor", "search", "denied"),
        ("root", "admin", "search", "denied"),
        ("sam", "reviewer", "search", "denied"),
        ("sam", "reviewer", "audit", "denied"),
    ]  # the auditor's own read is recorded after it answered
    assert entries[3]["filters"] == {"staff": "lisi"}


async def test_scoped_reviewer_sees_only_their_staff(
    runtime: ArchiveRuntime, client: Client
) -> None:
    scoped = await token(runtime, "sam", "reviewer", Scope("staff", ("lisi",)))
    status, body = await search(client, scoped, justification=WHY)
    assert status == 200 and ids(body) == ["m4", "m5"]


@pytest.mark.parametrize("headers", [{}, bearer("sar_unknown"), {"Authorization": "Basic x"}])
async def test_no_or_unknown_token_is_401(client: Client, headers: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/archive/search", json={"justification": WHY}, headers=headers
    )
    assert response.status == 401
    assert (await client.get("/api/v1/archive/audit", headers=headers)).status == 401


async def test_export_has_jsonl_and_manifest(runtime: ArchiveRuntime, client: Client) -> None:
    tok = await token(runtime, "rita", "reviewer")
    response = await client.post(
        "/api/v1/archive/export",
        json={"justification": WHY, "customer": "wmAlice"},
        headers=bearer(tok),
    )
    assert response.status == 200
    body = await response.json()
    lines = body["jsonl"].splitlines()
    assert len(lines) == 2 and '"m1"' in lines[0]
    manifest = body["manifest"]
    assert manifest["count"] == 2 and not manifest["truncated"]
    assert [r["position"] for r in manifest["records"]] == [1, 2]
    assert manifest["records"][1]["prev_hash"] == manifest["records"][0]["record_hash"]
    assert manifest["chain_heads"][0]["hash"] == manifest["records"][1]["record_hash"]
    auditor = await token(runtime, "ada", "auditor")
    assert [(e["action"], e["result_count"]) for e in await audit(client, auditor)] == [
        ("export", 2)
    ]  # the read itself is appended after its answer


async def test_keyword_candidates_are_confirmed_on_plaintext(
    runtime: ArchiveRuntime, client: Client
) -> None:
    await store_messages(runtime, [text_message("m6", "申请 请退 退款", to="wmDan")])
    tok = await token(runtime, "rita", "reviewer")
    _, body = await search(client, tok, justification=WHY, keyword="申请退款")
    assert ids(body) == ["m1"]  # m6 has every bigram, but not the phrase


async def test_searched_phrase_never_rests_in_clear(
    runtime: ArchiveRuntime, client: Client, database: Database, database_url: str
) -> None:
    tok = await token(runtime, "rita", "reviewer")
    status, body = await search(client, tok, justification=WHY, keyword="发票怎么开")
    assert status == 200 and ids(body) == ["m3"]
    dumped = await dump_database(database, database_url)
    assert b"rita" in dumped  # the audit entry is there
    for needle in ("发票怎么开", "发票", "wmBob", WHY):
        assert needle.encode() not in dumped, needle


async def test_keyword_pages_with_cursor(runtime: ArchiveRuntime, client: Client) -> None:
    tok = await token(runtime, "rita", "reviewer")
    seen: list[str] = []
    body_in: dict[str, Any] = {"justification": WHY, "limit": 1, "keyword": "退款"}
    while True:
        status, body = await search(client, tok, **body_in)
        assert status == 200
        seen += ids(body)
        if body["next_cursor"] is None:
            break
        body_in["cursor"] = body["next_cursor"]
    assert seen == ["m1", "m2", "m5"]


async def _entries_of(runtime: ArchiveRuntime, actor: str) -> list[dict[str, Any]]:
    from archive.review.audit_log import read_audit

    return [e.fields for e in await read_audit(runtime) if e.fields["actor"] == actor]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"keyword": "退款"}, "justification"),
        ({"justification": "short"}, "justification"),
        ({"justification": WHY, "limit": 0}, "limit"),
        ({"justification": WHY, "limit": "ten"}, "limit"),
        ({"justification": WHY, "cursor": "not-a-cursor"}, "cursor"),
        ({"justification": WHY, "keyword": ["退款"]}, "keyword"),
        ([1, 2], "body"),
        ("a string", "body"),
        (b'{"justification": "complaint #4711 review",', None),  # malformed JSON
        (b"\xff\xfe not utf-8", None),
    ],
)
async def test_every_invalid_request_of_a_reviewer_is_audited_once(
    runtime: ArchiveRuntime, client: Client, data: Any, field: str | None
) -> None:
    tok = await token(runtime, "rita", "reviewer")
    for path in ("/api/v1/archive/search", "/api/v1/archive/export"):
        if isinstance(data, bytes):
            response = await client.post(
                path, data=data, headers={**bearer(tok), "Content-Type": "application/json"}
            )
        else:
            response = await client.post(path, json=data, headers=bearer(tok))
        assert response.status == 400
        assert (await response.json())["error"].get("field") == field
    entries = await _entries_of(runtime, "rita")
    assert [(e["action"], e["outcome"], e["result_count"]) for e in entries] == [
        ("search", "invalid", 0),
        ("export", "invalid", 0),
    ]
    codes = ("invalid", "bad_json", "justification_required")
    assert entries[0]["filters"]["error"]["code"] in codes


async def test_a_failing_request_is_audited_as_failed(
    runtime: ArchiveRuntime, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    tok = await token(runtime, "rita", "reviewer")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the search broke")

    monkeypatch.setattr("archive.review.api.search", broken)
    status, body = await search(client, tok, justification=WHY, keyword="退款")
    assert (status, body["error"]["code"]) == (500, "internal")
    [entry] = await _entries_of(runtime, "rita")
    assert (entry["action"], entry["outcome"], entry["justification"]) == ("search", "failed", WHY)
    assert entry["filters"] == {
        "keyword": "退款",
        "error": {"code": "internal", "type": "RuntimeError"},
    }


async def test_each_request_gets_exactly_one_entry(runtime: ArchiveRuntime, client: Client) -> None:
    tok = await token(runtime, "rita", "reviewer")
    auditor = await token(runtime, "ada", "auditor")
    await search(client, tok, justification=WHY)  # allowed
    await search(client, tok, justification=WHY, limit=9999)  # invalid
    await search(client, auditor, justification=WHY)  # denied
    response = await client.get("/api/v1/archive/audit?limit=x", headers=bearer(auditor))
    assert response.status == 400  # invalid
    entries = await audit(client, auditor)  # allowed, appended after its answer
    assert [(e["actor"], e["action"], e["outcome"]) for e in entries] == [
        ("rita", "search", "allowed"),
        ("rita", "search", "invalid"),
        ("ada", "search", "denied"),
        ("ada", "audit", "invalid"),
    ]
    assert [(e["action"], e["outcome"], e["result_count"]) for e in await audit(client, auditor)][
        -1
    ] == ("audit", "allowed", 4)

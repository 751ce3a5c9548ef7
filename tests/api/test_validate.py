"""The JSON depth pre-scan and the unstorable-string check behind every JSON body."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from scrm.api.errors import error_middleware, json_body, json_depth
from scrm.api.params import parse_id
from scrm.storable import UnstorableText, check_storable


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[{{{"', 0),  # brackets inside a string do not nest
        ('["\\"[", {"a": [1]}]', 3),
        ('{"a\\\\": "]]]", "b": [[[]]]}', 4),  # an escaped backslash ends before the quote
        ('["\\\\\\"[", [{}]]', 3),  # \\ then \" : the quote is escaped, the bracket text
        ('"' + '\\"' * 200_000, 0),  # unterminated: once quadratic in the string regex
        ("[" * 100_000 + "]" * 100_000, 100_000),
    ],
)
def test_json_depth_is_exact_for_valid_json(text: str, depth: int) -> None:
    assert json_depth(text.encode()) == depth


def test_json_depth_matches_the_parser_on_nested_values() -> None:
    value: Any = "x"
    for level in range(1, 70):
        value = [value] if level % 2 else {"k]": value, "s": "{["}
        assert json_depth(json.dumps(value).encode()) == level


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("a\x00b", ""),
        ({"name": "\ud800"}, "name"),
        ({"rule": {"actions": [{"tag": "ok"}, {"tag": "x\x00"}]}}, "rule.actions[1].tag"),
        ({"k\x00": 1}, ""),  # a bad key names its object
        ({"a": {"\udfff": 1}}, "a"),
        ([[["\udc80"]]], "[0][0][0]"),
    ],
)
def test_unstorable_strings_are_refused_naming_the_field(value: Any, field: str) -> None:
    with pytest.raises(UnstorableText) as caught:
        check_storable(value)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "value", [None, 1, 1.5, True, "退款 😀", {"a": ["\t\n", {"b": "\u200b"}]}, []]
)
def test_storable_values_pass(value: Any) -> None:
    check_storable(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        ("4611686018427387904", 2**62),
        ("4611686018427387905", None),
        ("0", None),
        ("²", None),
        ("①", None),
        ("١", None),
        ("１", None),
        ("1_0", None),
        ("+1", None),
        (" 1", None),
        ("", None),
        ("9" * 400, None),
    ],
)
def test_ids_are_ascii_digits_only(raw: str, expected: int | None) -> None:
    assert parse_id(raw) == expected


@pytest.fixture
async def echo(aiohttp_client: Callable[..., Awaitable[TestClient]]) -> TestClient:  # type: ignore[type-arg]
    """An app whose one route answers with the JSON body it read."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"body": await json_body(request)})

    app = web.Application(middlewares=[error_middleware(lambda status, code: None)])
    app.router.add_post("/", handler)
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b"NaN", "bad_json", None),  # Python reads NaN and Infinity; JSON has neither
        (b'{"from": Infinity}', "bad_json", None),
        (b"{", "bad_json", None),
        (b"\xff", "bad_json", None),
        (b"[" * 65 + b"]" * 65, "too_deep", None),
        (b'{"a": "\\u0000"}', "invalid", "a"),
        (b'[{"b": ["\\udc00"]}]', "invalid", "[0].b[0]"),
        (b'{"\\ud800": 1}', "invalid", "body"),
    ],
)
async def test_json_body_refusals(
    echo: TestClient,  # type: ignore[type-arg]
    body: bytes,
    code: str,
    field: str | None,
) -> None:
    response = await echo.post("/", data=body)
    error = (await response.json())["error"]
    assert (response.status, error["code"], error.get("field")) == (400, code, field)


async def test_json_body_at_the_depth_limit_is_read(echo: TestClient) -> None:  # type: ignore[type-arg]
    response = await echo.post("/", data=b"[" * 64 + b"]" * 64)
    assert response.status == 200

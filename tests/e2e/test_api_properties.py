"""Property: whatever JSON value arrives at whatever field, the admin and archive APIs answer
below 500, and every 4xx has the error shape (issue 9 §4).

Generic over the OpenAPI document. For each operation, explicit examples put a value of
every JSON type (and the strings no database stores) at every field of the documented request
body — its ``example``, at any depth — or remove the field, and put odd ids and numbers in
every path and query parameter. Hypothesis then explores beyond them: arbitrary nested values
at any field, bodies built from the schema with arbitrary values mixed in, arbitrary path and
query text. Known ids are used so requests get past the lookups into the validation.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import hypothesis.strategies as st
from hypothesis import example, given
from yarl import URL

from tests.e2e.api_fuzz import (
    LoopBridge,
    Operation,
    Seeded,
    bounded,
    each_operation,
    load_spec,
    report,
    resolve,
    seed,
)
from tests.e2e.conftest import Stack

GENERATED_PER_OPERATION = 25
REMOVE = object()  # in a mutation: take the field out


def _nest(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# One of each JSON type, and the values that once crashed a handler.
EVERY_TYPE: list[Any] = [
    None,
    True,
    -1,
    10**30,
    1.5,
    "",
    "a\x00b",
    "\ud800",
    [None],
    {"": None},
    _nest(65),
]
ODD_PARAMETERS = [
    "0",
    "-1",
    "²",
    "①",
    "١",
    "１",
    "1_0",
    "+1",
    "9" * 30,
    "x" * 65,
    "a\x00b",
    "\ud800",
    "%",
]
ODD_TEXT = ["", " ", "\x00", "\ud800", "\udfff x", "²", "①", "١", "１", "\u202e", "a" * 300]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, 2**31, 2**53 + 1, 2**63, -(2**63) - 1, 10**30, -0.0, 1e308]),
    st.floats(),  # NaN and infinities too: Python's encoder writes them, the API must refuse
    st.text(max_size=40),
    st.sampled_from(ODD_TEXT),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
any_value = st.one_of(json_values, st.integers(min_value=60, max_value=200).map(_nest))


def from_schema(
    spec: dict[str, Any], schema: dict[str, Any], depth: int = 0
) -> st.SearchStrategy[Any]:
    """Values shaped like the schema, each field sometimes replaced by any JSON value."""
    schema = resolve(spec, schema)
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    options: list[st.SearchStrategy[Any]] = [json_values]
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if "object" in kinds and schema.get("properties") and depth < 5:
        fields = {
            name: from_schema(spec, sub, depth + 1) for name, sub in schema["properties"].items()
        }
        required = {name: fields.pop(name) for name in schema.get("required", []) if name in fields}
        options.append(st.fixed_dictionaries(required, optional=fields))
    if "array" in kinds and "items" in schema and depth < 5:
        options.append(st.lists(from_schema(spec, schema["items"], depth + 1), max_size=3))
    if "string" in kinds:
        options.append(st.text(max_size=30))
    if "integer" in kinds:
        options.append(st.integers(min_value=-1, max_value=2**63))
    return st.one_of(options)


Path = tuple[Any, ...]
Request = tuple[str, dict[str, str], Any, str]  # path, query, body, archive role


def field_paths(value: Any, schema: dict[str, Any], spec: dict[str, Any]) -> list[Path]:
    """Every field of the example at any depth (list items too), the root, and the schema's
    top-level properties the example leaves out."""

    def walk(node: Any, prefix: Path) -> list[Path]:
        found = [prefix]
        if isinstance(node, dict | list):
            for key, child in node.items() if isinstance(node, dict) else enumerate(node):
                found += walk(child, (*prefix, key))
        return found

    paths = walk(value, ())
    properties = resolve(spec, schema).get("properties", {})
    if isinstance(value, dict):
        paths += [(name,) for name in properties if name not in value]
    return paths


def replaced(value: Any, path: Path, new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path`` (`REMOVE` takes the field out)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if rest:
        copy[head] = replaced(value[head], rest, new)
    elif new is REMOVE:
        copy.pop(head) if isinstance(copy, list) else copy.pop(head, None)
    else:
        copy[head] = new
    return copy


@st.composite
def mutated(draw: st.DrawFn, body: Any, paths: list[Path]) -> Any:
    """The example with one field (or one list item) replaced by any value, or removed."""
    path = draw(st.sampled_from(paths))
    remove = bool(path) and draw(st.booleans())
    return replaced(body, path, REMOVE if remove else draw(any_value))


class Requests:
    """What to send to one operation: explicit examples, and a strategy for more."""

    def __init__(self, spec: dict[str, Any], operation: Operation, seeded: Seeded) -> None:
        self.spec, self.operation = spec, operation
        self.known = seeded.known_path_values
        media = operation.spec.get("requestBody", {}).get("content", {}).get("application/json")
        self.schema: dict[str, Any] | None = media["schema"] if media else None
        self.body: Any = media.get("example", {}) if media else None
        self.paths = field_paths(self.body, self.schema, spec) if self.schema else []

    def path(self, values: dict[str, str] | None = None) -> str:
        path = self.operation.path
        for parameter in self.operation.parameters("path"):
            name = parameter["name"]
            raw = (values or {}).get(name, self.known.get(name, "1"))
            path = path.replace(
                "{" + name + "}", quote(raw.encode("utf-8", "surrogatepass"), safe="")
            )
        return path

    def explicit(self) -> list[Request]:
        """Every type at every body field, every odd value in every parameter."""
        cases: list[Request] = []
        for path in self.paths:
            for value in [*EVERY_TYPE, REMOVE] if path else EVERY_TYPE:
                cases.append((self.path(), {}, replaced(self.body, path, value), "reviewer"))
        for parameter in self.operation.parameters("path"):
            for odd in ODD_PARAMETERS:
                cases.append((self.path({parameter["name"]: odd}), {}, self.body, "reviewer"))
        for parameter in self.operation.parameters("query"):
            for odd in ODD_PARAMETERS:
                cases.append((self.path(), {parameter["name"]: odd}, self.body, "auditor"))
        return cases

    def strategy(self) -> st.SearchStrategy[Request]:
        return _generated(self)


def _text(known: str | None) -> st.SearchStrategy[str]:
    options = [
        st.text(max_size=80),
        st.sampled_from(ODD_TEXT + ODD_PARAMETERS),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
    ]
    if known is not None:
        options.append(st.just(known))
    return st.one_of(options)


@st.composite
def _generated(draw: st.DrawFn, requests: Requests) -> Request:
    values = {
        p["name"]: draw(_text(requests.known.get(p["name"])).filter(bool))
        for p in requests.operation.parameters("path")
    }
    query = {
        p["name"]: value
        for p in requests.operation.parameters("query")
        if (value := draw(st.none() | _text(None))) is not None
    }
    body = None
    if requests.schema is not None:
        options = [from_schema(requests.spec, requests.schema), any_value]
        if requests.paths:
            options = [mutated(requests.body, requests.paths)] * 2 + options
        body = draw(st.one_of(options))
    role = draw(st.sampled_from(["reviewer", "auditor"]))
    return requests.path(values), query, body, role


def check_answer(status: int, content_type: str, answer: Any, sent: Any) -> None:
    assert status < 500, f"{status} for {sent!r}: {answer!r}"
    if status >= 400:
        assert content_type == "application/json", f"{status} {content_type} for {sent!r}"
        error = answer["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), answer
        assert set(error) <= {"code", "message", "field"}, answer
        assert isinstance(error.get("field", ""), str), answer


async def call(
    stack: Stack,
    operation: Operation,
    sent: tuple[str, dict[str, str], Any],
    headers: dict[str, str],
) -> tuple[int, str, Any]:
    path, query, body = sent
    url = URL(stack.url + path, encoded=True).with_query(query)
    kwargs: dict[str, Any] = {}
    if "requestBody" in operation.spec:  # aiohttp takes json=None as "no body": send null
        kwargs["data"] = json.dumps(body).encode("utf-8", "surrogatepass")
        headers = {**headers, "Content-Type": "application/json"}
    method = operation.method
    async with stack.http.request(method, url, headers=headers, **kwargs) as response:
        if response.content_type == "application/json":
            return response.status, response.content_type, await response.json()
        return response.status, response.content_type, await response.read()


async def test_any_json_at_any_field_never_gets_a_5xx(stack: Stack) -> None:
    seeded = await seed(stack)
    spec = load_spec()
    bridge = LoopBridge(asyncio.get_running_loop())

    def check(operation: Operation) -> None:
        requests = Requests(spec, operation, seeded)

        def property_holds(request: Request) -> None:
            path, query, body, role = request
            sent = (path, query, body)
            answer = bridge.run(call(stack, operation, sent, seeded.headers(operation, role)))
            check_answer(*answer, sent=sent)

        test = given(request=requests.strategy())(property_holds)
        for case in reversed(requests.explicit()):
            test = example(request=case)(test)
        bounded(GENERATED_PER_OPERATION)(test)()

    failures = await each_operation(spec, check)
    assert not failures, report(failures)

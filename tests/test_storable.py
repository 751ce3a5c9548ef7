"""The one check every intake runs: no NUL, no lone surrogate, anywhere in a JSON value."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.storable import UnstorableText, check_storable


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ({"msgid": "a\x00b"}, "msgid", "NUL"),
        ({"text": {"content": "hi \ud800"}}, "text.content", "surrogate"),
        ({"tolist": ["ok", "x\udfff"]}, "tolist[1]", "surrogate"),
        ({"Event": "change\x00"}, "Event", "NUL"),
        ({"k\ud800": 1}, "", "a key"),
        ("\x00", "", "NUL"),
    ],
)
def test_unstorable_strings_are_named(value: Any, field: str, reason: str) -> None:
    with pytest.raises(UnstorableText) as raised:
        check_storable(value)
    assert raised.value.field == field and reason in raised.value.reason


@pytest.mark.parametrize(
    "value", [{"text": {"content": "过敏😡 \u2028 ok"}}, [1, 2.5, None, True], "\U0001f600"]
)
def test_storable_values_pass(value: Any) -> None:
    check_storable(value)


def test_deep_nesting_costs_no_stack() -> None:
    value: Any = "x\x00"
    for _ in range(100_000):
        value = [value]
    with pytest.raises(UnstorableText):
        check_storable(value)

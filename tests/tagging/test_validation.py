"""Rule validation: every bad field is named so the API can answer 422 precisely."""

import copy
from typing import Any

import pytest

from tagging import (
    AddTag,
    CreateTicket,
    FieldError,
    Priority,
    RuleValidationError,
    Scope,
    Threshold,
    parse_rule,
    rule_to_dict,
    validate_rule,
)

VALID: dict[str, Any] = {
    "name": "过敏预警",
    "keywords_any": ["过敏", "起疹子"],
    "keywords_all": [],
    "exclude": ["不过敏"],
    "scope": "customer",
    "threshold": {"count": 2, "window_days": 7},
    "actions": [
        {"type": "add_tag", "tag": "过敏风险", "group": "服务"},
        {"type": "remove_tag", "tag": "新客"},
        {"type": "create_ticket", "category": "food_safety", "priority": "P0"},
        {"type": "alert", "channel": "ops-robot"},
    ],
    "enabled": True,
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """Return VALID with one dotted path (``actions.0.tag``) set, or removed if value is ...."""
    data = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is ...:
        del target[int(last) if isinstance(target, list) else last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


def test_valid_rule_parses_into_typed_fields() -> None:
    rule = parse_rule(VALID, 42)
    assert rule.id == 42
    assert rule.keywords_any == ("过敏", "起疹子")
    assert rule.scope is Scope.CUSTOMER
    assert rule.threshold == Threshold(count=2, window_days=7)
    assert rule.actions[0] == AddTag("过敏风险", "服务")
    assert rule.actions[2] == CreateTicket("food_safety", Priority.P0)
    assert validate_rule(VALID) == []


def test_rule_round_trips_through_dict() -> None:
    rule = parse_rule(VALID, "r1")
    data = rule_to_dict(rule)
    assert data["id"] == "r1"
    assert {key: value for key, value in data.items() if key != "id"} == VALID
    assert parse_rule(data, "r1") == rule


def test_defaults_for_optional_fields() -> None:
    rule = parse_rule(
        {"name": "x", "keywords_all": ["发票"], "actions": [{"type": "alert", "channel": "c"}]}, 1
    )
    assert (rule.keywords_any, rule.exclude, rule.scope, rule.threshold, rule.enabled) == (
        (),
        (),
        Scope.CUSTOMER,
        None,
        True,
    )


def test_rule_is_frozen() -> None:
    rule = parse_rule(VALID, 1)
    with pytest.raises(AttributeError):
        rule.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("name", "", "name"),
        ("name", "   ", "name"),
        ("name", "名" * 101, "name"),
        ("name", ..., "name"),
        ("keywords_any", [], "keywords_any"),  # with keywords_all empty too
        ("keywords_any.1", "", "keywords_any[1]"),
        ("keywords_any.1", "  ", "keywords_any[1]"),
        ("keywords_any.1", "\u200b", "keywords_any[1]"),  # invisible once normalised
        ("keywords_any.0", 3, "keywords_any[0]"),
        ("keywords_any.0", "长" * 101, "keywords_any[0]"),
        ("keywords_any", "过敏", "keywords_any"),
        ("keywords_any", ["词"] * 1001, "keywords_any"),
        ("keywords_all", [""], "keywords_all[0]"),
        ("exclude.0", " ", "exclude[0]"),
        ("exclude.0", "過敏", "exclude[0]"),  # equals a keyword once normalised
        ("scope", "group", "scope"),
        ("threshold.count", 0, "threshold.count"),
        ("threshold.count", 1001, "threshold.count"),
        ("threshold.count", True, "threshold.count"),
        ("threshold.count", "2", "threshold.count"),
        ("threshold.window_days", 0, "threshold.window_days"),
        ("threshold.window_days", 367, "threshold.window_days"),
        ("threshold.window_days", ..., "threshold.window_days"),
        ("threshold.hours", 3, "threshold.hours"),
        ("threshold", 7, "threshold"),
        ("actions", [], "actions"),
        ("actions", ..., "actions"),
        ("actions.0.type", "send_coupon", "actions[0].type"),
        ("actions.0.type", ..., "actions[0].type"),
        ("actions.0.tag", ..., "actions[0].tag"),
        ("actions.0.tag", "标" * 31, "actions[0].tag"),
        ("actions.0.group", "组" * 31, "actions[0].group"),
        ("actions.0.colour", "red", "actions[0].colour"),
        ("actions.1.tag", "", "actions[1].tag"),
        ("actions.2.category", ..., "actions[2].category"),
        ("actions.2.priority", "P4", "actions[2].priority"),
        ("actions.2.priority", ..., "actions[2].priority"),
        ("actions.3.channel", ..., "actions[3].channel"),
        ("actions.3", "alert", "actions[3]"),
        ("enabled", "yes", "enabled"),
        ("keyword_any", ["typo"], "keyword_any"),
    ],
)
def test_each_bad_field_is_named(path: str, value: Any, field: str) -> None:
    data = _with(path, value)
    errors = validate_rule(data)
    assert [error.field for error in errors] == [field]
    with pytest.raises(RuleValidationError) as raised:
        parse_rule(data, 1)
    assert raised.value.errors == errors


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("keywords_any", ["敏"]),  # single character
        ("keywords_any", ["😡"]),  # emoji
        ("keywords_any", ["词"] * 1000),
        ("name", "名" * 100),
        ("actions.0.tag", "标" * 30),
        ("threshold", None),
        ("threshold.count", 1000),
        ("threshold.window_days", 366),
        ("scope", "any"),
        ("scope", "staff"),
        ("actions.2.priority", "P3"),
        ("exclude", []),
    ],
)
def test_edge_values_are_accepted(path: str, value: Any) -> None:
    assert validate_rule(_with(path, value)) == []


def test_all_errors_are_reported_at_once() -> None:
    data = {"name": "", "keywords_any": [""], "scope": "x", "actions": [{"type": "nope"}]}
    assert [error.to_dict()["field"] for error in validate_rule(data)] == [
        "name",
        "keywords_any[0]",
        "scope",
        "actions[0].type",
    ]


def test_not_an_object() -> None:
    assert validate_rule(["过敏"]) == [FieldError("", "rule must be a JSON object")]

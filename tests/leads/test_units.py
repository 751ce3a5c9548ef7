"""Leads, pure parts: phone numbers, form settings and submissions, assignment rules."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.leads.assignment import choose_assignee
from scrm.leads.form import FormError, check_submission, form_fields, parse_form_options
from scrm.leads.phone import mask_phone, normalize_phone, parse_phone


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits
        ("１３８　１２３４　５６７８", "13812345678"),  # and a full-width space
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("19912345678", "19912345678"),
        ("12812345678", None),  # 1[3-9]
        ("1381234567", None),  # 10 digits
        ("138123456789", None),  # 12 digits
        ("1381234567a", None),
        ("", None),
        ("010-12345678", None),  # a landline
    ],
)
def test_parse_phone(raw: str, phone: str | None) -> None:
    assert parse_phone(raw) == phone


def test_normalize_and_mask() -> None:
    assert normalize_phone(" 0086 138 1234 5678 ") == "13812345678"
    assert mask_phone("13812345678") == "138****5678"


def options(**extra: Any) -> dict[str, Any]:
    return parse_form_options(
        {
            "fields": [
                "name",
                "phone",
                "company",
                {"key": "region", "label": "地区", "type": "choice", "choices": ["华东", "华南"]},
            ],
            **extra,
        }
    )


def test_form_options_are_checked_and_defaulted() -> None:
    checked = options()
    assert [f["key"] for f in checked["fields"]] == ["name", "phone", "company", "region"]
    assert checked["assignment"] == {"rule": "round_robin"}
    assert checked["consent"]
    defaults = parse_form_options({})
    assert [f["key"] for f in defaults["fields"]] == ["name", "phone"]


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"fields": []}, "fields"),
        ({"fields": ["name"]}, "fields"),  # no phone
        (
            {"fields": [{"key": "phone", "label": "手机", "type": "phone", "required": False}]},
            "fields",
        ),
        ({"fields": ["phone", {"key": "Bad", "label": "x"}]}, "fields[1].key"),
        ({"fields": ["phone", "phone"]}, "fields[1].key"),
        ({"fields": ["phone", {"key": "x", "label": "x", "type": "date"}]}, "fields[1].type"),
        ({"fields": ["phone", {"key": "x", "label": "x", "type": "choice"}]}, "fields[1].choices"),
        ({"fields": ["phone", {"key": "x", "label": "x", "type": "phone"}]}, "fields[1].type"),
        ({"consent": ""}, "consent"),
        ({"pool": {"recycle_days": -1}}, "options.pool.recycle_days"),
        ({"pool": {"recycle_days": 3, "managers": ["boss"]}}, "options.pool.managers"),
        ({"pool": {"recycle_days": 3, "extra": 1}}, "options.pool"),
        ({"assignment": {"rule": "random"}}, "assignment.rule"),
        ({"assignment": {"rule": "round_robin", "daily_cap": 0}}, "assignment.daily_cap"),
        (
            {"assignment": {"rule": "by_field", "field": "nope", "map": {"a": ["u"]}}},
            "assignment.field",
        ),
        ({"assignment": {"rule": "round_robin", "staff": []}}, "assignment.staff"),
        ({"assignment": {"rule": "round_robin", "field": "name"}}, "assignment.field"),
    ],
)
def test_bad_form_options_name_the_field(given: dict[str, Any], field: str) -> None:
    with pytest.raises(FormError) as caught:
        parse_form_options(given)
    assert caught.value.field == field


def test_a_submission_is_checked_field_by_field_in_chinese() -> None:
    fields = form_fields(options())
    values, errors = check_submission(
        fields, {"name": "  ", "phone": "1381234", "company": "x" * 201, "region": "华北"}
    )
    assert errors == {
        "name": "请填写姓名",
        "phone": "请输入正确的 11 位手机号",
        "company": "公司最多 200 个字",
        "region": "请选择地区",
    }
    values, errors = check_submission(
        fields, {"name": " 张三 ", "phone": "１３８ １２３４ ５６７８", "region": "华东"}
    )
    assert errors == {}
    assert values == {"name": "张三", "phone": "13812345678", "company": "", "region": "华东"}


def pick(
    rule: dict[str, Any], turn: int = 0, answers: dict[str, str] | None = None, **kw: Any
) -> str | None:
    return choose_assignee(
        rule,
        ["a", "b", "c"],
        answers or {},
        assigned_today=kw.get("today", {}),
        open_leads=kw.get("open", {}),
        turn=turn,
    )


def test_round_robin_takes_turns() -> None:
    assert [pick({"rule": "round_robin"}, t) for t in range(4)] == ["a", "b", "c", "a"]


def test_least_open_picks_the_fewest_ties_by_order() -> None:
    assert pick({"rule": "least_open"}, open={"a": 3, "b": 1, "c": 1}) == "b"
    assert pick({"rule": "least_open"}, open={"a": 0, "b": 0}) == "a"


def test_by_field_maps_answers_and_falls_back_to_the_staff() -> None:
    rule = {"rule": "by_field", "field": "region", "map": {"华南": ["s1", "s2"]}}
    assert pick(rule, 1, {"region": "华南"}) == "s2"
    assert pick(rule, 1, {"region": "华北"}) == "b"


def test_daily_cap_skips_capped_members_then_backup_then_nobody() -> None:
    rule = {"rule": "round_robin", "daily_cap": 2, "backup": ["z"]}
    assert pick(rule, 0, today={"a": 2}) == "b"
    assert pick(rule, 0, today={"a": 2, "b": 2, "c": 5}) == "z"
    assert pick(rule, 0, today={"a": 2, "b": 2, "c": 2, "z": 2}) is None
    assert pick({"rule": "round_robin"}, 0, today={"a": 99}) == "a"  # no cap


def test_working_hours_pick_the_off_hours_members_outside_them() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from scrm.leads.assignment import in_working_hours

    rule = {"rule": "round_robin", "hours": {"start": "09:00", "end": "18:00"}, "off_hours": ["n"]}
    shanghai = ZoneInfo("Asia/Shanghai")
    noon = datetime(2026, 11, 30, 12, 0, tzinfo=shanghai).timestamp()
    night = datetime(2026, 11, 30, 22, 0, tzinfo=shanghai).timestamp()
    nine = datetime(2026, 11, 30, 9, 0, tzinfo=shanghai).timestamp()
    assert in_working_hours(rule, noon) and in_working_hours(rule, nine)
    assert not in_working_hours(rule, night)
    assert pick(rule, 0) == "a"
    assert (
        choose_assignee(rule, ["a"], {}, assigned_today={}, open_leads={}, turn=0, working=False)
        == "n"
    )
    shift = {"hours": {"start": "22:00", "end": "06:00", "timezone": "Asia/Shanghai"}}
    assert in_working_hours(shift, night) and not in_working_hours(shift, noon)
    assert in_working_hours({}, night)  # no hours: always


@pytest.mark.parametrize(
    ("assignment", "field"),
    [
        (
            {"rule": "round_robin", "hours": {"start": "9:00", "end": "18:00"}},
            "assignment.hours.start",
        ),
        (
            {"rule": "round_robin", "hours": {"start": "09:00", "end": "09:00"}},
            "assignment.hours.end",
        ),
        (
            {
                "rule": "round_robin",
                "hours": {"start": "09:00", "end": "18:00", "timezone": "Mars/x"},
            },
            "assignment.hours.timezone",
        ),
        ({"rule": "round_robin", "off_hours": ["n"]}, "assignment.off_hours"),
    ],
)
def test_bad_hours_name_the_field(assignment: dict[str, Any], field: str) -> None:
    with pytest.raises(FormError) as caught:
        parse_form_options({"assignment": assignment})
    assert caught.value.field == field


def test_a_required_choice_left_empty_asks_to_choose() -> None:
    region = {"key": "region", "label": "地区", "type": "choice", "choices": ["华东"]}
    fields = form_fields(parse_form_options({"fields": ["phone", {**region, "required": True}]}))
    _, errors = check_submission(fields, {"phone": "13812345678", "region": ""})
    assert errors == {"region": "请选择地区"}

"""A form channel's settings (fields, consent, assignment) and a submission checked against them.

Settings are validated whole when the channel is created or changed (each refusal names its
field, for the API's 422); a submission is checked field by field and every problem is a
Chinese message next to its field, so the page can show them all at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from scrm.leads.phone import parse_phone

FIELD_TYPES = ("text", "phone", "choice")
RULES = ("round_robin", "least_open", "by_field")
BUILT_IN: dict[str, dict[str, Any]] = {
    "name": {"key": "name", "label": "姓名", "type": "text", "required": True},
    "phone": {"key": "phone", "label": "手机号", "type": "phone", "required": True},
    "company": {"key": "company", "label": "公司", "type": "text", "required": False},
    "need": {"key": "need", "label": "需求", "type": "text", "required": False},
}
DEFAULT_FIELDS: list[dict[str, Any]] = [BUILT_IN["name"], BUILT_IN["phone"]]
DEFAULT_CONSENT = "我们收集您的姓名和手机号，仅用于联系您介绍产品与服务。"
MAX_FIELDS = 20
TEXT_MAX = 200
CONSENT_MAX = 500
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
FORM_KEYS = ("fields", "consent", "assignment")


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    type: str
    required: bool
    choices: tuple[str, ...] = ()


def parse_form_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A form channel's options with ``fields``, ``consent`` and ``assignment`` checked."""
    checked = dict(options)
    checked["fields"] = _fields(options.get("fields", DEFAULT_FIELDS))
    consent = options.get("consent", DEFAULT_CONSENT)
    if not isinstance(consent, str) or not consent.strip() or len(consent) > CONSENT_MAX:
        raise FormError(
            "consent", f"consent must be a non-empty line of ≤ {CONSENT_MAX} characters"
        )
    checked["consent"] = consent.strip()
    checked["assignment"] = _assignment(options.get("assignment"), checked["fields"])
    if "pool" in options:
        checked["pool"] = _pool(options["pool"])
    if not isinstance(options.get("show_contact_qr", False), bool):
        raise FormError("show_contact_qr", "show_contact_qr must be true or false")
    return checked


def form_fields(options: Mapping[str, Any]) -> list[FormField]:
    """The stored (already checked) fields of a form channel."""
    return [
        FormField(
            f["key"], f["label"], f["type"], bool(f.get("required")), tuple(f.get("choices", ()))
        )
        for f in options.get("fields") or DEFAULT_FIELDS
    ]


def check_submission(
    fields: list[FormField], data: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """The cleaned values and, per field key, what is wrong (in Chinese); nothing is stored here."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for f in fields:
        raw = data.get(f.key, "")
        if not isinstance(raw, str):
            errors[f.key] = f"{f.label}格式不正确"
            continue
        value = raw.strip()
        if has_control(value):  # NUL and friends: PostgreSQL refuses NUL in text
            errors[f.key] = f"{f.label}含有无效字符"
            continue
        values[f.key] = value
        if not value:
            if f.required:
                errors[f.key] = f"请选择{f.label}" if f.type == "choice" else f"请填写{f.label}"
            continue
        if len(value) > TEXT_MAX:
            errors[f.key] = f"{f.label}最多 {TEXT_MAX} 个字"
        elif f.type == "phone":
            phone = parse_phone(value)
            if phone is None:
                errors[f.key] = "请输入正确的 11 位手机号"
            else:
                values[f.key] = phone
        elif f.type == "choice" and value not in f.choices:
            errors[f.key] = f"请选择{f.label}"
    return values, errors


def has_control(text: str) -> bool:
    """Whether ``text`` has a control character other than tab and line breaks."""
    return any((ord(c) < 32 and c not in "\t\n\r") or c == "\x7f" for c in text)


def _fields(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value or len(value) > MAX_FIELDS:
        raise FormError("fields", f"fields must be a list of 1..{MAX_FIELDS} fields")
    fields: list[dict[str, Any]] = []
    for n, item in enumerate(value):
        where = f"fields[{n}]"
        if isinstance(item, str) and item in BUILT_IN:
            item = BUILT_IN[item]
        if not isinstance(item, Mapping):
            raise FormError(where, 'a field is a built-in name or {"key", "label", "type", ...}')
        unknown = set(item) - {"key", "label", "type", "required", "choices"}
        if unknown:
            raise FormError(f"{where}.{sorted(unknown)[0]}", "unknown field setting")
        key = item.get("key")
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise FormError(f"{where}.key", "key must match [a-z][a-z0-9_]{0,31}")
        if any(f["key"] == key for f in fields):
            raise FormError(f"{where}.key", f"key {key!r} is used twice")
        base = BUILT_IN.get(key, {})
        label = item.get("label", base.get("label"))
        if not isinstance(label, str) or not 1 <= len(label.strip()) <= 20:
            raise FormError(f"{where}.label", "label must be 1..20 characters")
        kind = item.get("type", base.get("type", "text"))
        if kind not in FIELD_TYPES:
            raise FormError(f"{where}.type", f"type must be one of {', '.join(FIELD_TYPES)}")
        if (key == "phone") != (kind == "phone"):
            raise FormError(f"{where}.type", "the field keyed phone is the one phone field")
        required = item.get("required", base.get("required", False))
        if not isinstance(required, bool):
            raise FormError(f"{where}.required", "required must be true or false")
        field: dict[str, Any] = {
            "key": key,
            "label": label.strip(),
            "type": kind,
            "required": required,
        }
        if kind == "choice":
            choices = item.get("choices")
            if (
                not isinstance(choices, list)
                or not 1 <= len(choices) <= 30
                or any(not isinstance(c, str) or not 1 <= len(c) <= 30 for c in choices)
            ):
                raise FormError(f"{where}.choices", "choices must be 1..30 strings of 1..30")
            field["choices"] = list(dict.fromkeys(choices))
        elif "choices" in item:
            raise FormError(f"{where}.choices", "only a choice field has choices")
        fields.append(field)
    phone = [f for f in fields if f["key"] == "phone"]
    if not phone or not phone[0]["required"]:
        raise FormError("fields", "a form needs the required phone field")
    return fields


def _assignment(value: object, fields: list[dict[str, Any]]) -> dict[str, Any]:
    if value is None:
        return {"rule": "round_robin"}
    if not isinstance(value, Mapping):
        raise FormError("assignment", 'assignment is {"rule", ...}')
    unknown = set(value) - {
        "rule",
        "staff",
        "field",
        "map",
        "daily_cap",
        "backup",
        "hours",
        "off_hours",
    }
    if unknown:
        raise FormError(f"assignment.{sorted(unknown)[0]}", "unknown assignment setting")
    rule = value.get("rule")
    if rule not in RULES:
        raise FormError("assignment.rule", f"rule must be one of {', '.join(RULES)}")
    checked: dict[str, Any] = {"rule": rule}
    for name in ("staff", "backup", "off_hours"):
        if name in value:
            checked[name] = _userids(value[name], f"assignment.{name}")
    if "hours" in value:
        checked["hours"] = _hours(value["hours"])
    elif "off_hours" in value:
        raise FormError("assignment.off_hours", "off_hours needs hours")
    cap = value.get("daily_cap")
    if cap is not None:
        if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= 10_000:
            raise FormError("assignment.daily_cap", "daily_cap must be 1..10000")
        checked["daily_cap"] = cap
    if rule == "by_field":
        key = value.get("field")
        if not any(f["key"] == key for f in fields):
            raise FormError("assignment.field", "field must be the key of one of the form fields")
        mapping = value.get("map")
        if not isinstance(mapping, Mapping) or not mapping:
            raise FormError("assignment.map", "map must be {field value: [userid, ...]}")
        checked["field"] = key
        checked["map"] = {str(k): _userids(v, f"assignment.map.{k}") for k, v in mapping.items()}
    elif "field" in value or "map" in value:
        raise FormError("assignment.field", "field and map belong to the by_field rule")
    return checked


def _pool(value: object) -> dict[str, Any]:
    """``{"recycle_days": 0..3650 (0 = never)}``; the manager told is WeCom's direct leader."""
    if isinstance(value, Mapping) and "managers" in value:
        raise FormError(
            "options.pool.managers",
            "the manager told of a recycled lead is the owner's direct leader (直属上级) in WeCom",
        )
    if not isinstance(value, Mapping) or set(value) - {"recycle_days"}:
        raise FormError("options.pool", 'pool is {"recycle_days"}')
    days = value.get("recycle_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 3650:
        raise FormError("options.pool.recycle_days", "recycle_days must be 0..3650 (0 = never)")
    return {"recycle_days": days}


def _hours(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) - {"start", "end", "timezone"}:
        raise FormError(
            "assignment.hours", 'hours is {"start": "HH:MM", "end": "HH:MM", "timezone"?}'
        )
    hours: dict[str, str] = {}
    for name in ("start", "end"):
        raw = value.get(name)
        if not isinstance(raw, str) or not _HHMM.fullmatch(raw):
            raise FormError(f"assignment.hours.{name}", f"{name} must be HH:MM")
        hours[name] = raw
    if hours["start"] == hours["end"]:
        raise FormError("assignment.hours.end", "end must differ from start")
    zone = value.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ValueError, KeyError, OSError):
            raise FormError("assignment.hours.timezone", "an IANA time zone name") from None
        hours["timezone"] = str(zone)
    return hours


def _userids(value: object, where: str) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > 100
        or any(not isinstance(u, str) or not 1 <= len(u) <= 64 for u in value)
    ):
        raise FormError(where, "a list of 1..100 userids")
    return list(dict.fromkeys(value))

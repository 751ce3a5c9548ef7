"""Check rule JSON field by field so the API can answer 422 naming each bad field."""

from dataclasses import dataclass
from typing import Any, Final

from tagging.normalize import normalize
from tagging.rules import (
    Action,
    AddTag,
    Alert,
    CreateTicket,
    KeywordRule,
    Priority,
    RemoveTag,
    RuleId,
    Scope,
    Threshold,
)

MAX_NAME: Final = 100
MAX_KEYWORDS: Final = 1000  # per list
MAX_KEYWORD_LENGTH: Final = 100
MAX_TAG: Final = 30  # WeCom refuses corp tag and tag group names longer than 30 characters
MAX_LABEL: Final = 64  # ticket category, alert channel
MAX_THRESHOLD_COUNT: Final = 1000
MAX_WINDOW_DAYS: Final = 366
KEYWORD_LISTS: Final = ("keywords_any", "keywords_all", "exclude")
_FIELDS: Final = {"id", "name", *KEYWORD_LISTS, "scope", "threshold", "actions", "enabled"}
_ACTION_FIELDS: Final[dict[str, set[str]]] = {
    "add_tag": {"type", "tag", "group"},
    "remove_tag": {"type", "tag", "group"},
    "create_ticket": {"type", "category", "priority"},
    "alert": {"type", "channel"},
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem, with a dotted path such as ``keywords_any[1]`` or ``actions[0].type``."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Render for the API's 422 body."""
        return {"field": self.field, "message": self.message}


class RuleValidationError(ValueError):
    """Raised by ``parse_rule``; carries every problem found, not just the first."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.errors = errors


def _text(data: dict[str, Any], key: str, path: str, limit: int, errors: list[FieldError]) -> str:
    """Read a required non-blank string no longer than ``limit``; record a problem if not."""
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(path, "must be a non-empty string"))
        return ""
    if len(value) > limit:
        errors.append(FieldError(path, f"must be at most {limit} characters"))
    return value


def _keywords(data: dict[str, Any], key: str, errors: list[FieldError]) -> tuple[str, ...]:
    """Read one keyword list; a single character or an emoji is a valid keyword."""
    value = data.get(key, [])
    if not isinstance(value, list):
        errors.append(FieldError(key, "must be a list of strings"))
        return ()
    if len(value) > MAX_KEYWORDS:
        errors.append(FieldError(key, f"must hold at most {MAX_KEYWORDS} keywords"))
    for index, keyword in enumerate(value):
        path = f"{key}[{index}]"
        if not isinstance(keyword, str) or not normalize(keyword).strip():
            errors.append(FieldError(path, "must be a non-empty, visible string"))
        elif len(keyword) > MAX_KEYWORD_LENGTH:
            errors.append(FieldError(path, f"must be at most {MAX_KEYWORD_LENGTH} characters"))
    return tuple(keyword for keyword in value if isinstance(keyword, str))


def _threshold(value: Any, errors: list[FieldError]) -> Threshold | None:
    """Read the optional threshold, refusing absurd counts and windows."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(FieldError("threshold", "must be an object with count and window_days"))
        return None
    bounds = {"count": MAX_THRESHOLD_COUNT, "window_days": MAX_WINDOW_DAYS}
    before = len(errors)
    for key in sorted(set(value) - set(bounds)):
        errors.append(FieldError(f"threshold.{key}", "unknown field"))
    for key, upper in bounds.items():
        number = value.get(key)
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= upper:
            errors.append(FieldError(f"threshold.{key}", f"must be an integer from 1 to {upper}"))
    if len(errors) > before:
        return None
    return Threshold(count=value["count"], window_days=value["window_days"])


def _action(value: Any, path: str, errors: list[FieldError]) -> Action | None:
    """Read one action; each type has its own required fields."""
    if not isinstance(value, dict):
        errors.append(FieldError(path, "must be an object"))
        return None
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in _ACTION_FIELDS:
        errors.append(FieldError(f"{path}.type", f"must be one of {', '.join(_ACTION_FIELDS)}"))
        return None
    for key in sorted(set(value) - _ACTION_FIELDS[kind]):
        errors.append(FieldError(f"{path}.{key}", "unknown field"))
    before = len(errors)
    if kind in ("add_tag", "remove_tag"):
        tag = _text(value, "tag", f"{path}.tag", MAX_TAG, errors)
        group = None
        if value.get("group") is not None:
            group = _text(value, "group", f"{path}.group", MAX_TAG, errors)
        action: Action = AddTag(tag, group) if kind == "add_tag" else RemoveTag(tag, group)
    elif kind == "create_ticket":
        category = _text(value, "category", f"{path}.category", MAX_LABEL, errors)
        raw_priority = value.get("priority")
        priority = Priority.__members__.get(str(raw_priority), Priority.P3)
        if not isinstance(raw_priority, str) or raw_priority not in Priority.__members__:
            errors.append(FieldError(f"{path}.priority", "must be one of P0, P1, P2, P3"))
        action = CreateTicket(category, priority)
    else:
        action = Alert(_text(value, "channel", f"{path}.channel", MAX_LABEL, errors))
    return action if len(errors) == before else None


def validate_rule(data: Any) -> list[FieldError]:
    """Return every problem with ``data`` as rule JSON; an empty list means it is valid."""
    errors: list[FieldError] = []
    _build(data, "", errors)
    return errors


def parse_rule(data: Any, rule_id: RuleId) -> KeywordRule:
    """Build a rule from API JSON or raise ``RuleValidationError`` listing every bad field."""
    errors: list[FieldError] = []
    rule = _build(data, rule_id, errors)
    if errors or rule is None:
        raise RuleValidationError(errors)
    return rule


def _build(data: Any, rule_id: RuleId, errors: list[FieldError]) -> KeywordRule | None:
    """Validate and construct in one pass, so the checks and the result cannot drift apart."""
    if not isinstance(data, dict):
        errors.append(FieldError("", "rule must be a JSON object"))
        return None
    for key in sorted(set(data) - _FIELDS, key=str):
        errors.append(FieldError(str(key), "unknown field"))
    name = _text(data, "name", "name", MAX_NAME, errors)
    lists = {key: _keywords(data, key, errors) for key in KEYWORD_LISTS}
    if not data.get("keywords_any") and not data.get("keywords_all"):
        errors.append(FieldError("keywords_any", "keywords_any or keywords_all needs a keyword"))
    keywords = {normalize(k) for k in (*lists["keywords_any"], *lists["keywords_all"])}
    for index, phrase in enumerate(lists["exclude"]):
        if normalize(phrase) in keywords:
            errors.append(FieldError(f"exclude[{index}]", "equals a keyword, rule never fires"))
    scope = data.get("scope", "customer")
    if not isinstance(scope, str) or scope not in {item.value for item in Scope}:
        errors.append(FieldError("scope", "must be one of customer, staff, any"))
    threshold = _threshold(data.get("threshold"), errors)
    raw_actions = data.get("actions")
    actions: list[Action] = []
    if not isinstance(raw_actions, list) or not raw_actions:
        errors.append(FieldError("actions", "must be a non-empty list"))
    else:
        for index, raw in enumerate(raw_actions):
            action = _action(raw, f"actions[{index}]", errors)
            if action is not None:
                actions.append(action)
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(FieldError("enabled", "must be true or false"))
    if errors:
        return None
    return KeywordRule(
        id=rule_id,
        name=name,
        **lists,
        scope=Scope(scope),
        threshold=threshold,
        actions=tuple(actions),
        enabled=enabled,
    )

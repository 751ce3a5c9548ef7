"""A channel as the API receives it, validated whole: every refusal names its field (422)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scrm.channels.models import KINDS
from scrm.channels.rotation import Rotation, RotationError, parse_rotation
from scrm.channels.state import state_problem
from scrm.leads.form import FORM_KEYS, FormError, parse_form_options

FIELDS = (
    "name",
    "kind",
    "staff",
    "tags",
    "welcome",
    "skip_verify",
    "rotation",
    "state",
    "options",
    *FORM_KEYS,
)
MUTABLE = ("name", "staff", "tags", "welcome", "skip_verify", "rotation", "options", *FORM_KEYS)
AVAILABLE_KINDS = KINDS  # miniprogram: a contact way shown in the mini-program (wxacode.png)
MAX_STAFF = 100  # WeCom: ≤ 100 members per way
WELCOME_TEXT_BYTES = 4000


class SpecError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TagName:
    name: str
    group: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group}


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    kind: str = "contact_way"
    staff: tuple[str, ...] = ()
    tags: tuple[TagName, ...] = ()
    welcome: dict[str, Any] | None = None
    skip_verify: bool = True
    rotation: Rotation | None = None
    state: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def everyone(self) -> tuple[str, ...]:
        """Every member the code can ever carry: the staff, then the backup staff."""
        backup = self.rotation.backup if self.rotation else ()
        return tuple(dict.fromkeys((*self.staff, *backup)))


def parse_spec(data: object) -> ChannelSpec:
    """Validate a create request."""
    if not isinstance(data, Mapping):
        raise SpecError("body", "the body must be a JSON object")
    _refuse_nul(data, "")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SpecError(unknown[0], f"unknown field {unknown[0]!r}")
    kind = data.get("kind", "contact_way")
    if kind not in KINDS:
        raise SpecError("kind", f"kind must be one of {', '.join(KINDS)}")
    if kind not in AVAILABLE_KINDS:
        raise SpecError("kind", f"kind {kind!r} is not available yet")
    state = data.get("state")
    if state is not None:
        problem = state_problem(state)
        if problem:
            raise SpecError("state", problem)
    return _checked(
        ChannelSpec(
            name=_name(data.get("name")),
            kind=kind,
            staff=_staff(data.get("staff")),
            tags=_tags(data.get("tags", [])),
            welcome=_welcome(data.get("welcome")),
            skip_verify=_bool(data.get("skip_verify", True), "skip_verify"),
            rotation=_rotation(data.get("rotation")),
            state=state,
            options=_kind_options(kind, data.get("options", {}), data),
        )
    )


def apply_changes(spec: ChannelSpec, data: object) -> tuple[ChannelSpec, set[str]]:
    """A PATCH: the changed channel, validated whole, and the names of the fields given."""
    if not isinstance(data, Mapping):
        raise SpecError("body", "the body must be a JSON object")
    _refuse_nul(data, "")
    for name in data:
        if name in ("kind", "state"):
            if data[name] != getattr(spec, name):
                raise SpecError(name, f"{name} cannot change (create a new channel)")
        elif name not in MUTABLE:
            raise SpecError(name, f"unknown field {name!r}")
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = _name(data["name"])
    if "staff" in data:
        changes["staff"] = _staff(data["staff"])
    if "tags" in data:
        changes["tags"] = _tags(data["tags"])
    if "welcome" in data:
        changes["welcome"] = _welcome(data["welcome"])
    if "skip_verify" in data:
        changes["skip_verify"] = _bool(data["skip_verify"], "skip_verify")
    if "rotation" in data:
        changes["rotation"] = _rotation(data["rotation"])
    if "options" in data or any(k in data for k in FORM_KEYS):
        base = data.get("options", spec.options)
        changes["options"] = _kind_options(spec.kind, base, data)
    return _checked(replace(spec, **changes)), set(changes)


def _refuse_nul(value: object, path: str) -> None:
    """NUL characters: no WeCom field takes them and PostgreSQL cannot store them."""
    if isinstance(value, str):
        if "\x00" in value:
            raise SpecError(path or "body", "text must not contain NUL characters")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            _refuse_nul(key, where)
            _refuse_nul(item, where)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _refuse_nul(item, f"{path}[{n}]")


def _checked(spec: ChannelSpec) -> ChannelSpec:
    """Cross-field rules: scheduled staff must be on the channel."""
    if spec.rotation is not None:
        for n, slot in enumerate(spec.rotation.schedule):
            stray = [u for u in slot.staff if u not in spec.staff]
            if stray:
                raise SpecError(
                    f"rotation.schedule[{n}].staff", f"{stray[0]} is not in the channel's staff"
                )
    if len(spec.everyone) > MAX_STAFF:
        raise SpecError("staff", f"at most {MAX_STAFF} members, backup staff included")
    return spec


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError("name", "name must be a non-empty string")
    if len(value.strip()) > 64:
        raise SpecError("name", "name must be at most 64 characters")
    return value.strip()


def _staff(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError("staff", "staff must be a non-empty list of userids")
    if any(not isinstance(u, str) or not u.strip() or len(u) > 64 for u in value):
        raise SpecError("staff", "every staff entry must be a userid (1..64 characters)")
    staff = tuple(dict.fromkeys(value))
    if len(staff) > MAX_STAFF:
        raise SpecError("staff", f"at most {MAX_STAFF} members")
    return staff


def _tags(value: object) -> tuple[TagName, ...]:
    if not isinstance(value, list) or len(value) > 20:
        raise SpecError("tags", "tags must be a list of at most 20 tag names")
    tags: list[TagName] = []
    for n, item in enumerate(value):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping) or set(item) - {"name", "group"}:
            raise SpecError(f"tags[{n}]", 'a tag is a name or {"name", "group"?}')
        name, group = item.get("name"), item.get("group")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 30:
            raise SpecError(f"tags[{n}]", "a tag name is 1..30 characters")
        if group is not None and (not isinstance(group, str) or not 1 <= len(group.strip()) <= 30):
            raise SpecError(f"tags[{n}]", "a tag group is 1..30 characters")
        tag = TagName(name.strip(), group.strip() if group else None)
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _welcome(value: object) -> dict[str, Any] | None:
    """``{"text", "link"?: {"title", "url", "desc"?, "picurl"?}, "miniprogram"?: {...}}``."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"text", "link", "miniprogram"}:
        raise SpecError("welcome", 'welcome is null or {"text", "link"?, "miniprogram"?}')
    text = value.get("text", "")
    if not isinstance(text, str) or len(text.encode()) > WELCOME_TEXT_BYTES:
        raise SpecError("welcome.text", f"text must be a string of ≤ {WELCOME_TEXT_BYTES} bytes")
    welcome: dict[str, Any] = {"text": text}
    link = value.get("link")
    if link is not None:
        welcome["link"] = _attachment(
            link, "welcome.link", required=("title", "url"), optional=("desc", "picurl")
        )
    mini = value.get("miniprogram")
    if mini is not None:
        welcome["miniprogram"] = _attachment(
            mini,
            "welcome.miniprogram",
            required=("title", "pic_media_id", "appid", "page"),
            optional=(),
        )
    if not text and len(welcome) == 1:
        raise SpecError("welcome.text", "a welcome needs text or an attachment")
    return welcome


def _attachment(
    value: object, field: str, *, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) - {*required, *optional}:
        raise SpecError(field, f"{field} takes {', '.join((*required, *optional))}")
    for name in required:
        if not isinstance(value.get(name), str) or not value[name]:
            raise SpecError(f"{field}.{name}", f"{name} is required")
    for name in optional:
        if name in value and not isinstance(value[name], str):
            raise SpecError(f"{field}.{name}", f"{name} must be a string")
    return {k: str(v) for k, v in value.items()}


def _bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(name, f"{name} must be true or false")
    return value


def _rotation(value: object) -> Rotation | None:
    try:
        return parse_rotation(value)
    except RotationError as exc:
        raise SpecError(exc.field, str(exc)) from None


def _options(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError("options", "options must be an object")
    return dict(value)


def _kind_options(kind: str, value: object, data: Mapping[str, Any]) -> dict[str, Any]:
    """Options, with a form channel's ``fields``/``consent``/``assignment`` (given at the top
    level or inside ``options``) checked whole and kept in ``options``."""
    options = _options(value)
    page = options.get("page")
    if page is not None and (
        not isinstance(page, str)
        or not 1 <= len(page) <= 128
        or page.startswith("/")
        or "?" in page
    ):
        raise SpecError("options.page", "page is a mini-program page path (no leading / or ?)")
    given = [k for k in FORM_KEYS if k in data]
    if kind != "form":
        if given:
            raise SpecError(given[0], f"{given[0]} belongs to form channels")
        return options
    options |= {k: data[k] for k in given}
    try:
        return parse_form_options(options)
    except FormError as exc:
        raise SpecError(exc.field, str(exc)) from None

"""Parse WeCom callback bodies: the signed envelope and the decrypted event (PROTOCOL §1.3, §3).

Both layers arrive as XML by default or JSON when the receiver is set to JSON mode. XML is
parsed with defusedxml, refusing any DTD, entity or external reference (billion laughs,
XXE), and with caps on size, nesting depth and element count, so hostile input costs a
bounded amount of work and ends in :class:`MalformedPayload`.

Both formats yield the same shape, so handlers never care which mode the corp picked:
leaves are ``str`` (JSON numbers and booleans are rendered as text, as in XML), nested
elements are dicts, and list-like containers are lists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TypeAlias
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_etree
from defusedxml import DefusedXmlException

Value: TypeAlias = "str | list[Value] | dict[str, Value]"
Payload: TypeAlias = dict[str, Value]

MAX_BYTES = 256 * 1024  # real events are < 4 KiB; a 2,000-member MemChangeList fits easily
MAX_DEPTH = 10  # <xml> counts as 1; approval events nest about 6 deep
MAX_ELEMENTS = 5_000
_LIST_ITEM_TAGS = frozenset({"Item", "item"})  # WeCom's list convention (MemChangeList, PicList)
_XML_ENVELOPE_KEYS = ("Encrypt", "ToUserName", "AgentID")
_JSON_ENVELOPE_KEYS = ("encrypt", "tousername", "agentid")
_DIGITS = re.compile(r"[0-9]{1,12}")


class MalformedPayload(ValueError):
    """The body or decrypted payload is not a usable WeCom callback; ``reason`` is metric-safe.

    Reasons: ``empty``, ``too_large``, ``bad_xml``, ``dtd_forbidden``, ``bad_root``,
    ``too_deep``, ``too_many_elements``, ``bad_json``, ``not_object``, ``missing_encrypt``,
    ``no_event_type``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Envelope:
    """The outer POST body; only ``encrypt`` is signed (PROTOCOL §1.3)."""

    encrypt: str
    to_user: str | None
    agent_id: str | None


def parse_envelope(body: bytes) -> Envelope:
    """Parse the POST body (XML ``<xml><Encrypt>…`` or JSON ``{"encrypt": …}``)."""
    is_json = _looks_like_json(body)
    data = _parse_json(body) if is_json else _parse_xml(body)
    # JSON mode uses lowercase keys (PROTOCOL §1.3); AgentID may be absent.
    encrypt_key, to_user_key, agent_key = _JSON_ENVELOPE_KEYS if is_json else _XML_ENVELOPE_KEYS
    encrypt = data.get(encrypt_key)
    if not isinstance(encrypt, str) or not encrypt:
        raise MalformedPayload("missing_encrypt")
    return Envelope(encrypt, _optional_text(data, to_user_key), _optional_text(data, agent_key))


def parse_event(plaintext: bytes) -> Payload:
    """Parse a decrypted payload into a dict keyed by WeCom's own field names."""
    if _looks_like_json(plaintext):
        return _parse_json(plaintext)
    return _parse_xml(plaintext)


def event_name(payload: Payload) -> str:
    """Return WeCom's own event name, the one routers, metrics and docs use.

    ``Event.ChangeType`` when there is a sub-type
    (``change_external_contact.add_external_contact``), ``Event`` alone otherwise
    (``msgaudit_notify``), ``message.<MsgType>`` for messages (``message.text``).
    Third-party 指令回调 use ``InfoType`` instead of ``Event`` (PROTOCOL §3.0).
    """
    msg_type = _text_field(payload, "MsgType")
    event = _text_field(payload, "Event") or _text_field(payload, "InfoType")
    if msg_type and msg_type != "event" and not event:
        return f"message.{msg_type}"
    if not event:
        raise MalformedPayload("no_event_type")
    change_type = _text_field(payload, "ChangeType")
    return f"{event}.{change_type}" if change_type else event


def occurred_at(payload: Payload) -> int | None:
    """Return WeCom's ``CreateTime`` (unix seconds), or None when absent or not a number.

    Third-party 指令回调 carry ``TimeStamp`` instead (PROTOCOL §3.0).
    """
    for field in ("CreateTime", "TimeStamp"):
        value = payload.get(field)
        if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            return int(value)
    return None


def _text_field(payload: Payload, key: str) -> str:
    value = payload.get(key)
    return value.strip() if isinstance(value, str) else ""


def _optional_text(payload: Payload, key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) else None


def _looks_like_json(raw: bytes) -> bool:
    return raw.lstrip()[:1] == b"{"


def _check_size(raw: bytes) -> None:
    if not raw.strip():
        raise MalformedPayload("empty")
    if len(raw) > MAX_BYTES:
        raise MalformedPayload("too_large", f"{len(raw)} bytes")


def _parse_xml(raw: bytes) -> Payload:
    _check_size(raw)
    try:
        root = safe_etree.fromstring(
            raw, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:  # DTD, entity declaration or external reference
        raise MalformedPayload("dtd_forbidden", type(exc).__name__) from exc
    except (ParseError, ValueError, LookupError) as exc:  # LookupError: unknown encoding=
        raise MalformedPayload("bad_xml", str(exc)[:100]) from exc
    _check_shape(root)
    if root.tag != "xml":
        raise MalformedPayload("bad_root")
    return _convert_fields(list(root))


def _check_shape(root: Element) -> None:
    """Enforce the depth and element caps level by level, before any recursive conversion.

    One C-level parse plus this loop is about twice as fast as iterparse with a Python loop
    per event, and the size cap already bounds the parser's own work.
    """
    count, depth, level = 0, 1, [root]
    while level:
        count += len(level)
        if count > MAX_ELEMENTS:
            raise MalformedPayload("too_many_elements")
        if depth > MAX_DEPTH:
            raise MalformedPayload("too_deep")
        level = [child for element in level for child in element]
        depth += 1


def _convert(element: Element) -> Value:
    """Leaves become text; ``Item`` children or one repeated tag become a list; else a dict."""
    children = list(element)
    if not children:
        return element.text or ""
    tags = {child.tag for child in children}
    if tags <= _LIST_ITEM_TAGS or (len(tags) == 1 and len(children) > 1):
        return [_convert(child) for child in children]
    return _convert_fields(children)


def _convert_fields(children: list[Element]) -> dict[str, Value]:
    """Map children by tag; a tag that repeats collects its values in a list."""
    grouped: dict[str, list[Value]] = {}
    for child in children:
        grouped.setdefault(child.tag, []).append(_convert(child))
    return {tag: values[0] if len(values) == 1 else values for tag, values in grouped.items()}


def _parse_json(raw: bytes) -> Payload:
    _check_size(raw)
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise MalformedPayload("bad_json", type(exc).__name__) from exc
    if not isinstance(data, dict):
        raise MalformedPayload("not_object")
    budget = [MAX_ELEMENTS]
    return {str(key): _normalise_json(item, 2, budget) for key, item in data.items()}


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _normalise_json(value: object, depth: int, budget: list[int]) -> Value:
    """Give JSON the XML shape: scalars as text, so handlers see one type per field."""
    if depth > MAX_DEPTH:
        raise MalformedPayload("too_deep")
    budget[0] -= 1
    if budget[0] < 0:
        raise MalformedPayload("too_many_elements")
    if isinstance(value, dict):
        return {str(key): _normalise_json(item, depth + 1, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise_json(item, depth + 1, budget) for item in value]
    return _scalar_text(value)


def _scalar_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

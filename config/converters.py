"""Turn a raw value (an environment string or a TOML value) into a typed setting, or say why not.

Each converter takes the key as the operator wrote it and the value, and raises `ValueError`
with a message for the operator; `Source` adds the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from config.secret import Secret

Number = TypeVar("Number", int, float)


def text(_key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def secret(key: str, value: Any) -> Secret:
    return Secret(text(key, value))


def int_in(low: int, high: int) -> Callable[[str, Any], int]:
    return _within(_whole_number, low, high)


def float_in(low: float, high: float) -> Callable[[str, Any], float]:
    return _within(_number, low, high)


def boolean(_key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in {"1", "true", "yes", "on"}:
        return True
    if word in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected 1/0, true/false, got {value!r}")


def http_url(key: str, value: Any) -> str:
    url = text(key, value).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return url


def _within(
    parse: Callable[[Any], Number], low: Number, high: Number
) -> Callable[[str, Any], Number]:
    def convert(key: str, value: Any) -> Number:
        number = parse(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return convert


def _whole_number(value: Any) -> int:
    if isinstance(value, bool):  # TOML's true is not 1
        raise ValueError("expected a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {value!r}") from None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None

"""Where a setting's value comes from: ``SCRM_<NAME>`` in the environment, else ``name`` in the
TOML file named by ``SCRM_CONFIG``; a bad value is a `ConfigError` naming the key as written."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

PREFIX = "SCRM_"


class ConfigError(ValueError):
    """A setting is missing or malformed; `key` names it as the operator wrote it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class Source:
    """Looks a key up in the environment first, then in the TOML table, and converts it."""

    def __init__(self, environ: Mapping[str, str], table: Mapping[str, Any], origin: str) -> None:
        self._environ = environ
        self._table = table
        self._origin = origin

    def raw(self, name: str) -> tuple[str, Any] | None:
        env_key = PREFIX + name.upper()
        if env_key in self._environ and self._environ[env_key] != "":
            return env_key, self._environ[env_key]
        if name in self._table:
            return f"{name} (in {self._origin})", self._table[name]
        return None

    def get(self, name: str, convert: Callable[[str, Any], T], default: T) -> T:
        found = self.raw(name)
        if found is None:
            return default
        return converted(*found, convert)


def converted(key: str, value: Any, convert: Callable[[str, Any], T]) -> T:
    """``convert(key, value)``, its complaint about the value raised as a `ConfigError`."""
    try:
        return convert(key, value)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, str(exc) or "invalid value") from None


def read_toml(environ: Mapping[str, str], known: Collection[str]) -> tuple[dict[str, Any], str]:
    """The table in ``SCRM_CONFIG``, and where it came from; a name not in ``known`` is an error."""
    path = environ.get(PREFIX + "CONFIG")
    if not path:
        return {}, "environment"
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("SCRM_CONFIG", f"file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("SCRM_CONFIG", f"{path} is not valid TOML: {exc}") from None
    for name in table:
        if name not in known:
            raise ConfigError(f"{name} (in {path})", "unknown setting")
    return table, path

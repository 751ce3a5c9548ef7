"""Mainland mobile numbers as people type them: normalise, validate, mask."""

from __future__ import annotations

import re
import unicodedata

MOBILE = re.compile(r"1[3-9]\d{9}")
# What people put between digit groups; removed before the check.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u3000()（）.·]")


def normalize_phone(raw: str) -> str:
    """Full-width digits to ASCII (NFKC), blanks and dashes dropped, a +86/0086 prefix removed."""
    value = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    for prefix in ("+86", "0086"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if value.startswith("86") and len(value) == 13:
        value = value[2:]
    return value


def parse_phone(raw: str) -> str | None:
    """The normalised mainland mobile number, or None when it is not one."""
    value = normalize_phone(raw)
    return value if MOBILE.fullmatch(value) else None


def mask_phone(phone: str) -> str:
    """``138****5678``: what lists show; the full number only on the lead's own record."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]

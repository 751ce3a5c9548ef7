"""What the auto-tagging handlers need at run time, held in `Services.autotag`."""

from __future__ import annotations

from dataclasses import dataclass

from scrm.autotag.catalog import RuleCatalog

DEFAULT_TAG_GROUP = "自动标签"  # where a rule's tag goes when it names no group


@dataclass
class AutoTagRuntime:
    rules: RuleCatalog
    default_tag_group: str = DEFAULT_TAG_GROUP

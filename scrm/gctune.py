"""Keep Python's garbage collector from pausing the intake for tens of milliseconds.

A full collection walks every tracked object; after start-up that is ~100k objects of
modules, ORM metadata and the HTTP stack that never die, so a pause costs 20–100 ms on a
small VM — longer than WeCom callers should ever wait. `freeze` moves everything alive at
start-up out of the collector's reach, and a larger first-generation threshold keeps
in-flight request objects from being promoted (which is what triggers full collections).
Pauses are measured into a histogram so operators can see them.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

FIRST_GENERATION_THRESHOLD = 50_000


def freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, second, third)


def measure_pauses(histogram: Histogram) -> None:
    """Observe every collection's duration, labelled by generation."""
    started: dict[str, float] = {}

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started["at"] = time.perf_counter()
        elif "at" in started:
            histogram.labels(generation=str(info["generation"])).observe(
                time.perf_counter() - started.pop("at")
            )

    gc.callbacks.append(callback)

import gc

from scrm.gctune import FIRST_GENERATION_THRESHOLD, freeze_startup_objects, measure_pauses
from scrm.metrics import Metrics


def test_freeze_moves_startup_objects_out_of_collections() -> None:
    threshold = gc.get_threshold()
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold()[0] == FIRST_GENERATION_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_pauses_are_measured_by_generation() -> None:
    metrics = Metrics()
    before = list(gc.callbacks)
    try:
        measure_pauses(metrics.gc_pause)
        gc.collect(2)
        gc.collect(0)
    finally:
        gc.callbacks[:] = before
    count = metrics.registry.get_sample_value
    assert count("scrm_gc_pause_seconds_count", {"generation": "2"}) == 1
    assert count("scrm_gc_pause_seconds_count", {"generation": "0"}) == 1

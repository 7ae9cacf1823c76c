"""Garbage is collected on the GUI thread's timer, with CPython's own thresholds."""

from __future__ import annotations

import gc

from PySide6.QtWidgets import QApplication

from app.ui.gc_guard import MainThreadCollector


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_collects_on_its_timer_and_gives_collection_back(qapp: QApplication) -> None:
    gc.enable()
    try:
        collector = MainThreadCollector()
        collector.start()
        assert not gc.isenabled()  # no collection can start in another thread now
        gc.collect()
        for _ in range(gc.get_threshold()[0] + 50):
            Node()
        assert gc.get_count()[0] > gc.get_threshold()[0]
        collector.check()
        assert gc.get_count()[0] < gc.get_threshold()[0]
        collector.stop()
        assert gc.isenabled()
    finally:
        gc.disable()  # the test session collects between tests (tests/conftest.py)

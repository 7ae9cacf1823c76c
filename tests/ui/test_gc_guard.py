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


def test_a_full_collection_freezes_what_survived_so_the_next_one_is_short(qapp: QApplication) -> None:
    gc.enable()
    try:
        collector = MainThreadCollector()
        collector.start()
        survivors = [Node() for _ in range(100)]  # still referenced: they survive
        gc.collect(1)
        while gc.get_count()[2] <= gc.get_threshold()[2]:
            gc.collect(1)  # each gen-1 collection counts towards a full one
        collector.check()
        assert gc.get_freeze_count() >= len(survivors)  # not traversed by later collections
        collector.stop()
        assert gc.get_freeze_count() == 0  # CPython's own behaviour is back
    finally:
        gc.disable()

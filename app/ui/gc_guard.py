"""Garbage collection on the GUI thread only: Qt objects must never be freed from another thread."""

from __future__ import annotations

import gc
import logging

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger("app.ui.gc_guard")

# Often enough that each collection has little to look at: at 500 ms a live table's stream left
# 100,000 young objects for one collection, a 50-200 ms stall (bench: live table).
INTERVAL_MS = 20


class MainThreadCollector(QObject):
    """Turns automatic collection off and collects on a GUI-thread timer instead.

    Why: CPython runs its cyclic collector in whichever thread happens to allocate. With the
    simulator (demo mode) or an executor thread running, a cycle holding a Qt wrapper could be
    freed there, and Qt then fires a timer of an object deleted from the wrong thread: a
    segfault in ``QTimerInfoList::activateTimers`` (seen in the UI tests, about one run in
    four). Collecting here keeps every Qt destructor on the thread that owns it.

    Rules kept: the same generation thresholds as CPython's (checked every ``INTERVAL_MS``);
    what survives a full collection is frozen (``gc.freeze``): the next full collection looks
    only at what came since, not again at 10,000 listed orders and every Qt wrapper (a 100 ms
    stall each time). Frozen objects are still freed when their last reference goes; only a
    reference cycle among them would stay. ``stop()`` restores automatic collection.
    """

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        """Disable automatic collection and start collecting on the timer."""
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Stop the timer, unfreeze, collect once, and give collection back to CPython."""
        self._timer.stop()
        gc.unfreeze()
        gc.collect()
        if self._was_enabled:
            gc.enable()

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold (as CPython would)."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self._thresholds[generation]:
                gc.collect(generation)
                if generation == 2:
                    gc.freeze()
                return

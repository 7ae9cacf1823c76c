"""How far the running cancels are: one line in the status bar, with what is left and an ETA.

``CancelProgress`` is pure (fed ``ActionProgress`` and the time, no Qt): it keeps the actions
still running, and says how many orders are done, how many wait for Kraken's rate limit and
about how long is left: what is left at the pace of the last ``PACE_WINDOW_S`` (a cancel
that raced through its first thousands and now waits on a pair's rate counter is slow *now*),
and never less than the wait the rate limit announced; none before a pace is known.
``ProgressLabel`` shows it and ticks with the window's one-second timer.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtWidgets import QLabel, QWidget

from app.desk.coordinator import ActionProgress
from app.ui import theme
from app.ui.status_text import span

MIN_SHOWN = 2  # a single order's cancel says its outcome in the status bar at once: no progress line
PACE_AFTER_S = 1.0  # an ETA from the pace only after this long (the first replies are no pace)
PACE_WINDOW_S = 10.0  # the pace is that of the last this many seconds


@dataclass(slots=True)
class _Running:
    progress: ActionProgress
    wait_until: float | None  # when the rate limit's announced wait ends (absolute)
    samples: deque[tuple[float, int]] = field(default_factory=deque)  # (time, done), oldest first

    def sample(self, now: float) -> None:
        self.samples.append((now, self.progress.done))
        # Keep one sample from before the window: the pace is measured from it.
        while len(self.samples) > 2 and self.samples[1][0] < now - PACE_WINDOW_S:
            self.samples.popleft()

    def pace_eta(self) -> float | None:
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 - t0 < PACE_AFTER_S or d1 <= d0:
            return None
        return (self.progress.total - d1) * (t1 - t0) / (d1 - d0)


class CancelProgress:
    """The cancel actions still running, as the status bar says them."""

    def __init__(self) -> None:
        self._running: dict[str, _Running] = {}

    def update(self, progress: ActionProgress, now: float) -> None:
        """An action moved on; one that is done (every order final) leaves."""
        if progress.done >= progress.total or progress.total < MIN_SHOWN:
            self._running.pop(progress.attempt, None)
            return
        wait_until = now + progress.eta_s if progress.eta_s is not None and progress.waiting else None
        running = self._running.get(progress.attempt)
        if running is None:
            running = self._running[progress.attempt] = _Running(progress, wait_until)
        running.progress, running.wait_until = progress, wait_until
        running.sample(now)

    def finished(self, attempt: str) -> None:
        """The action settled (its report is in): forget it whatever its counts said."""
        self._running.pop(attempt, None)

    @property
    def running(self) -> int:
        return len(self._running)

    def text(self, now: float) -> str:
        """e.g. ``Cancelling 4,210 of 10,000 · 5,790 waiting for the rate limit · ~38 s left``."""
        if not self._running:
            return ""
        total = sum(r.progress.total for r in self._running.values())
        done = sum(r.progress.done for r in self._running.values())
        waiting = sum(r.progress.waiting for r in self._running.values())
        head = "Cancelling" if len(self._running) == 1 else f"{len(self._running)} cancels"
        parts = [f"{head}: {done:,} of {total:,} done"]
        if waiting:
            parts.append(f"{waiting:,} waiting for Kraken's rate limit")
        eta = self.eta_s(now)
        if eta is not None:
            parts.append(f"~{span(math.ceil(eta))} left")
        return " · ".join(parts)

    def eta_s(self, now: float) -> float | None:
        """About how long until every running action ends; None while not known."""
        etas: list[float] = []
        for r in self._running.values():
            wait = r.wait_until - now if r.wait_until is not None and r.wait_until > now else None
            pace = r.pace_eta()
            if pace is not None:
                pace -= now - r.samples[-1][0]  # time has passed since the last update
            known = [x for x in (wait, pace) if x is not None]
            if not known:
                return None  # one action's pace is not known yet: no number rather than a wrong one
            etas.append(max(max(known), 0.0))
        return max(etas) if etas else None


class ProgressLabel(QLabel):
    """The status bar's progress line; hidden while nothing runs."""

    def __init__(self, clock: Callable[[], float], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cancel_progress")
        self.progress = CancelProgress()
        self._clock = clock
        self.hide()

    def update_progress(self, progress: ActionProgress) -> None:
        self.progress.update(progress, self._clock())
        self.tick()

    def finished(self, attempt: str) -> None:
        self.progress.finished(attempt)
        self.tick()

    def tick(self) -> None:
        text = self.progress.text(self._clock())
        if text != self.text():
            self.setText(text)
            self.setStyleSheet(theme.text_style("in_flight") + " font-weight: bold;")
        self.setVisible(bool(text))

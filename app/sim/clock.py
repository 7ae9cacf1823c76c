"""The exchange's clocks, shared by every room so a test can swap one for all."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class SimClock:
    """Wall time for order times and timers, monotonic time for rate counters.

    Rooms hold this object, not the functions, so replacing ``wall`` or ``monotonic`` (tests
    freeze them) reaches every room at once.

    Attributes:
        wall: Unix seconds.
        monotonic: Seconds from an arbitrary start, never going back.
    """

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic

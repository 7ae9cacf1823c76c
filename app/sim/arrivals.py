"""The arrivals log: every request as it reached a host, before any processing (for benchmarks)."""

from __future__ import annotations

import time
from collections import deque
from typing import NamedTuple

_ARRIVALS_KEPT = 100_000


class Arrival(NamedTuple):
    """One request as it reached a host, recorded before any processing."""

    t_ns: int
    host: str
    path: str
    account: str | None


class ArrivalLog(deque[Arrival]):
    """The last 100,000 arrivals, oldest first (``/_sim/arrivals`` lists and clears them).

    Rules kept: a host records a request first thing, before latency or faults, so the time
    is when the request reached the simulator; times are ``time.monotonic_ns()``, comparable
    with the client's own in one process or on one machine.
    """

    def __init__(self) -> None:
        """Start empty."""
        super().__init__(maxlen=_ARRIVALS_KEPT)

    def record(self, host: str, path: str, account: str | None) -> None:
        """Note that a request reached a host (call first thing when handling it).

        Args:
            host: Host name (``spot_rest``, ...).
            path: URL path or WS method/event.
            account: Account name if known from the key/token, else None.
        """
        self.append(Arrival(time.monotonic_ns(), host, path, account))

"""Time as the desk reads and spends it: clocks, sleeps and waits, injectable (the real ones by default)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
"""Seconds: ``time.monotonic`` for durations, ``time.time`` for timestamps."""

Sleep = Callable[[float], Awaitable[None]]
"""Wait this many seconds (``asyncio.sleep``)."""

WakeWait = Callable[[asyncio.Event, float], Awaitable[None]]
"""Wait until the event is set or this many seconds passed, whichever is first."""


async def wait_for_wake(wake: asyncio.Event, timeout_s: float) -> None:
    """Return when ``wake`` is set or ``timeout_s`` passed, whichever comes first.

    Args:
        wake: the event that cuts the wait short (the F5 key, a cancel that touched the account).
        timeout_s: the longest wait, in seconds.
    """
    # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancel that lands as the event
    # fires, and the poll loop would outlive its account (docs/DECISIONS.md, "Asyncio").
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await wake.wait()

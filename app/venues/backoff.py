"""Reconnect delays for every socket venue: exponential, capped, with jitter."""

from __future__ import annotations

import random


def jittered_backoff(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect number ``attempt`` (0 for the first).

    The ceiling doubles per failed attempt up to ``cap_s``; the delay is uniform between half the
    ceiling and the ceiling ("equal jitter"), so many consoles that lost Kraken at once do not
    all come back in the same second (Kraken bans an IP for ~150 connects in 10 min, API-FACTS 2.2).

    Args:
        attempt: how many reconnects failed in a row.
        base_s: the first ceiling.
        cap_s: the largest ceiling.
        rng: the jitter source.

    Returns:
        The delay in seconds.
    """
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt, 30))
    return ceiling * rng.uniform(0.5, 1.0)

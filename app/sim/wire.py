"""How the simulator's hosts write times and JSON on the wire, each as the Kraken API it plays writes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def dumps_compact(value: Any) -> str:
    """Serialise JSON without spaces, as Kraken's Spot and Prime servers send it.

    Args:
        value: A JSON-ready value.

    Returns:
        The text.
    """
    return json.dumps(value, separators=(",", ":"))


def rfc3339(ts: float) -> str:
    """Format unix seconds as Kraken's second-precision RFC3339 (``2023-03-24T17:41:56Z``).

    Args:
        ts: Unix seconds.

    Returns:
        The UTC timestamp text.
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_us(ts: float) -> str:
    """Format unix seconds as RFC3339 with microseconds (``2022-12-25T09:30:59.123456Z``).

    Spot WS v2 and Prime write their times this way.

    Args:
        ts: Unix seconds.

    Returns:
        The UTC timestamp text.
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_ms(ts: float) -> str:
    """Kraken Futures' time format, e.g. ``2020-07-22T13:26:20.806Z``.

    Args:
        ts: unix seconds.

    Returns:
        UTC with milliseconds.
    """
    return rfc3339_us(ts)[:-4] + "Z"

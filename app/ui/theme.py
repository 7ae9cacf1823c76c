"""Colours and small formatting helpers shared by the views (one place to change the look)."""

from __future__ import annotations

import time
from decimal import Decimal

from PySide6.QtGui import QColor

from app.core.accounts import LinkState
from app.core.ledger import CancelState
from app.core.orders import Side

SIDE_COLORS: dict[Side, QColor] = {
    Side.BUY: QColor("#1b8a3a"),
    Side.SELL: QColor("#c0392b"),
}

# In flight: amber; proven gone: grey; refused or failed: red; unknown: violet (re-check!).
LEDGER_COLORS: dict[CancelState, QColor] = {
    CancelState.QUEUED: QColor("#b7791f"),
    CancelState.SENT: QColor("#b7791f"),
    CancelState.ACKNOWLEDGED: QColor("#b7791f"),
    CancelState.CANCELLED: QColor("#6b7280"),
    CancelState.ALREADY_GONE: QColor("#6b7280"),
    CancelState.FILLED: QColor("#2563eb"),
    CancelState.REJECTED: QColor("#c0392b"),
    CancelState.FAILED: QColor("#c0392b"),
    CancelState.UNKNOWN: QColor("#7c3aed"),
}

LINK_COLORS: dict[LinkState, QColor] = {
    LinkState.CONNECTING: QColor("#b7791f"),
    LinkState.LIVE: QColor("#1b8a3a"),
    LinkState.POLLING: QColor("#1b8a3a"),
    LinkState.RECONNECTING: QColor("#b7791f"),
    LinkState.DOWN: QColor("#c0392b"),
}

KILL_SWITCH_STYLE = (
    "QToolButton { background: #c0392b; color: white; font-weight: bold; padding: 3px 10px;"
    " border-radius: 3px; } QToolButton:hover { background: #e74c3c; }"
)
BANNER_STYLE = "QLabel { background: #fdecea; color: #8a1c12; padding: 4px 8px; border: 1px solid #f5c2bd; }"


def fmt_decimal(value: Decimal | None) -> str:
    """A Decimal as Kraken sent it, without exponent noise (``1E+1`` -> ``10``)."""
    if value is None:
        return ""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def fmt_age(opened_at: float, now: float | None = None) -> str:
    """Compact age: ``42s``, ``5m 03s``, ``3h 07m``, ``2d 04h``."""
    secs = max(0, int((time.time() if now is None else now) - opened_at))
    if secs < 60:
        return f"{secs}s"
    mins, s = divmod(secs, 60)
    if mins < 60:
        return f"{mins}m {s:02d}s"
    hours, m = divmod(mins, 60)
    if hours < 24:
        return f"{hours}h {m:02d}m"
    days, h = divmod(hours, 24)
    return f"{days}d {h:02d}h"


def fmt_clock(ts: float) -> str:
    """Local wall-clock time with milliseconds, for the activity panel."""
    lt = time.localtime(ts)
    return time.strftime("%H:%M:%S", lt) + f".{int((ts % 1) * 1000):03d}"

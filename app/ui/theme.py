"""Colours, themes (light and dark, every text on its background at WCAG AA) and small formatters.

One place to change the look. The palette in force is ``current()``; ``apply(app, palette)``
puts it on the application (Qt palette and the few style sheets: kill switch, banner, demo
strip). Every text colour is meant for every background it can sit on (``TEXT_PAIRS``), and
``tests/ui/test_theme.py`` measures each pair's contrast: 4.5:1 at least (WCAG 2.x AA, normal
text), whatever the theme.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from app.core.accounts import LinkState
from app.core.ledger import CancelState
from app.core.orders import Side


class ThemeChoice(enum.StrEnum):
    """What the trader picked in View > Theme."""

    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True, slots=True)
class Palette:
    """Every colour the window uses, as ``#rrggbb``.

    Backgrounds: ``window``, ``base`` (table rows), ``alt_base`` (every other row), ``button``,
    ``highlight`` (selected rows), ``tooltip``, ``banner_bg``, ``demo_bg``, ``kill_bg`` (and its
    hover). Everything else is a text colour; ``TEXT_PAIRS`` says which backgrounds it meets.
    """

    name: str
    window: str
    window_text: str
    base: str
    alt_base: str
    text: str
    dim: str  # secondary text: placeholders, proven-gone states, rows leaving the book
    button: str
    button_text: str
    highlight: str
    highlighted_text: str
    tooltip: str
    tooltip_text: str
    link: str
    buy: str
    sell: str
    in_flight: str  # queued, waiting, sent, acknowledged; connecting
    filled: str
    failed: str  # rejected, failed; down; errors
    unknown: str  # re-check!
    good: str  # live links, armed switch
    kill_bg: str
    kill_hover: str
    kill_text: str
    banner_bg: str
    banner_text: str
    demo_bg: str
    demo_text: str
    mid: str = "#a7b0bc"  # lines: the pinned columns' edge, frames (not text)
    flash: str = "#e4dcff"  # a row flashing after a fill or a failed cancel (lavender: yellow is the demo's)


LIGHT = Palette(
    name="light",
    window="#eef0f3",
    window_text="#14181f",
    base="#ffffff",
    alt_base="#f2f5f9",
    text="#14181f",
    dim="#555e6b",
    button="#e3e7ec",
    button_text="#14181f",
    highlight="#1f55c4",
    highlighted_text="#ffffff",
    tooltip="#ffffdc",
    tooltip_text="#14181f",
    link="#1f55c4",
    buy="#0f6b34",
    sell="#b3261e",
    in_flight="#8a5000",
    filled="#1f55c4",
    failed="#b3261e",
    unknown="#6b2fc9",
    good="#0f6b34",
    kill_bg="#b3261e",
    kill_hover="#8c1d17",
    kill_text="#ffffff",
    banner_bg="#fde8e6",
    banner_text="#7a1710",
    demo_bg="#ffd43b",
    demo_text="#1a1300",
)

DARK = Palette(
    name="dark",
    window="#1c1f24",
    window_text="#e6e9ee",
    base="#14171b",
    alt_base="#1d2126",
    text="#e6e9ee",
    dim="#a3acb8",
    button="#2a2f36",
    button_text="#e6e9ee",
    highlight="#2d5fbf",
    highlighted_text="#ffffff",
    tooltip="#2a2f36",
    tooltip_text="#e6e9ee",
    link="#8ab4ff",
    buy="#5ad68a",
    sell="#ff8a80",
    in_flight="#f2b84b",
    filled="#8ab4ff",
    failed="#ff8a80",
    unknown="#c9a7ff",
    good="#5ad68a",
    kill_bg="#c62828",
    kill_hover="#a51f1f",
    kill_text="#ffffff",
    banner_bg="#3d1512",
    banner_text="#ffc2bb",
    demo_bg="#ffd43b",
    demo_text="#1a1300",
    mid="#5a636f",
    flash="#362c5c",
)

PALETTES = {p.name: p for p in (LIGHT, DARK)}

_ROW_BACKGROUNDS = ("base", "alt_base")
_ROW_TEXTS = ("text", "dim", "link", "buy", "sell", "in_flight", "filled", "failed", "unknown", "good")
TEXT_PAIRS: tuple[tuple[str, str], ...] = (
    *((fg, bg) for fg in _ROW_TEXTS for bg in (*_ROW_BACKGROUNDS, "window", "flash")),
    ("window_text", "window"),
    ("button_text", "button"),
    ("highlighted_text", "highlight"),
    ("tooltip_text", "tooltip"),
    ("kill_text", "kill_bg"),
    ("kill_text", "kill_hover"),
    ("banner_text", "banner_bg"),
    ("demo_text", "demo_bg"),
)
"""(text, background) pairs that meet on screen: each must reach ``MIN_CONTRAST``."""

MIN_CONTRAST = 4.5


def relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""
    rgb = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    """WCAG 2.x contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    a, b = relative_luminance(fg), relative_luminance(bg)
    hi, lo = max(a, b), min(a, b)
    return (hi + 0.05) / (lo + 0.05)


# --- the palette in force ----------------------------------------------------------------------

_current: Palette = LIGHT
_qcolors: dict[str, QColor] = {}


def current() -> Palette:
    """The palette the window is painted with."""
    return _current


def qcolor(name: str) -> QColor:
    """The current palette's colour ``name`` (a ``Palette`` field) as a cached QColor."""
    found = _qcolors.get(name)
    if found is None:
        found = _qcolors[name] = QColor(getattr(_current, name))
    return found


def side_color(side: Side) -> QColor:
    """Buy green, sell red."""
    return qcolor("buy" if side is Side.BUY else "sell")


_STATE_COLOR = {
    CancelState.QUEUED: "in_flight",
    CancelState.WAITING: "in_flight",
    CancelState.SENT: "in_flight",
    CancelState.ACKNOWLEDGED: "in_flight",
    CancelState.CANCELLED: "dim",
    CancelState.ALREADY_GONE: "dim",
    CancelState.FILLED: "filled",
    CancelState.REJECTED: "failed",
    CancelState.FAILED: "failed",
    CancelState.UNKNOWN: "unknown",
}
_LINK_COLOR = {
    LinkState.CONNECTING: "in_flight",
    LinkState.LIVE: "good",
    LinkState.POLLING: "good",
    LinkState.RECONNECTING: "in_flight",
    LinkState.DOWN: "failed",
}


def ledger_color(state: CancelState) -> QColor:
    """In flight amber, proven gone grey, filled blue, refused or failed red, unknown violet."""
    return qcolor(_STATE_COLOR[state])


def link_color(state: LinkState) -> QColor:
    """Live green, connecting amber, down red."""
    return qcolor(_LINK_COLOR.get(state, "failed"))


def system_prefers_dark() -> bool:
    """Whether the desktop asks for a dark theme (Qt's colour scheme; False when it cannot tell)."""
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def palette_for(choice: ThemeChoice) -> Palette:
    """The palette a choice means now (``system`` follows the desktop)."""
    if choice is ThemeChoice.DARK or (choice is ThemeChoice.SYSTEM and system_prefers_dark()):
        return DARK
    return LIGHT


def kill_switch_style(p: Palette | None = None) -> str:
    """The kill switch's tool button: red, bold, white text; unmistakable in either theme."""
    p = p or _current
    return (
        f"QToolButton {{ background: {p.kill_bg}; color: {p.kill_text}; font-weight: bold;"
        f" padding: 3px 12px; border: 2px solid {p.kill_hover}; border-radius: 3px; }}"
        f" QToolButton:hover, QToolButton:focus {{ background: {p.kill_hover}; }}"
    )


def danger_button_style(p: Palette | None = None) -> str:
    """A confirmation's "cancel everything" button, in every state (default, focus, hover).

    Only a full rule keeps Fusion from blending its own default-button frame into the colour
    (white on a washed-out red read as disabled: 2.9:1).
    """
    p = p or _current
    return (
        f"QPushButton {{ background: {p.kill_bg}; color: {p.kill_text}; font-weight: bold;"
        f" border: 2px solid {p.kill_hover}; border-radius: 3px; padding: 4px 14px; }}"
        f" QPushButton:hover, QPushButton:focus, QPushButton:default {{ background: {p.kill_bg};"
        f" border-color: {p.text}; }} QPushButton:pressed {{ background: {p.kill_hover}; }}"
    )


def banner_style(p: Palette | None = None) -> str:
    """The outage banner above the table."""
    p = p or _current
    return (
        f"QLabel {{ background: {p.banner_bg}; color: {p.banner_text}; padding: 4px 8px;"
        f" border: 1px solid {p.banner_text}; }}"
    )


def demo_strip_style(p: Palette | None = None) -> str:
    """The demo / simulator strip: yellow and bold, in both themes."""
    p = p or _current
    return (
        f"QLabel {{ background: {p.demo_bg}; color: {p.demo_text}; font-weight: bold;"
        f" padding: 4px 10px; border-bottom: 2px solid {p.demo_text}; }}"
    )


def text_style(name: str) -> str:
    """A style sheet colouring a label's text with palette colour ``name`` ("" for plain)."""
    return f"color: {getattr(_current, name)};" if name else ""


def qpalette(p: Palette) -> QPalette:
    """The Qt palette of ``p`` (active, inactive and disabled groups)."""
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: p.window,
        QPalette.ColorRole.WindowText: p.window_text,
        QPalette.ColorRole.Base: p.base,
        QPalette.ColorRole.AlternateBase: p.alt_base,
        QPalette.ColorRole.Text: p.text,
        QPalette.ColorRole.Button: p.button,
        QPalette.ColorRole.ButtonText: p.button_text,
        QPalette.ColorRole.Highlight: p.highlight,
        QPalette.ColorRole.HighlightedText: p.highlighted_text,
        QPalette.ColorRole.ToolTipBase: p.tooltip,
        QPalette.ColorRole.ToolTipText: p.tooltip_text,
        QPalette.ColorRole.Link: p.link,
        QPalette.ColorRole.PlaceholderText: p.dim,
        QPalette.ColorRole.BrightText: p.kill_text,
        QPalette.ColorRole.Mid: p.mid,
    }
    for role, color in roles.items():
        pal.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(p.dim))
    # A selection in a window that lost focus stays as legible as in the active one.
    pal.setColor(QPalette.ColorGroup.Inactive, QPalette.ColorRole.Highlight, QColor(p.highlight))
    pal.setColor(QPalette.ColorGroup.Inactive, QPalette.ColorRole.HighlightedText, QColor(p.highlighted_text))
    return pal


def apply(app: QApplication, p: Palette) -> None:
    """Paint the whole application with ``p`` (Fusion style, which honours every palette role)."""
    global _current
    _current = p
    _qcolors.clear()
    if app.style().name().lower() != "fusion":
        fusion = QStyleFactory.create("Fusion")
        if fusion is not None:
            app.setStyle(fusion)
    app.setPalette(qpalette(p))


def palette_names() -> list[str]:
    """Every colour name of a palette."""
    return [f.name for f in fields(Palette) if f.name not in ("name", "mid")]


# --- formatting (kept here since the views share it) -------------------------------------------


def fmt_decimal(value: Decimal | None) -> str:
    """A Decimal as Kraken sent it, without exponent noise (``1E+1`` -> ``10``)."""
    if value is None:
        return ""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def fmt_number(value: Decimal | None, decimals: int) -> str:
    """A number with thousands separators and at least ``decimals`` digits after the point.

    Never drops a digit the venue sent: a value written with more decimals keeps them.
    """
    if value is None:
        return ""
    if not value.is_finite():
        return str(value)
    exponent = value.as_tuple().exponent
    own = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{value:,.{max(decimals, own)}f}"


def fmt_amount(value: Decimal | None, decimals: int) -> str:
    """A computed amount (a notional) rounded to ``decimals``, with thousands separators."""
    if value is None:
        return ""
    return f"{value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):,f}"


def fmt_pct(pct: float) -> str:
    """A share filled: ``""`` for none, ``0.4%``, ``33.3%``, ``100%``."""
    if pct <= 0:
        return ""
    if pct >= 100:
        return "100%"
    return f"{pct:.1f}%"


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


def fmt_time(ts: float) -> str:
    """Local wall-clock time to the second (status bar)."""
    return time.strftime("%H:%M:%S", time.localtime(ts))

"""Themes: every text on every background it meets reaches WCAG AA (4.5:1), in light and dark."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.core.accounts import LinkState
from app.core.ledger import CancelState
from app.core.orders import Side
from app.ui import theme


@pytest.mark.parametrize("palette", [theme.LIGHT, theme.DARK], ids=lambda p: p.name)
@pytest.mark.parametrize("pair", theme.TEXT_PAIRS, ids=lambda p: f"{p[0]}-on-{p[1]}")
def test_every_text_background_pair_reaches_aa(palette: theme.Palette, pair: tuple[str, str]) -> None:
    fg, bg = pair
    ratio = theme.contrast(getattr(palette, fg), getattr(palette, bg))
    assert ratio >= theme.MIN_CONTRAST, f"{palette.name}: {fg} on {bg} is {ratio:.2f}:1"


def test_the_pairs_cover_every_text_colour() -> None:
    backgrounds = {"window", "base", "alt_base", "button", "highlight", "tooltip", "banner_bg", "demo_bg"}
    backgrounds |= {"kill_bg", "kill_hover", "flash"}
    texts = set(theme.palette_names()) - backgrounds
    assert texts <= {fg for fg, _bg in theme.TEXT_PAIRS}


def test_contrast_formula_against_wcag_examples() -> None:
    assert theme.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert theme.contrast("#ffffff", "#e57874") == pytest.approx(2.89, abs=0.01)  # the old confirm button
    assert theme.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_applying_a_theme_paints_the_application(qapp: QApplication) -> None:
    try:
        theme.apply(qapp, theme.DARK)
        pal = qapp.palette()
        assert pal.color(QPalette.ColorRole.Base).name() == theme.DARK.base
        assert pal.color(QPalette.ColorRole.Text).name() == theme.DARK.text
        assert pal.color(QPalette.ColorRole.HighlightedText).name() == theme.DARK.highlighted_text
        assert theme.side_color(Side.BUY).name() == theme.DARK.buy
        assert theme.ledger_color(CancelState.UNKNOWN).name() == theme.DARK.unknown
        assert theme.link_color(LinkState.DOWN).name() == theme.DARK.failed
        assert theme.DARK.kill_bg in theme.kill_switch_style()
        assert qapp.style().name().lower() == "fusion"
    finally:
        theme.apply(qapp, theme.LIGHT)
    assert theme.side_color(Side.SELL).name() == theme.LIGHT.sell


def test_system_choice_follows_the_desktop(qapp: QApplication) -> None:
    expected = theme.DARK if theme.system_prefers_dark() else theme.LIGHT
    assert theme.palette_for(theme.ThemeChoice.SYSTEM) is expected
    assert theme.palette_for(theme.ThemeChoice.DARK) is theme.DARK


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        ("64250.5", 1, "64,250.5"),
        ("64250.5", 2, "64,250.50"),
        ("0.000123", 2, "0.000123"),
        ("1234567", 0, "1,234,567"),
    ],
)
def test_numbers_keep_every_digit_sent(value: str, decimals: int, text: str) -> None:
    from decimal import Decimal

    assert theme.fmt_number(Decimal(value), decimals) == text

"""One market name across venues, and decimals as written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.core.instruments import Instrument, MarketKind, asset_name, decimals_of, guess_instrument
from app.core.orders import VenueKind


@pytest.mark.parametrize(
    ("code", "name"),
    [("XXBT", "BTC"), ("XBT", "BTC"), ("ZUSD", "USD"), ("xeth", "ETH"), ("XXDG", "DOGE"), ("SOL", "SOL")],
)
def test_asset_names(code: str, name: str) -> None:
    assert asset_name(code) == name


@pytest.mark.parametrize(
    ("venue", "symbol", "display"),
    [
        (VenueKind.SPOT, "XBT/USD", "BTC/USD"),  # WS v1
        (VenueKind.SPOT, "XBTUSD", "BTC/USD"),  # REST altname
        (VenueKind.SPOT, "BTC/USD", "BTC/USD"),  # WS v2
        (VenueKind.SPOT, "XBTUSDT", "BTC/USDT"),  # the longest quote wins
        (VenueKind.PRIME, "BTC-USD", "BTC/USD"),
        (VenueKind.PRIME, "ETH-BTC", "ETH/BTC"),
        (VenueKind.FUTURES, "PF_XBTUSD", "BTC/USD perp"),
        (VenueKind.FUTURES, "PI_ETHUSD", "ETH/USD inverse perp"),
        (VenueKind.FUTURES, "FI_XBTUSD_240628", "BTC/USD 28 Jun 24"),
        (VenueKind.SPOT, "WEIRD", "WEIRD"),  # cannot split: the name as given
    ],
)
def test_one_name_across_venues(venue: VenueKind, symbol: str, display: str) -> None:
    inst = guess_instrument(venue, symbol)
    assert inst.display == display
    assert inst.guessed and inst.symbol == symbol


def test_futures_kinds() -> None:
    assert guess_instrument(VenueKind.FUTURES, "PF_XBTUSD").kind is MarketKind.PERPETUAL
    assert guess_instrument(VenueKind.FUTURES, "PI_XBTUSD").inverse
    assert guess_instrument(VenueKind.FUTURES, "FF_XBTUSD_240628").kind is MarketKind.FUTURE


def test_decimals_as_written() -> None:
    assert decimals_of(Decimal("64250.0")) == 1
    assert decimals_of(Decimal("0.00012000")) == 8
    assert decimals_of(Decimal("1E+1")) == 0
    assert decimals_of(None) == 0


def test_display_of_loaded_instrument() -> None:
    inst = Instrument(VenueKind.SPOT, "XBT/USD", "BTC", "USD", price_decimals=1, size_decimals=8)
    assert inst.display == "BTC/USD" and not inst.guessed

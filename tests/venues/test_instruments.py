"""Public instrument data per venue family: AssetPairs and Futures instruments, parsed and fetched
from the simulator (which writes them as Kraken's schemas and examples do)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.core.errors import VenueError
from app.core.instruments import MarketKind
from app.core.orders import VenueKind
from app.venues.futures.instruments import fetch_instruments, parse_instruments
from app.venues.spot.instruments import fetch_asset_pairs, parse_asset_pairs
from tests.helpers.sim import Sim


def test_asset_pairs_give_names_aliases_and_decimals() -> None:
    # Kraken's own example entry (krakenfx/api-specs pairs.yaml), trimmed.
    result = {
        "XXBTZUSD": {
            "altname": "XBTUSD",
            "wsname": "XBT/USD",
            "base": "XXBT",
            "quote": "ZUSD",
            "pair_decimals": 1,
            "lot_decimals": 8,
        },
        "SOLUSD": {
            "altname": "SOLUSD",
            "base": "SOL",
            "quote": "ZUSD",
            "pair_decimals": 2,
            "lot_decimals": 8,
        },
        "bad": "not an object",
    }
    xbt, sol = parse_asset_pairs(result)
    assert (xbt.symbol, xbt.display, xbt.price_decimals, xbt.size_decimals) == ("XBT/USD", "BTC/USD", 1, 8)
    assert set(xbt.aliases) == {"XXBTZUSD", "XBTUSD", "BTC/USD"}
    assert (sol.symbol, sol.display, sol.price_decimals) == ("SOLUSD", "SOL/USD", 2)
    assert xbt.venue is VenueKind.SPOT


def test_futures_instruments_give_kind_tick_and_precision() -> None:
    data = {
        "result": "success",
        "instruments": [
            {
                "symbol": "PF_XBTUSD",
                "type": "flexible_futures",
                "base": "XBT",
                "quote": "USD",
                "tickSize": 0.5,
                "contractValueTradePrecision": 4,
                "contractSize": 1,
            },
            {
                "symbol": "FI_XBTUSD_240628",
                "type": "futures_inverse",
                "pair": "XBT:USD",
                "tickSize": 0.5,
                "contractValueTradePrecision": 0,
                "contractSize": 1,
                "lastTradingTime": "2024-06-28T16:00:00.000Z",
            },
            {"type": "no symbol"},
        ],
    }
    perp, dated = parse_instruments(data)
    assert (perp.display, perp.price_decimals, perp.size_decimals) == ("BTC/USD perp", 1, 4)
    assert perp.kind is MarketKind.PERPETUAL and not perp.inverse
    assert dated.kind is MarketKind.FUTURE and dated.inverse
    assert dated.display == "BTC/USD 28 Jun 24"
    assert dated.contract_size == Decimal(1)


async def test_fetch_both_from_the_simulator(sim: Sim) -> None:
    spot = await fetch_asset_pairs(sim.endpoints["spot_rest"])
    by_symbol = {i.symbol: i for i in spot}
    assert by_symbol["XBT/USD"].price_decimals == 1
    assert by_symbol["ADA/USD"].price_decimals == 6
    assert "XBTUSD" in by_symbol["XBT/USD"].aliases
    futures = await fetch_instruments(sim.endpoints["futures_rest"] + "/derivatives/api/v3")
    assert {i.symbol: i.size_decimals for i in futures}["PF_XBTUSD"] == 4
    assert all(i.kind is MarketKind.PERPETUAL for i in futures)


async def test_a_host_that_is_down_is_a_venue_error() -> None:
    with pytest.raises(VenueError):
        await fetch_asset_pairs("http://127.0.0.1:9")

"""One vocabulary for every venue: types, statuses, flags, notional."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from app.core.instruments import Instrument, MarketKind, guess_instrument
from app.core.orders import Order, VenueKind
from app.desk.orderfacts import facts_of, flags, order_status, order_type
from tests.helpers.fakes import make_order


def order(venue: VenueKind = VenueKind.SPOT, **changes: object) -> Order:
    return dataclasses.replace(make_order(1), venue=venue, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("venue", "raw", "limit", "word"),
    [
        (VenueKind.SPOT, "stop-loss-limit", Decimal(1), "stop-loss-limit"),
        (VenueKind.SPOT, "take_profit_limit", Decimal(1), "take-profit-limit"),
        (VenueKind.FUTURES, "lmt", Decimal(1), "limit"),
        (VenueKind.FUTURES, "post", Decimal(1), "limit"),
        (VenueKind.FUTURES, "stop", Decimal(1), "stop-loss-limit"),
        (VenueKind.FUTURES, "stp", None, "stop-loss"),
        (VenueKind.FUTURES, "take_profit", None, "take-profit"),
        (VenueKind.PRIME, "stoplimit", Decimal(1), "stop-loss-limit"),
        (VenueKind.PRIME, "stop", None, "stop-loss"),
        (VenueKind.PRIME, "limit", Decimal(1), "limit"),
    ],
)
def test_types_in_one_vocabulary(venue: VenueKind, raw: str, limit: Decimal | None, word: str) -> None:
    assert order_type(order(venue, order_type=raw, price=limit)) == word


@pytest.mark.parametrize(
    ("raw", "filled", "triggered", "word"),
    [
        ("open", "0", None, "new"),
        ("untouched", "0", None, "new"),
        ("pending_new", "0", None, "pending"),
        ("pending", "0", None, "pending"),
        ("partially_filled", "0.5", None, "partially filled"),
        ("new", "0", True, "triggered"),
        ("pending cancel", "0.5", None, "pending cancel"),
    ],
)
def test_statuses_in_one_vocabulary(raw: str, filled: str, triggered: bool | None, word: str) -> None:
    assert order_status(order(status=raw, filled=Decimal(filled), triggered=triggered)) == word


def test_flags_from_the_fields_or_the_futures_post_type() -> None:
    assert flags(order(post_only=True, reduce_only=True)) == ("post-only", "reduce-only")
    assert flags(order(VenueKind.FUTURES, order_type="post")) == ("post-only",)
    assert flags(order()) == ()


def test_notional_pct_and_precision() -> None:
    o = order(price=Decimal("64250.5"), quantity=Decimal("2"), filled=Decimal("0.5"))
    inst = Instrument(VenueKind.SPOT, "XBT/USD", "BTC", "USD", price_decimals=1, size_decimals=8)
    f = facts_of(o, inst)
    assert f.notional == Decimal("64250.5") * Decimal("1.5")
    assert f.pct_filled == 25.0
    assert (f.symbol, f.quote, f.notional_decimals, f.price_decimals) == ("BTC/USD", "USD", 2, 1)


def test_notional_from_the_trigger_when_there_is_no_limit_and_none_for_market() -> None:
    inst = guess_instrument(VenueKind.SPOT, "XBT/USD")
    stop = order(order_type="stop-loss", price=None, stop_price=Decimal("100"), quantity=Decimal("3"))
    assert facts_of(stop, inst).notional == Decimal(300)
    market = order(order_type="market", price=None)
    assert facts_of(market, inst).notional is None


def test_inverse_contracts_count_quote_currency() -> None:
    inst = Instrument(VenueKind.FUTURES, "PI_XBTUSD", "BTC", "USD", MarketKind.PERPETUAL, inverse=True)
    o = order(VenueKind.FUTURES, symbol="PI_XBTUSD", price=Decimal("60000"), quantity=Decimal("5000"))
    assert facts_of(o, inst).notional == Decimal(5000)
    eth_btc = guess_instrument(VenueKind.PRIME, "ETH-BTC")
    assert (
        facts_of(
            order(VenueKind.PRIME, symbol="ETH-BTC", price=Decimal("0.04905")), eth_btc
        ).notional_decimals
        == 2
    )

"""The rate-limit models: Spot's per-pair trading counter, the REST call counter (API-FACTS 7)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.core.orders import Order, Side, VenueKind
from app.core.ratelimits import (
    SPOT_TIERS,
    CallCounter,
    DecayingCounter,
    SpotTradingCounters,
    pair_key,
    spot_cancel_cost,
    spot_tier_for,
)

NOW = 1_700_000_000.0


def order(age_s: float, symbol: str = "BTC/USD") -> Order:
    return Order(
        "s",
        VenueKind.SPOT,
        f"O{age_s}",
        symbol,
        Side.BUY,
        "limit",
        Decimal(1),
        Decimal(1),
        Decimal(0),
        NOW - age_s,
    )


@pytest.mark.parametrize(
    ("age", "cost"),
    [
        (0, 8),
        (4.9, 8),
        (5, 6),
        (9.9, 6),
        (10, 5),
        (14, 5),
        (15, 4),
        (44, 4),
        (45, 2),
        (89, 2),
        (90, 1),
        (299, 1),
        (300, 0),
        (10_000, 0),
    ],
)
def test_cancel_cost_by_how_long_the_order_rested(age: float, cost: int) -> None:
    assert spot_cancel_cost(age) == cost


def test_pairs_are_one_name_whatever_the_transport_spells_them() -> None:
    assert pair_key("XBTUSD") == pair_key("XBT/USD") == pair_key("BTC/USD") == "BTCUSD"
    assert pair_key("ETH/XBT") == "ETHBTC"


def test_tiers_from_kraken_s_maxratecount() -> None:
    assert spot_tier_for(None).name == "starter"
    assert spot_tier_for(125).name == "intermediate" and spot_tier_for(180).name == "pro"


def test_decaying_counter() -> None:
    c = DecayingCounter(2.0)
    c.add(10, now=0)
    assert c.value(2) == 6 and c.value(100) == 0
    assert c.seconds_until(4, now=2) == pytest.approx(1.0) and c.seconds_until(8, now=2) == 0


def test_a_single_waits_until_it_fits_and_a_batch_may_overflow_once() -> None:
    counters = SpotTradingCounters(SPOT_TIERS["starter"])  # threshold 60, decay 1/s
    young = [order(1) for _ in range(50)]
    costs = counters.costs(young, NOW)
    assert costs == {"BTCUSD": 400}
    assert counters.wait_s(costs, 0.0, batch=True) == 0  # below the threshold: it may overflow
    counters.charge(costs, 0.0)
    assert counters.level("BTCUSD", 0.0) == 400
    # The next batch waits until the pair is back under the threshold: (400 - 59) / 1 s.
    assert counters.wait_s(costs, 0.0, batch=True) == pytest.approx(341)
    one = counters.costs([order(1)], NOW)
    assert counters.wait_s(one, 0.0, batch=False) == pytest.approx(348)  # 400 + 8 <= 60
    # Old orders cost nothing and never wait; another pair has its own counter.
    assert counters.wait_s(counters.costs([order(400)], NOW), 0.0, batch=False) == 0
    assert counters.wait_s(counters.costs([order(1, "ETH/USD")], NOW), 0.0, batch=False) == 0


def test_kraken_s_word_beats_the_estimate() -> None:
    counters = SpotTradingCounters()
    counters.charge({"BTCUSD": 400}, now=0.0)  # an overflowing batch, charged as it left...
    counters.refused({"BTCUSD": 400}, now=0.0)  # ...and refused: Kraken charged nothing for it
    assert counters.level("BTCUSD", 0.0) == 60  # but the pair is at its threshold
    counters.observe("BTCUSD", 12, now=0.0)
    assert counters.level("BTCUSD", 0.0) == 12
    counters.set_tier(SPOT_TIERS["pro"])
    assert counters.tier.trading_threshold == 180 and counters.level("BTCUSD", 0.0) == 0


def test_call_counter_keeps_a_slice_for_the_emergency_lane() -> None:
    calls = CallCounter(15, 0.33, reserve=3)
    for _ in range(12):
        assert calls.wait_s(1, 0.0) == 0
        calls.charge(1, 0.0)
    assert calls.wait_s(1, 0.0) > 0  # ordinary calls stop at 12
    assert calls.wait_s(1, 0.0, urgent=True) == 0  # the kill switch still goes
    calls.refused(0.0)
    assert calls.level(0.0) == 15 and calls.wait_s(1, 0.0, urgent=True) == pytest.approx(1 / 0.33)

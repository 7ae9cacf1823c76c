"""The shared exchange state: orders, events, dead man's switch, tokens, rate limits, demo data."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import uuid

import pytest

from app.sim import ids
from app.sim.state import (
    SPOT_TIERS,
    DecayingCounter,
    Exchange,
    MarketActivity,
    OrderEvent,
    OrderRejected,
    spot_cancel_cost,
    spot_instrument,
)

TXID = re.compile(r"^O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}$")


class FakeClock:
    """A hand-driven clock for both wall and monotonic time."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ex(clock: FakeClock) -> Exchange:
    exchange = Exchange(seed=3, clock=clock, monotonic=clock)
    exchange.add_account("spot", "spot")
    exchange.add_account("fut", "futures")
    return exchange


def limit(ex: Exchange, **kw: object) -> str:
    args: dict[str, object] = {"symbol": "XBT/USD", "side": "buy", "order_type": "limit"}
    args.update({"qty": "1", "price": "30000"})
    args.update(kw)
    return ex.add_order("spot", **args).order_id  # type: ignore[arg-type]


def test_ids_have_kraken_shapes() -> None:
    rng = random.Random(1)
    txids = {ids.new_spot_txid(rng) for _ in range(200)}
    assert len(txids) == 200 and all(TXID.match(t) for t in txids)
    assert ids.is_spot_txid("OQCLML-BW3P3-BUCMWZ") and not ids.is_spot_txid("OQCLML-BW3P3-BUCMW")
    assert uuid.UUID(ids.new_uuid(rng)).version == 4
    assert len(ids.new_ws_token(rng)) >= 30


def test_accounts_are_reproducible_from_the_seed() -> None:
    a, b = Exchange(seed=11), Exchange(seed=11)
    a.add_account("other", "spot")  # creation order does not change anyone's keys
    for ex in (a, b):
        ex.add_account("spot", "spot")
        ex.add_account("prime", "prime")
    assert a.account("spot").api_key == b.account("spot").api_key
    assert a.account("spot").secret == b.account("spot").secret
    assert Exchange(seed=12).add_account("spot", "spot").secret != a.account("spot").secret
    secret = a.account("spot").secret
    assert len(secret) == 88 and len(base64.b64decode(secret, validate=True)) == 64
    prime = a.account("prime").secret
    assert prime.isascii() and prime.isalnum()
    assert a.account("spot").permissions == {"query", "cancel", "trade", "websocket"}
    assert a.account_by_key(a.account("spot").api_key) is a.account("spot")
    with pytest.raises(ValueError):
        a.add_account("spot", "spot")
    with pytest.raises(ValueError):
        a.add_account("x", "spot", permissions={"withdraw"})


def test_add_order_formats_numbers_and_ids(ex: Exchange, clock: FakeClock) -> None:
    order = ex.add_order("spot", "XBT/USD", "buy", "limit", "1.25", "37500", userref=7)
    assert TXID.match(order.order_id)
    assert (order.qty, order.price, order.filled) == ("1.25000000", "37500.0", "0.00000000")
    assert order.opened_at == clock.now and order.status == "open"
    fut = ex.add_order("fut", "PF_XBTUSD", "sell", "limit", "0.5", "70000", reduce_only=True)
    assert uuid.UUID(fut.order_id).version == 4 and fut.reduce_only


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"side": "hold"}, "type"),
        ({"order_type": "iceberg"}, "ordertype"),
        ({"qty": "0"}, "volume"),
        ({"qty": "abc"}, "volume"),
        ({"order_type": "stop-loss", "price": "0"}, "price"),
    ],
)
def test_add_order_rejects_bad_fields(ex: Exchange, kw: dict[str, object], field: str) -> None:
    with pytest.raises(OrderRejected) as info:
        limit(ex, **kw)
    assert info.value.field_name == field


def test_cl_ord_id_is_unique_among_open_orders_only(ex: Exchange) -> None:
    first = limit(ex, cl_ord_id="grid-1")
    with pytest.raises(OrderRejected):
        limit(ex, cl_ord_id="grid-1")
    assert ex.cancel_by_cl_ord_id("spot", "grid-1") is not None
    assert limit(ex, cl_ord_id="grid-1") != first


def test_cancel_paths(ex: Exchange) -> None:
    a, b, c = limit(ex, userref=5), limit(ex, userref=5), limit(ex, userref=6)
    d = limit(ex, cl_ord_id="x1", symbol="ETH/USD")
    e = limit(ex, symbol="ETH/USD")
    assert {o.order_id for o in ex.cancel_by_userref("spot", 5)} == {a, b}
    assert ex.cancel("spot", a) is None  # no longer open
    assert ex.cancel("spot", "OAAAAA-BBBBB-CCCCCC") is None  # unknown
    cancelled = ex.cancel_by_cl_ord_id("spot", "x1")
    assert cancelled is not None and cancelled.order_id == d
    assert [o.order_id for o in ex.cancel_all("spot", symbol="ETH/USD")] == [e]
    assert [o.order_id for o in ex.cancel_all("spot")] == [c]
    assert ex.open_orders("spot") == []
    closed = ex.get_order("spot", a)
    assert closed is not None and closed.status == "canceled"
    assert closed.cancel_reason == "User requested" and closed.closed_at is not None


def test_find_open_resolves_mixed_refs_once(ex: Exchange) -> None:
    a, b = limit(ex, userref=9), limit(ex, cl_ord_id="c-1")
    found = ex.find_open(
        "spot", order_ids=[a, a, "OZZZZZ-ZZZZZ-ZZZZZZ"], userrefs=[9], cl_ord_ids=["c-1", "nope"]
    )
    assert [o.order_id for o in found] == [a, b]


def test_fill_partial_then_full(ex: Exchange) -> None:
    oid = limit(ex, qty="2")
    order = ex.fill("spot", oid, "0.5")
    assert order is not None and order.status == "open" and order.filled == "0.50000000"
    assert ex.open_count("spot") == 1
    order = ex.fill("spot", oid)
    assert order is not None and order.status == "closed" and order.filled == "2.00000000"
    assert ex.open_count("spot") == 0 and ex.fill("spot", oid) is None
    assert ex.get_order("spot", oid) is order


def test_events_carry_snapshots_and_reasons(ex: Exchange) -> None:
    seen: list[OrderEvent] = []
    everyone: list[OrderEvent] = []
    unsubscribe = ex.subscribe("spot", seen.append)
    ex.subscribe(None, everyone.append)
    oid = limit(ex, qty="1")
    ex.fill("spot", oid, "0.25")
    ex.amend("spot", oid, price="31000")
    ex.cancel("spot", oid)
    ex.add_order("fut", "PF_XBTUSD", "buy", "limit", "1", "60000")
    assert [e.kind for e in seen] == ["new", "fill", "update", "canceled"]
    assert seen[1].last_qty == "0.25000000" and seen[1].reason == "partial_fill"
    assert seen[0].order.status == "open" and seen[3].order.status == "canceled"
    assert seen[3].reason == "User requested"
    assert seen[0].order is not ex.get_order("spot", oid)  # a snapshot, not the live object
    assert len(everyone) == 5
    unsubscribe()
    unsubscribe()
    limit(ex)
    assert len(seen) == 4


def test_a_failing_subscriber_does_not_break_the_exchange(ex: Exchange) -> None:
    def boom(event: OrderEvent) -> None:
        raise RuntimeError("subscriber bug")

    got: list[str] = []
    ex.subscribe("spot", boom)
    ex.subscribe("spot", lambda e: got.append(e.kind))
    limit(ex)
    assert got == ["new"]


async def test_dead_man_switch_fires_once_then_disarms() -> None:
    ex = Exchange(seed=1)
    ex.add_account("spot", "spot")
    oids = [limit(ex) for _ in range(3)]
    reasons: list[str | None] = []
    ex.subscribe("spot", lambda e: reasons.append(e.reason))
    now, trigger = ex.arm_deadman("spot", 0.05)
    assert trigger == pytest.approx(now + 0.05)
    assert ex.deadman_trigger_time("spot") == trigger
    for _ in range(100):
        if not ex.open_orders("spot"):
            break
        await asyncio.sleep(0.01)
    assert ex.open_orders("spot") == []
    assert all(ex.get_order("spot", o).cancel_reason == "dead_man_switch" for o in oids)  # type: ignore[union-attr]
    assert reasons[-3:] == ["dead_man_switch"] * 3
    assert ex.deadman_trigger_time("spot") is None


async def test_dead_man_switch_disarm_and_extend() -> None:
    ex = Exchange(seed=1)
    ex.add_account("spot", "spot")
    limit(ex)
    ex.arm_deadman("spot", 0.03)
    assert ex.arm_deadman("spot", 0)[1] == 0.0
    ex.arm_deadman("spot", 0.03)
    ex.arm_deadman("spot", 60)  # extending replaces the short timer
    await asyncio.sleep(0.08)
    assert ex.open_count("spot") == 1
    ex.close()
    assert ex.deadman_trigger_time("spot") is None


def test_ws_tokens_expire_unless_used_and_can_be_invalidated(ex: Exchange, clock: FakeClock) -> None:
    t1, t2 = ex.issue_token("spot"), ex.issue_token("spot")
    assert t1.token != t2.token
    assert ex.validate_token(t1.token) == "spot"
    ex.mark_token_used(t1.token)
    clock.now += 901
    assert ex.validate_token(t1.token) == "spot"  # used by a subscription: no expiry
    assert ex.validate_token(t2.token) is None
    assert ex.validate_token("nope") is None
    assert ex.invalidate_tokens("spot") == 2
    assert ex.validate_token(t1.token) is None


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
def test_cancel_cost_by_order_age(age: float, cost: int) -> None:
    assert spot_cancel_cost(age) == cost


def test_decaying_counter() -> None:
    counter = DecayingCounter(2.0)
    assert counter.add(10, now=100.0) == 10
    assert counter.value(102.0) == 6
    assert counter.value(200.0) == 0
    assert counter.add(1, 200.0) == 1


def test_trading_counter_refuses_single_cancel_but_accepts_overflowing_batch(
    ex: Exchange, clock: FakeClock
) -> None:
    tier = SPOT_TIERS["intermediate"]
    young = [ex.get_order("spot", limit(ex)) for _ in range(20)]
    orders = [o for o in young if o is not None]
    for order in orders[:15]:  # 15 x 8 = 120 <= 125
        assert ex.charge_spot_cancels("spot", [order])
    assert ex.spot_rate_count("spot", "XBT/USD") == 120
    assert not ex.charge_spot_cancels("spot", [orders[15]])  # would reach 128
    assert ex.charge_spot_cancels("spot", orders[15:18], batch=True)  # overflows: accepted
    assert ex.spot_rate_count("spot", "XBT/USD") == 144 > tier.trading_threshold
    assert not ex.charge_spot_cancels("spot", orders[18:], batch=True)  # already over
    clock.now += 70  # decays 2.34/s; the orders are now 70 s old (cost 2 each)
    assert ex.spot_rate_count("spot", "XBT/USD") == pytest.approx(0.0)
    assert ex.charge_spot_cancels("spot", [orders[19]])
    assert ex.spot_rate_count("spot", "XBT/USD") == 2
    # Other pairs have their own counter; old orders cost nothing.
    old = ex.add_order("spot", "ETH/USD", "buy", "limit", "1", "100", opened_at=clock.now - 400)
    assert ex.charge_spot_cancels("spot", [old]) and ex.spot_rate_count("spot", "ETH/USD") == 0


def test_call_counter_and_switching_limits_off(ex: Exchange, clock: FakeClock) -> None:
    assert all(ex.charge_spot_call("spot") for _ in range(20))
    assert not ex.charge_spot_call("spot")
    clock.now += 2  # decays 0.5/s
    assert ex.charge_spot_call("spot") and not ex.charge_spot_call("spot")
    ex.rate_limits_enabled = False
    assert all(ex.charge_spot_call("spot") for _ in range(100))
    assert ex.charge_spot_cancels("spot", [ex.add_order("spot", "XBT/USD", "buy", "limit", "1", "1")] * 50)


def test_futures_budget_500_per_10s(ex: Exchange, clock: FakeClock) -> None:
    assert all(ex.charge_futures("fut", 25) for _ in range(20))
    assert not ex.charge_futures("fut", 10)
    clock.now += 1  # refills 50 per second
    assert ex.charge_futures("fut", 50) and not ex.charge_futures("fut", 1)


def test_seed_demo_is_plausible_and_reproducible() -> None:
    a, b = Exchange(seed=5), Exchange(seed=5)
    for ex in (a, b):
        ex.seed_demo(n_orders=200, seed=5)
    spot = a.open_orders("spot")
    assert 190 <= len(spot) <= 200
    assert [o.order_id for o in spot] == [o.order_id for o in b.open_orders("spot")]
    assert len({o.symbol for o in spot}) >= 6
    assert all(spot_instrument(o.symbol) is not None for o in spot)
    assert {o.side for o in spot} == {"buy", "sell"}
    assert {"limit", "stop-loss"} <= {o.order_type for o in spot}
    userrefs = [o.userref for o in spot if o.userref is not None]
    assert len(userrefs) > len(set(userrefs))  # some share a userref
    assert any(o.cl_ord_id for o in spot)
    now = a.clock()
    ages = [now - o.opened_at for o in spot]
    assert min(ages) < 60 and max(ages) > 3600
    assert any(o.filled != "0.00000000" for o in spot)
    assert 20 <= a.open_count("futures") <= 36 and 20 <= a.open_count("prime") <= 36
    assert all(o.cl_ord_id for o in a.open_orders("prime"))
    only_spot = Exchange(seed=5)
    only_spot.seed_demo(10, seed=5, kinds=("spot",))
    assert set(only_spot.accounts) == {"spot"}


def test_market_activity_steps_change_orders() -> None:
    ex = Exchange(seed=2)
    ex.seed_demo(n_orders=40, seed=2, kinds=("spot",))
    events: list[OrderEvent] = []
    ex.subscribe(None, events.append)
    activity = MarketActivity(ex, random.Random(4), rate_per_s=10)
    done = [activity.step() for _ in range(300)]
    kinds = {d.kind for d in done if d is not None}
    assert {"new", "fill"} <= kinds
    assert events and 25 <= ex.open_count("spot") <= 60


async def test_market_activity_task_starts_and_stops() -> None:
    ex = Exchange(seed=2)
    ex.seed_demo(n_orders=20, seed=2, kinds=("spot",))
    events: list[OrderEvent] = []
    ex.subscribe(None, events.append)
    activity = MarketActivity(ex, random.Random(4), rate_per_s=200)
    activity.start()
    assert activity.running
    for _ in range(100):
        if len(events) >= 5:
            break
        await asyncio.sleep(0.01)
    await activity.stop()
    assert not activity.running and len(events) >= 5
    count = len(events)
    await asyncio.sleep(0.05)
    assert len(events) == count


async def test_replacing_a_clock_on_the_front_reaches_every_room() -> None:
    # The rooms share one SimClock: tests and /_sim/ switch clocks and limits on the front.
    ex = Exchange(seed=4)
    ex.add_account("spot", "spot")
    ex.clock = lambda: 1_700_000_000.0
    ex.monotonic = lambda: 50.0
    order = ex.add_order("spot", "XBT/USD", "buy", "limit", "1", "100")
    assert order.opened_at == 1_700_000_000.0
    token = ex.issue_token("spot")
    assert token.issued_at == 1_700_000_000.0
    assert ex.arm_deadman("spot", 60) == (1_700_000_000.0, 1_700_000_060.0)
    ex.close()
    assert ex.deadman_trigger_time("spot") is None
    ex.clock = lambda: 1_700_000_000.0 + 900
    assert ex.validate_token(token.token) is None  # expired by the new clock
    assert all(ex.charge_spot_call("spot") for _ in range(20)) and not ex.charge_spot_call("spot")
    ex.monotonic = lambda: 52.0  # two seconds later for the counters only: 1 call back
    assert ex.charge_spot_call("spot") and not ex.charge_spot_call("spot")
    ex.rate_limits_enabled = False
    assert not ex.limits.enabled and ex.charge_spot_call("spot")


def test_accounts_room_is_a_read_only_mapping_that_opens_the_book() -> None:
    ex = Exchange(seed=4)
    spot = ex.add_account("spot", "spot")
    assert "spot" in ex.accounts and ex.accounts["spot"] is spot and list(ex.accounts) == ["spot"]
    assert ex.account_by_key(spot.api_key) is spot and ex.account_by_key("nope") is None
    assert ex.open_orders("spot") == [] and ex.counts()["spot"]["open"] == 0
    with pytest.raises(KeyError):
        ex.open_orders("ghost")
    with pytest.raises(ValueError, match="account exists"):
        ex.add_account("spot", "spot")

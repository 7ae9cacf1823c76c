"""The Spot REST call counter as Kraken documents it: every private call costs 1 but AddOrder and
CancelOrder (docs "Spot REST Rate Limits", API-FACTS 7.1), so batches and cancel-alls count too."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.core.accounts import Credentials
from app.core.ledger import CancelState
from app.core.orders import CancelRef
from app.core.plan import CancelRequest, RequestForm
from app.core.ratelimits import SPOT_TIERS
from app.sim.server import HOSTS, SimServer
from app.sim.state import Exchange
from app.venues.nonces import NonceSource
from app.venues.spot.rest import POLL_MAX_WAIT_S, SpotRestVenue

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def pro_sim() -> AsyncIterator[tuple[Exchange, str]]:
    """The Spot REST host with its rate limits on, a Pro account holding old orders (no cancel
    costs anything on the per-pair trading counter: only the call counter is in play)."""
    exchange = Exchange(seed=5, rate_limits=True)
    exchange.add_account("spot", "spot", tier="pro")
    exchange.demo.generate_orders("spot", 60, random.Random(5), age_s=(600.0, 900.0))
    server = SimServer(exchange, hosts=[h for h in HOSTS if h.name == "spot_rest"])
    endpoints = await server.start()
    try:
        yield exchange, endpoints["spot_rest"]
    finally:
        await server.stop()


def _venue(exchange: Exchange, url: str, **kw: object) -> SpotRestVenue:
    acct = exchange.account("spot")
    return SpotRestVenue(
        "spot",
        url,
        Credentials(acct.api_key, acct.secret),
        NonceSource(),
        tier=SPOT_TIERS["pro"],
        **kw,  # type: ignore[arg-type]
    )


def _batch(orders: list[object]) -> CancelRequest:
    return CancelRequest(
        "spot",
        RequestForm.BATCH,
        tuple(CancelRef.of(o) for o in orders),  # type: ignore[arg-type]
        tuple(orders),  # type: ignore[arg-type]
    )


async def test_batches_cancel_alls_and_the_deadman_are_charged_a_single_cancel_is_not(
    pro_sim: tuple[Exchange, str],
) -> None:
    exchange, url = pro_sim
    venue = _venue(exchange, url, clock=lambda: 0.0)  # a frozen clock: the counter never decays
    try:
        orders = await venue.list_open_orders()
        assert venue.calls.level(0.0) == 1  # OpenOrders
        single = orders[0]
        await venue.execute(CancelRequest("spot", RequestForm.SINGLE, (CancelRef.of(single),), (single,)))
        assert venue.calls.level(0.0) == 1  # CancelOrder: the engine's limiter, not this one
        await venue.execute(_batch(orders[1:3]))
        assert venue.calls.level(0.0) == 2  # CancelOrderBatch costs 1
        await venue.arm_deadman(60)
        await venue.arm_deadman(0)
        assert venue.calls.level(0.0) == 4  # CancelAllOrdersAfter costs 1 each
        await venue.execute(CancelRequest("spot", RequestForm.ALL), urgent=True)
        assert venue.calls.level(0.0) == 5  # CancelAll costs 1
    finally:
        await venue.aclose()


async def test_many_batches_then_a_confirmation_stay_inside_the_counter(
    pro_sim: tuple[Exchange, str],
) -> None:
    # Pro: 20 calls, decaying 1 a second. 21 two-order batches and the QueryOrders that
    # confirms them are over it: the model waits instead of being refused.
    exchange, url = pro_sim
    venue = _venue(exchange, url)
    try:
        orders = (await venue.list_open_orders())[:42]
        for i in range(0, 42, 2):
            reply = await venue.execute(_batch(orders[i : i + 2]))
            assert reply.count == 2
        outcomes = await venue.confirm(orders)
    finally:
        await venue.aclose()
    assert {o.state for o in outcomes.values()} == {CancelState.CANCELLED}
    assert len(outcomes) == 42


async def test_the_listing_poll_leaves_room_for_cancels_and_their_rechecks(
    pro_sim: tuple[Exchange, str],
) -> None:
    # A poll every 2 s costs what the Intermediate counter decays: were it to take the last free
    # units, every re-check would queue behind the polls (the soak: a kill switch over 120 s).
    exchange, url = pro_sim
    now = [0.0]
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    venue = _venue(exchange, url, clock=lambda: now[0], sleep=sleep)
    try:
        orders = await venue.list_open_orders()
        venue.calls.charge(11, now[0])  # 12 of Pro's 20: 2 held for cancel-all, 5 left by polls
        await venue.confirm(orders[:1])  # a re-check goes at once
        assert slept == []
        assert venue.calls.level(now[0]) == 13
        await venue.list_open_orders()  # the poll waits until 5 + 2 units are free after it
        assert slept == [pytest.approx(1.0)]  # Pro decays 1 a second
        # ...but a poll does not wait for ever behind them: after POLL_MAX_WAIT_S it goes like
        # any call (rows Kraken closed must leave the table).
        venue.calls.charge(18.5 - venue.calls.level(now[0]), now[0])
        slept.clear()
        await venue.list_open_orders()
        assert sum(slept) == pytest.approx(POLL_MAX_WAIT_S, abs=0.01)  # not the 6.5 s to level 12
        assert venue.calls.level(now[0]) == pytest.approx(13.5, abs=0.01)
    finally:
        await venue.aclose()


async def test_one_stale_id_among_fifty_costs_a_dozen_queries_not_fifty(
    pro_sim: tuple[Exchange, str],
) -> None:
    exchange, url = pro_sim
    venue = _venue(exchange, url)
    try:
        orders = (await venue.list_open_orders())[:49]
        ghost = dataclasses.replace(orders[0], order_id="OZZZZZ-ZZZZZ-ZZZZZZ")
        exchange.arrivals.clear()
        outcomes = await venue.confirm([*orders[:20], ghost, *orders[20:]])
    finally:
        await venue.aclose()
    queries = [a for a in exchange.arrivals if a.path.endswith("/QueryOrders")]
    assert len(queries) <= 13  # halves: 1 + 2 x 6, where one by one was 51
    assert outcomes[ghost.order_id].state is CancelState.ALREADY_GONE
    assert {outcomes[o.order_id].state for o in orders} == {CancelState.FAILED}  # all still open

"""Rate limits as Kraken documents them (API-FACTS 7), seen by bare clients over the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sim.kraken import Sim, running_sim, ws_connect

pytestmark = pytest.mark.timeout(30)


class FrozenClock:
    """A monotonic clock that moves only when told (counters decay with it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_sim(rate_limits=True) as s:
        s.clock = FrozenClock()  # type: ignore[attr-defined]
        s.exchange.monotonic = s.clock  # type: ignore[attr-defined]
        yield s


async def test_rest_call_counter(sim: Sim) -> None:
    # 7.1 intermediate: max 20, -0.5/s; OpenOrders costs 1; CancelOrder is not on this counter.
    client = sim.spot()
    for _ in range(20):
        assert (await client.call("OpenOrders"))["error"] == []
    assert (await client.call("OpenOrders"))["error"] == ["EAPI:Rate limit exceeded"]
    order = sim.add()
    assert (await client.call("CancelOrder", {"txid": order.order_id}))["result"]["count"] == 1
    sim.clock.now += 2.0  # type: ignore[attr-defined]  # decays by 1
    assert (await client.call("OpenOrders"))["error"] == []
    assert (await client.call("OpenOrders"))["error"] == ["EAPI:Rate limit exceeded"]


async def test_trading_counter_single_refused_batch_overflow_accepted(sim: Sim) -> None:
    # 7.2 intermediate: threshold 125; cancelling an order younger than 5 s costs 8.
    young = [sim.add(age_s=1).order_id for _ in range(20)]
    client = sim.spot()
    for txid in young[:15]:  # 15 x 8 = 120
        assert (await client.call("CancelOrder", {"txid": txid}))["result"]["count"] == 1
    refused = await client.call("CancelOrder", {"txid": young[15]})  # 128 > 125
    assert refused == {"error": ["EOrder:Rate limit exceeded"]}
    assert sim.status(young[15]) == "open"
    batch = await client.call("CancelOrderBatch", {"orders": young[15:18]}, as_json=True)  # 120 -> 144
    assert batch["result"] == {"count": 3}
    over = await client.call("CancelOrderBatch", {"orders": young[18:]}, as_json=True)  # already over
    assert over == {"error": ["EOrder:Rate limit exceeded"]}
    old = sim.add(age_s=400).order_id  # costs nothing, but the pair is over until it decays
    assert (await client.call("CancelOrder", {"txid": old}))["error"] == ["EOrder:Rate limit exceeded"]
    sim.clock.now += 60  # type: ignore[attr-defined]  # decays 2.34/s: 144 -> 3.6
    assert (await client.call("CancelOrder", {"txid": old}))["result"]["count"] == 1
    assert (await client.call("CancelOrder", {"txid": young[18]}))["result"]["count"] == 1
    # Other pairs have their own counter.
    eth = sim.add(symbol="ETH/USD", price="3000", age_s=1).order_id
    assert (await client.call("CancelOrder", {"txid": eth}))["result"]["count"] == 1


async def test_ws_cancels_share_the_trading_counter(sim: Sim) -> None:
    young = [sim.add(age_s=1).order_id for _ in range(17)]
    client = sim.spot()
    for txid in young[:15]:
        await client.call("CancelOrder", {"txid": txid})
    async with ws_connect(sim.urls["spot_ws_v2"]) as v2:
        await v2.recv()
        await v2.send(
            {"method": "cancel_order", "params": {"order_id": [young[15]], "token": sim.spot_token()}}
        )
        assert (await v2.recv())["error"] == "EOrder:Rate limit exceeded"


async def test_futures_budget_500_per_10_s(sim: Sim) -> None:
    # 7.3: cancelorder costs 10; 50 of them spend the 500; the budget refills 50/s.
    client = sim.futures()
    orders = [sim.add("futures", "PF_XBTUSD").order_id for _ in range(52)]
    for order_id in orders[:50]:
        assert (await client.call("POST", "cancelorder", {"order_id": order_id}))["result"] == "success"
    refused = await client.call("POST", "cancelorder", {"order_id": orders[50]})
    assert refused["result"] == "error" and refused["error"] == "apiLimitExceeded"
    sim.clock.now += 0.2  # type: ignore[attr-defined]  # +10
    assert (await client.call("POST", "cancelorder", {"order_id": orders[50]}))["cancelStatus"][
        "status"
    ] == "cancelled"
    assert (await client.call("GET", "openorders"))["error"] == "apiLimitExceeded"  # costs 2, 0 left

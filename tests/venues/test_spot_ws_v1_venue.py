"""Spot WS v1 venue: what only the legacy protocol does (unnamed per-order answers, v1 fields)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order
from app.core.plan import CancelRequest, RequestForm
from app.venues.spot.ws import SpotWsV1Venue
from tests.helpers.spot_ws import ACCOUNT, WsSim, streaming, ws_simulator

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def ws_sim() -> AsyncIterator[WsSim]:
    async with ws_simulator() as sim:
        yield sim


def batch(orders: list[Order]) -> CancelRequest:
    return CancelRequest(ACCOUNT, RequestForm.BATCH, tuple(map(CancelRef.of, orders)), tuple(orders))


async def test_limits_are_lists_of_2_to_50(ws_sim: WsSim) -> None:
    venue = ws_sim.v1()
    assert isinstance(venue, SpotWsV1Venue)
    assert (
        venue.capabilities.limits.max_batch,
        venue.capabilities.limits.min_batch,
        venue.capabilities.limits.cancel_all,
    ) == (50, 2, True)


async def test_a_list_answer_never_names_orders(ws_sim: WsSim) -> None:
    made = ws_sim.add(3)
    venue = ws_sim.v1()
    orders = await venue.list_open_orders()
    ws_sim.exchange.cancel(ACCOUNT, made[1].order_id)  # gone before our request arrives
    reply = await venue.execute(batch(orders))
    # Three answers (two ok, one "unknown order") that do not say which is which.
    assert reply.count == 2 and reply.outcomes == {}
    outcomes = await venue.confirm(orders)
    assert outcomes[made[0].order_id].state is CancelState.CANCELLED
    assert outcomes[made[2].order_id].state is CancelState.CANCELLED
    # Cancelled by someone else before: REST reports it canceled; either way never "failed".
    assert outcomes[made[1].order_id].state is CancelState.CANCELLED


async def test_a_list_of_unknown_orders_counts_zero(ws_sim: WsSim) -> None:
    made = ws_sim.add(2)
    venue = ws_sim.v1()
    orders = await venue.list_open_orders()
    for o in made:
        ws_sim.exchange.fill(ACCOUNT, o.order_id)
    reply = await venue.execute(batch(orders))
    assert reply.count == 0 and reply.outcomes == {}
    outcomes = await venue.confirm(orders)
    assert {o.state for o in outcomes.values()} == {CancelState.FILLED}


async def test_single_by_client_id_names_the_one_order_it_was_for(ws_sim: WsSim) -> None:
    [order] = ws_sim.add(1, cl_ord_id="grid-1")
    venue = ws_sim.v1()
    [mine] = await venue.list_open_orders()
    ref = CancelRef(IdKind.CLIENT_ID, "grid-1")
    reply = await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (ref,), (mine,)))
    assert reply.outcomes == {order.order_id: Outcome(CancelState.CANCELLED)}
    # Without the order in the request there is nothing to name: only the count.
    [other] = ws_sim.add(1, cl_ord_id="grid-2")
    ref = CancelRef(IdKind.CLIENT_ID, "grid-2")
    reply = await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (ref,)))
    assert reply.outcomes == {} and reply.count == 1
    assert ws_sim.status(other.order_id) == "canceled"


async def test_v1_fields_in_the_stream(ws_sim: WsSim) -> None:
    [stop] = ws_sim.add(
        1, symbol="ETH/EUR", order_type="stop-loss-limit", price="2900", stop_price="2910", userref=9
    )
    venue = ws_sim.v1()
    async with streaming(venue) as rec:
        [order] = rec.snapshots()[0].orders
        ws_sim.exchange.amend(ACCOUNT, stop.order_id, qty="0.75")
        await rec.until(lambda: any(o.quantity == Decimal("0.75") for o in rec.upserted()))
    assert (order.order_id, order.symbol, order.order_type) == (stop.order_id, "ETH/EUR", "stop-loss-limit")
    assert order.stop_price == Decimal("2910.00") and order.price == Decimal("2900.00") and order.userref == 9
    assert order.status == "open"

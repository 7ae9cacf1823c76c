"""The desk end to end on Spot REST: store, coordinator, ledger and audit against the simulator."""

from __future__ import annotations

import asyncio

from app.core.accounts import LinkState
from app.core.ledger import CancelState
from app.core.plan import CancelIntent, Scope
from app.desk.desk import Desk
from tests.helpers.sim import Sim


async def wait_for(cond, limit_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + limit_s
    while not cond():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_orders_flow_in_and_the_sidebar_counts(desk: Desk, sim: Sim) -> None:
    await wait_for(lambda: len(desk.store) == 120)
    st = desk.status["spot"]
    assert st.link is LinkState.POLLING and st.open_orders == 120


async def test_cancel_selection_settles_every_order_and_audits(desk: Desk, sim: Sim) -> None:
    await wait_for(lambda: len(desk.store) == 120)
    chosen = desk.store.orders()[:60]
    events = []
    desk.store.removed.connect(events.append)
    report = await desk.cancel(CancelIntent(Scope.ORDERS, tuple(chosen)))
    assert report.counts[CancelState.CANCELLED] == 60 and report.requests == 2
    assert not ({o.order_id for o in chosen} & sim.open_ids())
    assert all(o.key not in desk.store for o in chosen)
    assert events and sum(len(e) for e in events) == 60
    history = desk.audit.history("spot", chosen[0].order_id)
    assert [s for s, _ in history] == ["queued", "sent", "acknowledged", "cancelled"]


async def test_race_with_a_fill_is_reported_as_filled(desk: Desk, sim: Sim) -> None:
    await wait_for(lambda: len(desk.store) == 120)
    a, b = desk.store.orders()[:2]
    sim.exchange.fill("spot", b.order_id)  # fills before our cancel arrives
    report = await desk.cancel(CancelIntent(Scope.ORDERS, (a, b)))
    assert desk.coordinator.entry(a.key).state is CancelState.CANCELLED
    assert desk.coordinator.entry(b.key).state is CancelState.FILLED
    assert report.counts[CancelState.FILLED] == 1


async def test_kill_switch_empties_the_account(desk: Desk, sim: Sim) -> None:
    await wait_for(lambda: len(desk.store) == 120)
    report = await desk.cancel(CancelIntent(Scope.EVERYTHING))
    assert sim.open_ids() == set()
    assert report.counts[CancelState.CANCELLED] == 120
    await wait_for(lambda: len(desk.store) == 0)


async def test_dropped_connection_is_unknown_then_rechecked(desk: Desk, sim: Sim) -> None:
    await wait_for(lambda: len(desk.store) == 120)
    (order,) = desk.store.orders()[:1]
    sim.faults.drop_connection = 1
    report = await desk.cancel(CancelIntent(Scope.ORDERS, (order,)))
    entry = desk.coordinator.entry(order.key)
    # The drop hit before the cancel was processed: the re-check finds it still open.
    assert entry.state is CancelState.FAILED and "still open" in (entry.reason or "")
    assert order.order_id in sim.open_ids()
    assert "unknown" in [s for s, _ in desk.audit.history("spot", order.order_id)]
    assert report.errors


async def test_unavailable_exchange_fails_without_claiming(desk: Desk, sim: Sim) -> None:
    await wait_for(lambda: len(desk.store) == 120)
    chosen = tuple(desk.store.orders()[:3])
    sim.faults.service_unavailable = 1
    report = await desk.cancel(CancelIntent(Scope.ORDERS, chosen))
    assert report.counts[CancelState.FAILED] == 3
    assert {o.order_id for o in chosen} <= sim.open_ids()
    assert all(desk.store.outcome(o.key).state is CancelState.FAILED for o in chosen)


async def test_rate_limit_is_retried(desk: Desk, sim: Sim) -> None:
    await wait_for(lambda: len(desk.store) == 120)
    (order,) = desk.store.orders()[:1]
    sim.faults.rate_limit = 1
    report = await desk.cancel(CancelIntent(Scope.ORDERS, (order,)))
    assert report.counts[CancelState.CANCELLED] == 1


async def test_symbol_cancel_leaves_other_symbols(desk: Desk, sim: Sim) -> None:
    await wait_for(lambda: len(desk.store) == 120)
    symbol = desk.store.orders()[0].symbol
    others = {o.order_id for o in desk.store.orders() if o.symbol != symbol}
    await desk.cancel(CancelIntent(Scope.SYMBOL, account_ids=("spot",), symbol=symbol))
    assert sim.open_ids() == others


async def test_deadman_arms_and_disarms(desk: Desk, sim: Sim) -> None:
    await desk.deadman.arm()
    assert desk.deadman.states["spot"].armed
    assert sim.exchange.deadman_trigger_time("spot") is not None
    await desk.deadman.disarm()
    assert not desk.deadman.states["spot"].armed
    assert sim.exchange.deadman_trigger_time("spot") is None

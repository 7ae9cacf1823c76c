"""Spot WS v2 and v1 venues end to end against the simulator over real loopback sockets.

Every scenario runs for both protocols; the rule tested is the same: say what Kraken said, per order
only when it named the order, and never "cancelled" for an order the venue did not cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from app.core.accounts import LinkState
from app.core.errors import PermissionDenied, TransportError, VenueUnavailable
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order, Side, VenueKind
from app.core.plan import CancelIntent, CancelRequest, RequestForm, Scope, plan_cancel
from app.venues.base import StreamKind, Venue
from app.venues.spot.ws import SpotWsVenue
from tests.helpers.spot_ws import ACCOUNT, Recorder, WsSim, streaming, venue_kw, ws_simulator

pytestmark = pytest.mark.timeout(30)

TOKEN_PATH = "/0/private/GetWebSocketsToken"


@pytest.fixture
async def ws_sim() -> AsyncIterator[WsSim]:
    async with ws_simulator() as sim:
        yield sim


@pytest.fixture(params=["v2", "v1"])
def proto(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(sim: WsSim, proto: str, **kw: Any) -> SpotWsVenue:
    return sim.v2(**kw) if proto == "v2" else sim.v1(**kw)


def symbol_for(proto: str) -> str:
    return "BTC/USD" if proto == "v2" else "XBT/USD"


def ghost(order_id: str = "OGHOST-AAAAA-BBBBBB") -> Order:
    """An order the exchange never had."""
    return Order(
        ACCOUNT,
        VenueKind.SPOT,
        order_id,
        "BTC/USD",
        Side.BUY,
        "limit",
        Decimal(1),
        Decimal(1),
        Decimal(0),
        0.0,
    )


async def listed(venue: SpotWsVenue, ids: set[str]) -> list[Order]:
    orders = await venue.list_open_orders()
    return [o for o in orders if o.order_id in ids]


async def run_plan(venue: SpotWsVenue, orders: list[Order], everything: list[Order]) -> list[Any]:
    plan = plan_cancel(
        CancelIntent(Scope.ORDERS, tuple(orders)), {ACCOUNT: everything}, {ACCOUNT: venue.capabilities.limits}
    )
    return [(r, await venue.execute(r)) for r in plan.requests]


async def test_is_a_venue(ws_sim: WsSim, proto: str) -> None:
    venue = make(ws_sim, proto)
    assert isinstance(venue, Venue)
    assert venue.capabilities.streaming and venue.kind is VenueKind.SPOT
    assert (
        venue.capabilities.limits.max_batch,
        venue.capabilities.limits.min_batch,
        venue.capabilities.limits.cancel_all,
    ) == (50, 2, True)


async def test_snapshot_then_live_updates(ws_sim: WsSim, proto: str) -> None:
    first = ws_sim.add(3)
    venue = make(ws_sim, proto)
    async with streaming(venue) as rec:
        assert rec.states() == [LinkState.CONNECTING, LinkState.LIVE]
        [snap] = rec.snapshots()
        assert {o.order_id for o in snap.orders} == {o.order_id for o in first}
        assert {o.symbol for o in snap.orders} == {symbol_for(proto)}
        assert rec.events[0].kind is StreamKind.SNAPSHOT  # the snapshot comes before anything else

        [new] = ws_sim.add(1, symbol="ETH/USD", qty="2.5", price="3000", cl_ord_id="mine-1")
        await rec.until(
            lambda: any(o.order_id == new.order_id and o.status in ("new", "open") for o in rec.upserted())
        )
        seen = [o for o in rec.upserted() if o.order_id == new.order_id][-1]
        assert (seen.symbol, seen.quantity, seen.client_id) == ("ETH/USD", Decimal("2.5"), "mine-1")

        ws_sim.exchange.fill(ACCOUNT, first[0].order_id, "0.2")
        await rec.until(lambda: any(o.filled == Decimal("0.2") for o in rec.upserted()))
        ws_sim.exchange.fill(ACCOUNT, first[0].order_id)
        ws_sim.exchange.expire(ACCOUNT, first[1].order_id)
        ws_sim.exchange.cancel(ACCOUNT, first[2].order_id)
        await rec.until(lambda: len(rec.removed()) == 3)
        removed = rec.removed()
        assert removed[first[0].order_id].outcome == Outcome(CancelState.FILLED, "filled")
        assert removed[first[1].order_id].outcome == Outcome(CancelState.ALREADY_GONE, "Order expired")
        assert removed[first[2].order_id].outcome == Outcome(CancelState.CANCELLED, "User requested")
        assert {o.order_id for o in await venue.list_open_orders()} == {new.order_id}


@pytest.mark.parametrize(
    ("n", "forms"),
    [
        (1, [RequestForm.SINGLE]),
        (2, [RequestForm.BATCH]),
        (50, [RequestForm.BATCH]),
        (51, [RequestForm.BATCH, RequestForm.SINGLE]),
    ],
)
async def test_cancel_through_the_planner(
    ws_sim: WsSim, proto: str, n: int, forms: list[RequestForm]
) -> None:
    made = ws_sim.add(n + 1)  # one more that must stay open
    venue = make(ws_sim, proto)
    async with streaming(venue) as rec:
        everything = await venue.list_open_orders()
        targets = [o for o in everything if o.order_id != made[-1].order_id]
        done = await run_plan(venue, targets, everything)
        assert [r.form for r, _ in done] == forms
        for request, reply in done:
            if request.form is RequestForm.SINGLE:
                assert reply.outcomes == {request.orders[0].order_id: Outcome(CancelState.CANCELLED)}
            else:
                assert reply.count == len(request.orders) and reply.outcomes == {}
        assert all(ws_sim.status(o.order_id) == "canceled" for o in targets)
        assert ws_sim.status(made[-1].order_id) == "open"
        outcomes = await venue.confirm(targets)
        assert outcomes == {o.order_id: Outcome(CancelState.CANCELLED, "User requested") for o in targets}
        await rec.until(lambda: len(rec.removed()) == n)


async def test_unknown_and_already_gone_single_are_checked_not_guessed(ws_sim: WsSim, proto: str) -> None:
    [order] = ws_sim.add(1)
    venue = make(ws_sim, proto)
    never = ghost()
    reply = await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(never),), (never,)))
    # "Unknown/Invalid order" proves nothing by itself (API-FACTS 11): unknown until checked.
    assert reply.outcomes[never.order_id].state is CancelState.UNKNOWN
    assert (await venue.confirm([never]))[never.order_id].state is CancelState.ALREADY_GONE
    listed_order = (await listed(venue, {order.order_id}))[0]
    request = CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(listed_order),), (listed_order,))
    assert (await venue.execute(request)).outcomes == {order.order_id: Outcome(CancelState.CANCELLED)}
    # A retry of the same cancel: Kraken no longer knows it; checking finds it cancelled.
    assert (await venue.execute(request)).outcomes[order.order_id].state is CancelState.UNKNOWN
    assert (await venue.confirm([listed_order]))[order.order_id].state is CancelState.CANCELLED


async def test_batch_with_some_unknown_ids(ws_sim: WsSim, proto: str) -> None:
    real = ws_sim.add(3)
    venue = make(ws_sim, proto)
    async with streaming(venue):
        everything = await venue.list_open_orders()
        ghosts = [ghost("OGHOST-AAAAA-AAAAA1"), ghost("OGHOST-AAAAA-AAAAA2")]
        targets = everything + ghosts
        [(request, reply)] = await run_plan(venue, targets, everything)
        assert request.form is RequestForm.BATCH and len(request.refs) == 5
        assert reply.count == 3 and reply.outcomes == {}  # never guess which ones
        outcomes = await venue.confirm(targets)
        for o in real:
            assert outcomes[o.order_id] == Outcome(CancelState.CANCELLED, "User requested")
        for g in ghosts:
            assert outcomes[g.order_id].state is CancelState.ALREADY_GONE


async def test_cancel_by_client_id_and_by_userref(ws_sim: WsSim, proto: str) -> None:
    [by_client] = ws_sim.add(1, cl_ord_id="grid-42")
    shared = ws_sim.add(3, userref=77)
    [other] = ws_sim.add(1, userref=78)
    venue = make(ws_sim, proto)
    everything = await venue.list_open_orders()
    mine = next(o for o in everything if o.order_id == by_client.order_id)
    request = CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef(IdKind.CLIENT_ID, "grid-42"),), (mine,))
    reply = await venue.execute(request)
    assert reply.outcomes == {by_client.order_id: Outcome(CancelState.CANCELLED)}

    plan = plan_cancel(
        CancelIntent(Scope.USERREF, account_ids=(ACCOUNT,), userref=77),
        {ACCOUNT: everything},
        {ACCOUNT: venue.capabilities.limits},
    )
    [request] = plan.requests
    reply = await venue.execute(request)
    assert reply.count == 3
    if proto == "v2":
        # v2 answers once per cancelled order, naming it.
        assert reply.outcomes == {o.order_id: Outcome(CancelState.CANCELLED) for o in shared}
    else:
        assert reply.outcomes == {}  # v1 does not name them
    assert all(ws_sim.status(o.order_id) == "canceled" for o in shared)
    assert ws_sim.status(other.order_id) == "open"


async def test_cancel_all(ws_sim: WsSim, proto: str) -> None:
    ws_sim.add(4)
    venue = make(ws_sim, proto)
    everything = await venue.list_open_orders()
    plan = plan_cancel(
        CancelIntent(Scope.ACCOUNT, account_ids=(ACCOUNT,)),
        {ACCOUNT: everything},
        {ACCOUNT: venue.capabilities.limits},
    )
    [request] = plan.requests
    assert request.form is RequestForm.ALL
    reply = await venue.execute(request)
    assert reply.count == 4 and reply.outcomes == {}
    assert ws_sim.exchange.open_count(ACCOUNT) == 0


async def test_dead_mans_switch(ws_sim: WsSim, proto: str) -> None:
    venue = make(ws_sim, proto)
    status = await venue.arm_deadman(60)
    assert status.trigger_time is not None and status.current_time is not None
    assert ws_sim.exchange.deadman_trigger_time(ACCOUNT) is not None
    off = await venue.arm_deadman(0)
    assert off.trigger_time is None
    assert ws_sim.exchange.deadman_trigger_time(ACCOUNT) is None


async def test_invalidated_token_is_refetched(ws_sim: WsSim, proto: str) -> None:
    orders = ws_sim.add(2)
    venue = make(ws_sim, proto)
    everything = await venue.list_open_orders()
    first = next(o for o in everything if o.order_id == orders[0].order_id)
    second = next(o for o in everything if o.order_id == orders[1].order_id)
    await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(first),), (first,)))
    assert ws_sim.arrivals(TOKEN_PATH) == 1
    assert ws_sim.exchange.invalidate_tokens(ACCOUNT) == 1
    reply = await venue.execute(
        CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(second),), (second,))
    )
    assert reply.outcomes == {second.order_id: Outcome(CancelState.CANCELLED)}
    assert ws_sim.arrivals(TOKEN_PATH) == 2


async def test_requests_hold_the_subscription_so_the_token_stays_valid(ws_sim: WsSim, proto: str) -> None:
    venue = make(ws_sim, proto)
    await venue.arm_deadman(0)  # opens the link: every socket that sends cancels is subscribed
    ws_sim.clock.offset += 901  # Kraken: an unused token expires after 15 minutes; a used one not
    await venue.arm_deadman(0)
    assert ws_sim.arrivals(TOKEN_PATH) == 1


async def test_stream_reconnects_with_a_fresh_token_and_snapshot(ws_sim: WsSim, proto: str) -> None:
    keep, gone = ws_sim.add(2)
    venue = make(ws_sim, proto)
    async with streaming(venue) as rec:
        ws_sim.exchange.invalidate_tokens(ACCOUNT)
        assert ws_sim.host.drop_all() == 1
        # While the socket is down the order is cancelled and another is placed: the stream
        # never sees those updates; the fresh snapshot must tell the truth.
        ws_sim.exchange.cancel(ACCOUNT, gone.order_id)
        [late] = ws_sim.add(1)
        await rec.until(lambda: len(rec.snapshots()) == 2)
        await rec.until(lambda: rec.states()[-1] is LinkState.LIVE)
        assert {o.order_id for o in rec.snapshots()[1].orders} == {keep.order_id, late.order_id}
        reconnecting = [d for s, d in rec.links if s is LinkState.RECONNECTING]
        assert reconnecting and all("reconnecting in " in d and d.endswith(" s") for d in reconnecting)
        assert ws_sim.arrivals(TOKEN_PATH) == 2


@pytest.mark.parametrize("with_stream", [True, False])
async def test_socket_dropped_mid_batch_every_order_ends_truthful(
    ws_sim: WsSim, proto: str, with_stream: bool
) -> None:
    ws_sim.add(10)
    venue = make(ws_sim, proto)
    everything = await venue.list_open_orders()
    ws_sim.host.drop_mid_batch = 1

    async def cancel_and_confirm() -> dict[str, Outcome]:
        plan = plan_cancel(
            CancelIntent(Scope.ORDERS, tuple(everything)),
            {ACCOUNT: everything},
            {ACCOUNT: venue.capabilities.limits},
        )
        [request] = plan.requests
        with pytest.raises(TransportError, match="effect unknown"):
            await venue.execute(request)
        return await venue.confirm(everything)

    if with_stream:
        async with streaming(venue) as rec:
            outcomes = await cancel_and_confirm()
            await rec.until(lambda: len(rec.snapshots()) == 2)
    else:
        outcomes = await cancel_and_confirm()
    cancelled = {o.order_id for o in everything if ws_sim.status(o.order_id) == "canceled"}
    assert len(cancelled) == 5  # the simulator cancelled half, then dropped the socket
    for order in everything:
        expected = CancelState.CANCELLED if order.order_id in cancelled else CancelState.FAILED
        assert outcomes[order.order_id].state is expected, order.order_id


async def test_request_lost_with_the_socket_is_unknown_not_cancelled(ws_sim: WsSim, proto: str) -> None:
    [order] = ws_sim.add(1)
    venue = make(ws_sim, proto)
    [mine] = await listed(venue, {order.order_id})
    await venue.arm_deadman(0)  # connection up
    ws_sim.ws_faults.drop_connection = 1
    with pytest.raises(TransportError):
        await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(mine),), (mine,)))
    assert ws_sim.status(order.order_id) == "open"
    assert (await venue.confirm([mine]))[order.order_id].state is CancelState.FAILED
    # The next request opens a new connection and works.
    reply = await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(mine),), (mine,)))
    assert reply.outcomes == {order.order_id: Outcome(CancelState.CANCELLED)}


async def test_pings_keep_an_idle_connection_open(ws_sim: WsSim, proto: str) -> None:
    ws_sim.host.idle_timeout_s = 0.5
    venue = make(ws_sim, proto, ping_interval_s=0.1)
    async with streaming(venue) as rec:
        await asyncio.sleep(1.2)  # more than twice the idle timeout
        assert rec.states() == [LinkState.CONNECTING, LinkState.LIVE]


async def test_idle_connection_is_closed_and_replaced(ws_sim: WsSim, proto: str) -> None:
    ws_sim.host.idle_timeout_s = 0.3
    venue = make(ws_sim, proto, ping_interval_s=60.0)
    async with streaming(venue) as rec:
        await rec.until(lambda: LinkState.RECONNECTING in rec.states())
        await rec.until(lambda: rec.states().count(LinkState.LIVE) == 2)
        assert len(rec.snapshots()) == 2


async def test_silent_stream_is_replaced(ws_sim: WsSim, proto: str) -> None:
    ws_sim.host.heartbeat_s = 60.0  # no heartbeats: a silent link looks dead
    venue = make(ws_sim, proto, silence_timeout_s=0.3)
    async with streaming(venue) as rec:
        await rec.until(lambda: LinkState.RECONNECTING in rec.states())


async def test_heartbeats_keep_a_quiet_stream_alive(ws_sim: WsSim, proto: str) -> None:
    venue = make(ws_sim, proto, silence_timeout_s=0.8)  # the simulator beats every 0.2 s here
    async with streaming(venue) as rec:
        await asyncio.sleep(1.6)  # twice the silence timeout
        assert rec.states() == [LinkState.CONNECTING, LinkState.LIVE]


async def test_key_without_websocket_permission_is_down_with_the_reason(ws_sim: WsSim, proto: str) -> None:
    ws_sim.exchange.add_account("nows", "spot", permissions=["query", "cancel"])
    venue = make(ws_sim, proto, rest=ws_sim.rest("nows"))
    rec = Recorder()
    task = asyncio.create_task(venue.run_stream(rec.sink, rec.link))
    try:
        await rec.until(lambda: LinkState.DOWN in rec.states())
        detail = dict(rec.links)[LinkState.DOWN]
        assert "Permission denied" in detail
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    with pytest.raises(VenueUnavailable, match="Permission denied") as info:
        await venue.arm_deadman(0)
    assert isinstance(info.value.__cause__, PermissionDenied)


async def test_unreachable_socket_means_nothing_was_sent(ws_sim: WsSim, proto: str) -> None:
    [order] = ws_sim.add(1)
    rest = ws_sim.rest()
    cls = type(make(ws_sim, proto))
    venue = cls(ACCOUNT, "ws://127.0.0.1:9/v2", rest, **venue_kw(request_timeout_s=1.0))
    ws_sim.venues.append(venue)
    [mine] = await listed(venue, {order.order_id})
    with pytest.raises(VenueUnavailable, match="could not connect"):
        await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(mine),), (mine,)))
    assert ws_sim.status(order.order_id) == "open"


async def test_list_open_orders_uses_the_stream_when_live(ws_sim: WsSim, proto: str) -> None:
    ws_sim.add(2)
    venue = make(ws_sim, proto)
    from_rest = await venue.list_open_orders()
    assert {o.symbol for o in from_rest} == {"XBTUSD"}  # REST names pairs its own way
    async with streaming(venue):
        from_stream = await venue.list_open_orders()
    assert {o.symbol for o in from_stream} == {symbol_for(proto)}
    assert {o.order_id for o in from_stream} == {o.order_id for o in from_rest}


async def test_confirm_keeps_an_unknown_id_from_spoiling_open_orders(ws_sim: WsSim, proto: str) -> None:
    [order] = ws_sim.add(1)
    venue = make(ws_sim, proto, confirm_wait_s=0.1)
    async with streaming(venue):
        [mine] = await venue.list_open_orders()
        outcomes = await venue.confirm([mine, ghost()])
    assert outcomes[order.order_id] == Outcome(CancelState.FAILED, "still open after the cancel")
    assert outcomes[ghost().order_id].state is CancelState.ALREADY_GONE


@pytest.mark.parametrize("form", [RequestForm.SINGLE, RequestForm.BATCH, RequestForm.ALL])
async def test_a_reply_lost_with_the_socket_up_is_answered_by_the_stream(
    ws_sim: WsSim, proto: str, form: RequestForm
) -> None:
    # Kraken applied the cancel and its reply never came; the order stream says how each order
    # ended: that is the answer half a second later, not "effect unknown" after the timeout.
    orders = ws_sim.add(2)
    venue = make(ws_sim, proto)
    async with streaming(venue):
        mine = await listed(venue, {o.order_id for o in orders})
        if form is RequestForm.SINGLE:
            mine = mine[:1]
        ws_sim.ws_faults.lost_reply = 1
        t0 = asyncio.get_running_loop().time()
        refs = () if form is RequestForm.ALL else tuple(CancelRef.of(o) for o in mine)
        reply = await venue.execute(CancelRequest(ACCOUNT, form, refs, tuple(mine)))
        took = asyncio.get_running_loop().time() - t0
    assert ws_sim.ws_faults.lost_reply == 0  # the fault was taken
    assert {oid: o.state for oid, o in reply.outcomes.items()} == {
        o.order_id: CancelState.CANCELLED for o in mine
    }
    assert took < 5.0  # the request timeout is 10 s

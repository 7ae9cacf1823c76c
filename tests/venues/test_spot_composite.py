"""The composite Spot venue: one account, three transports, REST when the socket is down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.core.accounts import AccountSpec, LinkState, Transport
from app.core.errors import TransportError
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, VenueKind
from app.core.plan import CancelIntent, CancelRequest, RequestForm, Scope, plan_cancel
from app.venues.base import Venue
from app.venues.link import Connection as WsConnection
from app.venues.nonces import NonceSource
from app.venues.registry import EndpointRole, build_venue, endpoint
from app.venues.spot.venue import SpotVenue, build_spot_venue
from app.venues.spot.ws import SpotWsV1Venue, SpotWsV2Venue, websockets_connect
from tests.helpers.spot_ws import ACCOUNT, WsSim, streaming, ws_simulator

pytestmark = pytest.mark.timeout(30)

BATCH_WS = "v2:batch_cancel"
BATCH_REST = "/0/private/CancelOrderBatch"


@pytest.fixture
async def ws_sim() -> AsyncIterator[WsSim]:
    async with ws_simulator() as sim:
        yield sim


def spec(
    sim: WsSim, stream: Transport = Transport.WS_V2, cancel: Transport = Transport.WS_V2, **ends: str
) -> AccountSpec:
    endpoints = {k: sim.endpoints[k] for k in ("spot_rest", "spot_ws_v2", "spot_ws_v1")}
    endpoints.update(ends)
    return AccountSpec(
        ACCOUNT, "Spot", VenueKind.SPOT, endpoints, stream_transport=stream, cancel_transport=cancel
    )


def build(sim: WsSim, account: AccountSpec, **kw: Any) -> SpotVenue:
    urls = {Transport.WS_V2: endpoint(account, EndpointRole.SPOT_WS_V2)}
    urls[Transport.WS_V1] = endpoint(account, EndpointRole.SPOT_WS_V1)
    rest_url = endpoint(account, EndpointRole.SPOT_REST)
    venue = build_spot_venue(account, sim.creds(), NonceSource(), rest_url=rest_url, ws_urls=urls, **kw)
    sim.venues.append(venue)
    return venue


async def cancel_all_listed(venue: SpotVenue) -> list[Any]:
    orders = await venue.list_open_orders()
    plan = plan_cancel(
        CancelIntent(Scope.ORDERS, tuple(orders)), {ACCOUNT: orders}, {ACCOUNT: venue.capabilities.limits}
    )
    return [await venue.execute(r) for r in plan.requests]


async def test_default_account_streams_and_cancels_over_v2(ws_sim: WsSim) -> None:
    made = ws_sim.add(3)
    venue = build(ws_sim, spec(ws_sim))
    assert isinstance(venue, Venue) and venue.capabilities.streaming
    assert isinstance(venue.stream_venue, SpotWsV2Venue) and venue.stream_venue is venue.cancel_venue
    assert (
        venue.capabilities.limits.max_batch,
        venue.capabilities.limits.min_batch,
        venue.capabilities.limits.cancel_all,
    ) == (50, 2, True)
    async with streaming(venue.stream_venue) as rec:
        assert {o.symbol for o in rec.snapshots()[0].orders} == {"BTC/USD"}
        [reply] = await cancel_all_listed(venue)
        assert reply.count == 3
        outcomes = await venue.confirm(await_orders(made, venue))
        assert {o.state for o in outcomes.values()} == {CancelState.CANCELLED}
    assert ws_sim.arrivals(BATCH_WS) == 1 and ws_sim.arrivals(BATCH_REST) == 0


def await_orders(made: list[Any], venue: SpotVenue) -> list[Any]:
    from decimal import Decimal

    from app.core.orders import Order, Side

    return [
        Order(
            ACCOUNT,
            VenueKind.SPOT,
            o.order_id,
            "BTC/USD",
            Side.BUY,
            "limit",
            None,
            Decimal(1),
            Decimal(0),
            0.0,
        )
        for o in made
    ]


async def test_unreachable_socket_falls_back_to_rest_and_waits_before_retrying(ws_sim: WsSim) -> None:
    ws_sim.add(4)
    attempts: list[str] = []

    async def connect(url: str) -> WsConnection:
        attempts.append(url)
        return await websockets_connect(url)

    venue = build(ws_sim, spec(ws_sim, spot_ws_v2="ws://127.0.0.1:9/v2"), connect=connect)
    assert venue.cancel_transport == "spot-ws-v2"
    orders = await venue.list_open_orders()
    plan = plan_cancel(
        CancelIntent(Scope.ORDERS, tuple(orders)), {ACCOUNT: orders}, {ACCOUNT: venue.capabilities.limits}
    )
    [request] = plan.requests
    reply = await venue.execute(CancelRequest(ACCOUNT, request.form, request.refs[:2], request.orders[:2]))
    assert reply.count == 2 and ws_sim.arrivals(BATCH_REST) == 1
    assert venue.cancel_transport == "rest"
    reply = await venue.execute(CancelRequest(ACCOUNT, request.form, request.refs[2:], request.orders[2:]))
    assert reply.count == 2 and ws_sim.arrivals(BATCH_REST) == 2
    assert len(attempts) == 1  # the second cancel did not wait on a dead socket again
    assert ws_sim.exchange.open_count(ACCOUNT) == 0
    # The dead man's switch follows the same path.
    assert (await venue.arm_deadman(60)).trigger_time is not None


async def test_reconnecting_stream_sends_cancels_over_rest(ws_sim: WsSim) -> None:
    ws_sim.add(2)
    rest = ws_sim.rest()
    socket = ws_sim.v2(rest=rest, backoff_base_s=5.0, backoff_cap_s=5.0)
    venue = SpotVenue(ACCOUNT, rest, stream=socket, cancel=socket)
    ws_sim.venues.append(venue)
    async with streaming(socket) as rec:
        orders = await venue.list_open_orders()
        ws_sim.host.drop_all()
        await rec.until(lambda: rec.states()[-1] is LinkState.RECONNECTING)
        assert socket.known_down and venue.cancel_transport == "rest"
        reply = await venue.execute(
            CancelRequest(ACCOUNT, RequestForm.BATCH, tuple(map(CancelRef.of, orders)), tuple(orders))
        )
    assert reply.count == 2
    assert ws_sim.arrivals(BATCH_REST) == 1 and ws_sim.arrivals(BATCH_WS) == 0


async def test_a_cancel_lost_on_the_socket_is_not_resent_over_rest(ws_sim: WsSim) -> None:
    ws_sim.add(2)
    venue = build(ws_sim, spec(ws_sim))
    orders = await venue.list_open_orders()
    await venue.arm_deadman(0)  # the socket is up
    ws_sim.host.drop_mid_batch = 1
    with pytest.raises(TransportError):
        await venue.execute(
            CancelRequest(ACCOUNT, RequestForm.BATCH, tuple(map(CancelRef.of, orders)), tuple(orders))
        )
    assert ws_sim.arrivals(BATCH_REST) == 0
    outcomes = await venue.confirm(orders)
    cancelled = {o.order_id for o in orders if ws_sim.status(o.order_id) == "canceled"}
    assert len(cancelled) == 1
    assert {k for k, v in outcomes.items() if v.state is CancelState.CANCELLED} == cancelled


async def test_rest_polling_account(ws_sim: WsSim) -> None:
    [order] = ws_sim.add(1)
    venue = build(ws_sim, spec(ws_sim, Transport.REST, Transport.REST))
    assert not venue.capabilities.streaming and venue.stream_venue is None and venue.cancel_venue is None
    with pytest.raises(NotImplementedError):
        await venue.run_stream(lambda e: None, lambda s, d: None)
    [mine] = await venue.list_open_orders()
    assert mine.symbol == "XBTUSD"
    reply = await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef.of(mine),), (mine,)))
    assert reply.outcomes == {order.order_id: Outcome(CancelState.CANCELLED)}
    assert (await venue.confirm([mine]))[order.order_id].state is CancelState.CANCELLED
    assert ws_sim.arrivals("/0/private/GetWebSocketsToken") == 0


async def test_legacy_stream_with_v2_cancels(ws_sim: WsSim) -> None:
    ws_sim.add(2)
    venue = build(ws_sim, spec(ws_sim, Transport.WS_V1, Transport.WS_V2))
    assert isinstance(venue.stream_venue, SpotWsV1Venue) and isinstance(venue.cancel_venue, SpotWsV2Venue)
    async with streaming(venue.stream_venue) as rec:
        orders = await venue.list_open_orders()
        assert {o.symbol for o in orders} == {"XBT/USD"}
        [reply] = await cancel_all_listed(venue)
        assert reply.count == 2
        outcomes = await venue.confirm(orders)  # the v1 stream saw both go
        assert outcomes == {o.order_id: Outcome(CancelState.CANCELLED, "User requested") for o in orders}
        await rec.until(lambda: len(rec.removed()) == 2)
    assert ws_sim.arrivals(BATCH_WS) == 1


async def test_rest_stream_with_v1_cancels(ws_sim: WsSim) -> None:
    ws_sim.add(2)
    venue = build(ws_sim, spec(ws_sim, Transport.REST, Transport.WS_V1))
    assert not venue.capabilities.streaming and isinstance(venue.cancel_venue, SpotWsV1Venue)
    [reply] = await cancel_all_listed(venue)
    assert reply.count == 2
    assert ws_sim.arrivals("v1:cancelOrder") == 1
    everything = await venue.rest.list_open_orders()
    assert everything == []
    await venue.aclose()
    await venue.aclose()  # closing twice is harmless


async def test_key_without_websocket_permission_cancels_over_rest(ws_sim: WsSim) -> None:
    ws_sim.exchange.add_account("nows", "spot", permissions=["query", "cancel"])
    made = ws_sim.exchange.add_order("nows", "XBT/USD", "buy", "limit", "1", "50000")
    account = AccountSpec("nows", "No WS", VenueKind.SPOT, spec(ws_sim).endpoints)
    venue = build_venue(account, ws_sim.creds("nows"), NonceSource())
    assert isinstance(venue, SpotVenue)
    ws_sim.venues.append(venue)
    [mine] = await venue.list_open_orders()
    reply = await venue.execute(CancelRequest("nows", RequestForm.SINGLE, (CancelRef.of(mine),), (mine,)))
    assert reply.outcomes == {made.order_id: Outcome(CancelState.CANCELLED)}
    assert ws_sim.arrivals("/0/private/CancelOrder") == 1

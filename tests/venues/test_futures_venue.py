"""FuturesVenue end to end against the simulator's Futures host over real loopback sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from app.core.accounts import AccountSpec, Credentials, LinkState
from app.core.errors import AuthError, RateLimited, TransportError, VenueUnavailable
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order, Side, VenueKind
from app.core.plan import CancelIntent, CancelRequest, RequestForm, Scope, plan_cancel
from app.sim.faults import Faults
from app.sim.futures import FuturesControls, FuturesHost, futures_host_spec
from app.sim.server import SimServer
from app.sim.state import Exchange, SimOrder
from app.venues.base import StreamEvent, StreamKind, Venue
from app.venues.futures.venue import FuturesVenue
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue

pytestmark = pytest.mark.timeout(30)

ACCOUNT = "fut-1"


@dataclass
class Sim:
    exchange: Exchange
    server: SimServer
    endpoints: dict[str, str]
    controls: FuturesControls
    host: FuturesHost
    faults: Faults

    @property
    def creds(self) -> Credentials:
        acct = self.exchange.account("futures")
        return Credentials(acct.api_key, acct.secret)

    def venue(self, **kwargs: object) -> FuturesVenue:
        return FuturesVenue(
            ACCOUNT,
            self.endpoints["futures_rest"],
            self.endpoints["futures_ws"],
            kwargs.pop("creds", self.creds),  # type: ignore[arg-type]
            NonceSource(),
            **kwargs,  # type: ignore[arg-type]
        )

    def add(self, symbol: str = "PF_XBTUSD", **kwargs: object) -> SimOrder:
        params: dict[str, object] = {"side": "buy", "order_type": "limit", "qty": "0.5", "price": "60000"}
        params.update(kwargs)
        return self.exchange.add_order(
            "futures",
            symbol,
            str(params.pop("side")),
            str(params.pop("order_type")),
            str(params.pop("qty")),
            str(params.pop("price")),
            **params,  # type: ignore[arg-type]
        )


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    exchange = Exchange(seed=11)
    exchange.add_account("futures", "futures")
    controls = FuturesControls()
    hosts: list[FuturesHost] = []
    faults = Faults()
    server = SimServer(exchange, faults, hosts=[futures_host_spec(controls, hosts.append)])
    endpoints = await server.start()
    try:
        yield Sim(exchange, server, endpoints, controls, hosts[0], faults)
    finally:
        await server.stop()


@pytest.fixture
async def venue(sim: Sim) -> AsyncIterator[FuturesVenue]:
    v = sim.venue()
    try:
        yield v
    finally:
        await v.aclose()


def single(order_id: str, orders: tuple[Order, ...] = ()) -> CancelRequest:
    return CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef(IdKind.ORDER_ID, order_id),), orders)


# --------------------------------------------------------------------------- protocol, factory


async def test_venue_satisfies_the_protocol_and_the_factory_reads_the_account(sim: Sim) -> None:
    spec = AccountSpec(
        ACCOUNT,
        "Futures",
        VenueKind.FUTURES,
        endpoints={
            "futures_rest": sim.endpoints["futures_rest"] + "/derivatives/api/v3",
            "futures_ws": "ws://x/ws/v1",
        },
        options={"process_before_ms": 250},
    )
    v = build_venue(spec, sim.creds, NonceSource())
    assert isinstance(v, FuturesVenue)
    try:
        assert isinstance(v, Venue)
        assert v.kind is VenueKind.FUTURES and v.capabilities.streaming
        assert v.capabilities.limits.max_batch == 50 and v.capabilities.limits.min_batch == 2
        assert v.capabilities.limits.cancel_all and v.capabilities.limits.cancel_all_for_symbol
        assert v.process_before_ms == 250
        assert v.rest.origin == sim.endpoints["futures_rest"]
        assert v.ws_url == "ws://x/ws/v1"
        assert await v.list_open_orders() == []
    finally:
        await v.aclose()
    typed = build_venue(
        AccountSpec("t", "T", VenueKind.FUTURES, options={"process_before_ms": "300"}),
        sim.creds,
        NonceSource(),
    )
    assert isinstance(typed, FuturesVenue)
    assert typed.process_before_ms == 300
    await typed.aclose()
    default = build_venue(AccountSpec("p", "P", VenueKind.FUTURES), sim.creds, NonceSource())
    assert isinstance(default, FuturesVenue)
    try:
        assert default.rest.origin == "https://futures.kraken.com"
        assert default.ws_url == "wss://futures.kraken.com/ws/v1"
        assert default.process_before_ms is None
        assert sim.creds.secret not in repr(default)
    finally:
        await default.aclose()


# --------------------------------------------------------------------------- listing


async def test_list_open_orders(sim: Sim, venue: FuturesVenue) -> None:
    limit = sim.add(cl_ord_id="grid-7", reduce_only=True, filled="0.1")
    stop = sim.add(
        "PF_ETHUSD", side="sell", order_type="stop-loss-limit", qty="3", price="2990", stop_price="3000"
    )
    orders = {o.order_id: o for o in await venue.list_open_orders()}
    assert set(orders) == {limit.order_id, stop.order_id}
    got = orders[limit.order_id]
    assert got.account_id == ACCOUNT and got.venue is VenueKind.FUTURES
    assert got.symbol == "PF_XBTUSD" and got.side is Side.BUY and got.order_type == "limit"
    assert got.price == Decimal("60000") and got.stop_price is None
    assert got.quantity == Decimal("0.5") and got.filled == Decimal("0.1")
    assert got.client_id == "grid-7" and got.reduce_only is True
    assert got.status == "partially filled"
    assert got.opened_at == pytest.approx(limit.opened_at, abs=0.002)
    got = orders[stop.order_id]
    assert got.order_type == "stop" and got.side is Side.SELL
    assert got.stop_price == Decimal("3000.0") and got.price == Decimal("2990.0")
    assert got.client_id is None and got.reduce_only is False


# --------------------------------------------------------------------------- single cancels


async def test_single_cancel_by_order_id(sim: Sim, venue: FuturesVenue) -> None:
    order = sim.add()
    reply = await venue.execute(single(order.order_id))
    assert reply.outcomes == {order.order_id: Outcome(CancelState.CANCELLED)}
    assert reply.venue_time_in is not None and reply.venue_time_out is not None
    assert sim.exchange.get_order("futures", order.order_id).status == "canceled"  # type: ignore[union-attr]


async def test_single_cancel_by_client_id_reports_the_venue_id(sim: Sim, venue: FuturesVenue) -> None:
    order = sim.add(cl_ord_id="my-client-id")
    listed = await venue.list_open_orders()
    ref = CancelRef(IdKind.CLIENT_ID, "my-client-id")
    reply = await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (ref,), tuple(listed)))
    assert reply.outcomes == {order.order_id: Outcome(CancelState.CANCELLED)}
    assert not sim.exchange.get_order("futures", order.order_id).is_open  # type: ignore[union-attr]


async def test_single_cancel_of_unknown_order_is_already_gone(venue: FuturesVenue) -> None:
    reply = await venue.execute(single("0d2b4c8e-0000-4000-8000-000000000000"))
    assert reply.outcomes["0d2b4c8e-0000-4000-8000-000000000000"].state is CancelState.ALREADY_GONE


async def test_cancel_twice_second_is_already_gone_not_cancelled(sim: Sim, venue: FuturesVenue) -> None:
    order = sim.add()
    assert (await venue.execute(single(order.order_id))).outcomes[
        order.order_id
    ].state is CancelState.CANCELLED
    again = await venue.execute(single(order.order_id))
    assert again.outcomes[order.order_id].state is CancelState.ALREADY_GONE


async def test_order_filling_while_the_cancel_is_in_flight_is_filled(sim: Sim, venue: FuturesVenue) -> None:
    order = sim.add()
    sim.controls.fill_before_cancel.add(order.order_id)
    reply = await venue.execute(single(order.order_id))
    assert reply.outcomes == {order.order_id: Outcome(CancelState.FILLED, "could not be cancelled: filled")}
    assert sim.exchange.get_order("futures", order.order_id).status == "closed"  # type: ignore[union-attr]


async def test_partly_filled_then_cancelled_says_so(sim: Sim, venue: FuturesVenue) -> None:
    order = sim.add(qty="2")
    sim.controls.partial_fill_before_cancel.add(order.order_id)
    outcome = (await venue.execute(single(order.order_id))).outcomes[order.order_id]
    assert outcome.state is CancelState.CANCELLED
    assert outcome.reason is not None and "filled" in outcome.reason


async def test_process_before_expired_is_rejected_and_the_order_stays(sim: Sim) -> None:
    order = sim.add()
    sim.faults.latency_ms = 150.0  # the request reaches the engine ~150 ms after it was sent
    v = sim.venue(process_before_ms=20)
    try:
        outcome = (await v.execute(single(order.order_id))).outcomes[order.order_id]
    finally:
        await v.aclose()
    assert outcome.state is CancelState.REJECTED
    assert sim.exchange.get_order("futures", order.order_id).is_open  # type: ignore[union-attr]


async def test_process_before_in_time_cancels(sim: Sim) -> None:
    order = sim.add()
    v = sim.venue(process_before_ms=5000)
    try:
        outcome = (await v.execute(single(order.order_id))).outcomes[order.order_id]
    finally:
        await v.aclose()
    assert outcome.state is CancelState.CANCELLED


async def test_process_before_uses_the_clock_at_the_request(sim: Sim) -> None:
    order = sim.add()
    v = sim.venue(process_before_ms=1000, clock=lambda: time.time() - 60)
    try:
        outcome = (await v.execute(single(order.order_id))).outcomes[order.order_id]
    finally:
        await v.aclose()
    assert outcome.state is CancelState.REJECTED


# --------------------------------------------------------------------------- batch and cancel-all


async def test_batch_with_cancelled_filled_and_not_found_items(sim: Sim, venue: FuturesVenue) -> None:
    live = sim.add()
    filling = sim.add(cl_ord_id="filling-cli")
    already = sim.add()
    sim.exchange.cancel("futures", already.order_id)
    by_cli = sim.add(cl_ord_id="cli with space")
    sim.controls.fill_before_cancel.add(filling.order_id)
    sim.controls.shuffle_batch = True  # Kraken: "in no particular order"
    refs = (
        CancelRef(IdKind.ORDER_ID, live.order_id),
        CancelRef(IdKind.ORDER_ID, filling.order_id),
        CancelRef(IdKind.ORDER_ID, already.order_id),
        CancelRef(IdKind.CLIENT_ID, "cli with space"),
    )
    known = (sim_order(live), sim_order(filling), sim_order(by_cli))
    reply = await venue.execute(CancelRequest(ACCOUNT, RequestForm.BATCH, refs, known))
    assert reply.outcomes == {
        live.order_id: Outcome(CancelState.CANCELLED),
        filling.order_id: Outcome(CancelState.FILLED, "could not be cancelled: filled"),
        already.order_id: Outcome(CancelState.ALREADY_GONE, "not found: cancelled or filled before"),
        by_cli.order_id: Outcome(CancelState.CANCELLED),
    }
    assert reply.venue_time_in is not None and reply.venue_time_out is not None
    assert sim.exchange.open_count("futures") == 0


async def test_planner_batches_fit_the_venue(sim: Sim, venue: FuturesVenue) -> None:
    made = [sim.add(price=str(50000 + i)) for i in range(60)]
    listed = await venue.list_open_orders()
    plan = plan_cancel(
        CancelIntent(Scope.ORDERS, tuple(listed)), {ACCOUNT: listed}, {ACCOUNT: venue.capabilities.limits}
    )
    assert [r.form for r in plan.requests] == [RequestForm.BATCH, RequestForm.BATCH]
    outcomes: dict[str, Outcome] = {}
    for request in plan.requests:
        outcomes.update((await venue.execute(request)).outcomes)
    assert outcomes == {o.order_id: Outcome(CancelState.CANCELLED) for o in made}


async def test_cancel_all_for_symbol_leaves_other_symbols(sim: Sim, venue: FuturesVenue) -> None:
    xbt = [sim.add() for _ in range(3)]
    eth = sim.add("PF_ETHUSD", price="3000")
    request = CancelRequest(ACCOUNT, RequestForm.ALL_FOR_SYMBOL, (), (), "PF_XBTUSD")
    reply = await venue.execute(request)
    assert reply.outcomes == {o.order_id: Outcome(CancelState.CANCELLED) for o in xbt}
    assert reply.count == 3
    assert sim.exchange.get_order("futures", eth.order_id).is_open  # type: ignore[union-attr]
    assert [o.order_id for o in await venue.list_open_orders()] == [eth.order_id]


async def test_cancel_all_for_symbol_without_symbol_is_refused_not_widened(
    sim: Sim, venue: FuturesVenue
) -> None:
    order = sim.add()
    with pytest.raises(ValueError, match="never widened"):
        await venue.execute(CancelRequest(ACCOUNT, RequestForm.ALL_FOR_SYMBOL, (), ()))
    assert sim.exchange.get_order("futures", order.order_id).is_open  # type: ignore[union-attr]


async def test_cancel_all(sim: Sim, venue: FuturesVenue) -> None:
    made = [sim.add(), sim.add("PF_SOLUSD", price="140")]
    reply = await venue.execute(CancelRequest(ACCOUNT, RequestForm.ALL, (), ()))
    assert reply.outcomes == {o.order_id: Outcome(CancelState.CANCELLED) for o in made}
    empty = await venue.execute(CancelRequest(ACCOUNT, RequestForm.ALL, (), ()))
    assert empty.outcomes == {} and empty.count == 0


async def test_userref_is_refused(venue: FuturesVenue) -> None:
    with pytest.raises(ValueError, match="userref"):
        await venue.execute(CancelRequest(ACCOUNT, RequestForm.SINGLE, (CancelRef(IdKind.USERREF, "1"),), ()))


# --------------------------------------------------------------------------- failures


async def test_dropped_connection_is_transport_error_never_an_outcome(sim: Sim, venue: FuturesVenue) -> None:
    order = sim.add()
    sim.faults.drop_connection = 1
    with pytest.raises(TransportError) as info:
        await venue.execute(single(order.order_id))
    assert info.value.effect_unknown
    # Still open: and the venue did not claim anything about it.
    assert sim.exchange.get_order("futures", order.order_id).is_open  # type: ignore[union-attr]


async def test_timeout_is_transport_error(sim: Sim) -> None:
    order = sim.add()
    sim.faults.hang = 1
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as client:
        v = sim.venue(client=client)
        with pytest.raises(TransportError) as info:
            await v.execute(single(order.order_id))
        await v.aclose()
    assert info.value.effect_unknown


async def test_html_page_and_5xx_are_unavailable(sim: Sim, venue: FuturesVenue) -> None:
    sim.faults.html_error_page = 1
    with pytest.raises(VenueUnavailable):
        await venue.list_open_orders()
    sim.faults.http_5xx = 1
    with pytest.raises(VenueUnavailable):
        await venue.list_open_orders()
    sim.faults.service_unavailable = 1
    with pytest.raises(VenueUnavailable):
        await venue.list_open_orders()
    assert await venue.list_open_orders() == []


async def test_connection_refused_is_unavailable(sim: Sim) -> None:
    v = FuturesVenue(ACCOUNT, "http://127.0.0.1:9", "ws://127.0.0.1:9/ws/v1", sim.creds, NonceSource())
    try:
        with pytest.raises(VenueUnavailable):
            await v.list_open_orders()
    finally:
        await v.aclose()


async def test_bad_key_is_auth_error(sim: Sim) -> None:
    other = sim.exchange.add_account("other", "futures")
    wrong = Credentials(sim.creds.api_key, other.secret)
    v = sim.venue(creds=wrong)
    try:
        with pytest.raises(AuthError) as info:
            await v.list_open_orders()
        assert info.value.venue_error == "authenticationError"
        assert wrong.secret not in str(info.value)
    finally:
        await v.aclose()


async def test_nonce_below_threshold_is_auth_error(sim: Sim) -> None:
    # Another program already used higher nonces on this key: ours (from a clock stuck in 1970)
    # are below the threshold once the window has filled.
    stuck = NonceSource(clock=lambda: 1)
    high = sim.venue()
    try:
        for _ in range(70):
            await high.list_open_orders()
    finally:
        await high.aclose()
    low = FuturesVenue(ACCOUNT, sim.endpoints["futures_rest"], sim.endpoints["futures_ws"], sim.creds, stuck)
    try:
        with pytest.raises(AuthError) as info:
            await low.list_open_orders()
        assert info.value.venue_error == "nonceBelowThreshold"
    finally:
        await low.aclose()


async def test_concurrent_calls_keep_nonces_in_order(sim: Sim, venue: FuturesVenue) -> None:
    orders = [sim.add(price=str(55000 + i)) for i in range(10)]
    results = await asyncio.gather(
        *(venue.execute(single(o.order_id)) for o in orders), *(venue.list_open_orders() for _ in range(10))
    )
    assert all(not isinstance(r, BaseException) for r in results)
    assert sim.exchange.open_count("futures") == 0


# --------------------------------------------------------------------------- rate budget


async def test_api_limit_exceeded_backs_off_then_recovers(sim: Sim, venue: FuturesVenue) -> None:
    assert sim.exchange.charge_futures("futures", 499)  # another program used the key's budget
    with pytest.raises(RateLimited) as info:
        await venue.list_open_orders()
    assert info.value.venue_error == "apiLimitExceeded"
    assert info.value.retry_after == 1.0
    started = time.monotonic()
    assert await venue.list_open_orders() == []
    assert time.monotonic() - started >= 0.9  # waited out the back-off instead of hammering


async def test_client_budget_waits_instead_of_exceeding(sim: Sim, venue: FuturesVenue) -> None:
    orders = [sim.add(price=str(40000 + i)) for i in range(55)]  # 55 x 10 = 550 > 500
    started = time.monotonic()
    replies = await asyncio.gather(*(venue.execute(single(o.order_id)) for o in orders))
    elapsed = time.monotonic() - started
    assert all(
        r.outcomes[o.order_id].state is CancelState.CANCELLED for r, o in zip(replies, orders, strict=True)
    )
    assert elapsed >= 0.9  # the last 50 units had to refill at 50/s


async def test_http_429_is_rate_limited(sim: Sim, venue: FuturesVenue) -> None:
    sim.faults.throttled = 1
    with pytest.raises(RateLimited):
        await venue.list_open_orders()


# --------------------------------------------------------------------------- dead man's switch, key check


async def test_arm_and_disarm_deadman(sim: Sim, venue: FuturesVenue) -> None:
    armed = await venue.arm_deadman(60)
    assert armed.current_time is not None and armed.trigger_time is not None
    assert sim.exchange.deadman_trigger_time("futures") is not None
    disarmed = await venue.arm_deadman(0)
    assert disarmed.trigger_time is None
    assert sim.exchange.deadman_trigger_time("futures") is None


async def test_check_key_full_and_read_only(sim: Sim, venue: FuturesVenue) -> None:
    check = await venue.check_key()
    assert check.can_query is True and check.can_cancel is True
    ro = sim.exchange.add_account("readonly", "futures", permissions={"query"})
    v = sim.venue(creds=Credentials(ro.api_key, ro.secret))
    try:
        check = await v.check_key()
    finally:
        await v.aclose()
    assert check.can_query is True and check.can_cancel is False
    assert check.notes


# --------------------------------------------------------------------------- stream


class Collector:
    def __init__(self) -> None:
        self.events: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self.links: list[tuple[LinkState, str]] = []
        self.live = asyncio.Event()
        self.changed = asyncio.Event()

    def sink(self, event: StreamEvent) -> None:
        self.events.put_nowait(event)

    def link(self, state: LinkState, text: str) -> None:
        self.links.append((state, text))
        self.changed.set()
        if state is LinkState.LIVE:
            self.live.set()
        else:
            self.live.clear()

    async def next(self, kind: StreamKind | None = None) -> StreamEvent:
        while True:
            event = await asyncio.wait_for(self.events.get(), 5)
            if kind is None or event.kind is kind:
                return event


@pytest.fixture
async def streaming(venue: FuturesVenue) -> AsyncIterator[Collector]:
    collector = Collector()
    task = asyncio.create_task(venue.run_stream(collector.sink, collector.link), name="test-futures-stream")
    try:
        yield collector
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_stream_snapshot_delta_and_removals(
    sim: Sim, venue: FuturesVenue, streaming: Collector
) -> None:
    first = sim.add(cl_ord_id="in-snapshot")
    snap = await streaming.next(StreamKind.SNAPSHOT)
    assert [o.order_id for o in snap.orders] == [first.order_id]
    assert snap.orders[0].client_id == "in-snapshot"
    assert streaming.links[0][0] is LinkState.CONNECTING
    await asyncio.wait_for(streaming.live.wait(), 5)

    second = sim.add("PF_ETHUSD", side="sell", price="3300", qty="2")
    upsert = await streaming.next()
    assert upsert.kind is StreamKind.UPSERT and upsert.orders[0].order_id == second.order_id
    assert upsert.orders[0].side is Side.SELL and upsert.orders[0].quantity == Decimal("2.000")

    sim.exchange.fill("futures", second.order_id, "0.5")
    partial = await streaming.next()
    assert partial.kind is StreamKind.UPSERT and partial.orders[0].filled == Decimal("0.500")

    await venue.execute(single(first.order_id))
    removed = await streaming.next()
    assert removed.kind is StreamKind.REMOVED and removed.order_id == first.order_id
    assert removed.outcome == Outcome(CancelState.CANCELLED, "cancelled_by_user")

    sim.exchange.fill("futures", second.order_id)
    filled = await streaming.next()
    assert filled.outcome == Outcome(CancelState.FILLED, "full_fill")

    third = sim.add()
    await streaming.next(StreamKind.UPSERT)
    sim.exchange.cancel("futures", third.order_id, "liquidation")
    liquidated = await streaming.next()
    assert liquidated.outcome == Outcome(CancelState.ALREADY_GONE, "liquidation")

    # What the stream proved is what confirm() reports.
    confirmed = await venue.confirm([sim_order(first), sim_order(second), sim_order(third)])
    assert confirmed == {
        first.order_id: Outcome(CancelState.CANCELLED, "cancelled_by_user"),
        second.order_id: Outcome(CancelState.FILLED, "full_fill"),
        third.order_id: Outcome(CancelState.ALREADY_GONE, "liquidation"),
    }


async def test_stream_reports_dead_man_switch_cancels(
    sim: Sim, venue: FuturesVenue, streaming: Collector
) -> None:
    order = sim.add()
    await streaming.next(StreamKind.SNAPSHOT)
    await venue.arm_deadman(1)
    removed = await streaming.next(StreamKind.REMOVED)
    assert removed.order_id == order.order_id
    assert removed.outcome == Outcome(CancelState.CANCELLED, "dead_man_switch")


async def test_stream_reconnects_with_a_fresh_snapshot(sim: Sim, streaming: Collector) -> None:
    before = sim.add()
    await streaming.next(StreamKind.SNAPSHOT)
    await asyncio.wait_for(streaming.live.wait(), 5)
    assert sim.host.drop_ws() == 1
    sim.exchange.cancel("futures", before.order_id)  # happens while we are away
    after = sim.add("PF_SOLUSD", price="150")
    snap = await streaming.next(StreamKind.SNAPSHOT)
    assert [o.order_id for o in snap.orders] == [after.order_id]
    states = [s for s, _ in streaming.links]
    assert LinkState.RECONNECTING in states
    assert states[-1] is LinkState.LIVE


async def test_stream_survives_a_mid_stream_drop_fault(sim: Sim, streaming: Collector) -> None:
    await streaming.next(StreamKind.SNAPSHOT)
    await asyncio.wait_for(streaming.live.wait(), 5)
    sim.faults.drop_connection = 1
    lost = sim.add()  # its delta is where the socket is cut
    snap = await streaming.next(StreamKind.SNAPSHOT)
    assert [o.order_id for o in snap.orders] == [lost.order_id]


async def test_stream_with_a_bad_secret_is_down_and_does_not_hammer(sim: Sim) -> None:
    other = sim.exchange.add_account("other", "futures")
    v = sim.venue(creds=Credentials(sim.creds.api_key, other.secret))
    collector = Collector()
    task = asyncio.create_task(v.run_stream(collector.sink, collector.link))
    try:
        async with asyncio.timeout(10):
            while not collector.links or collector.links[-1][0] is not LinkState.DOWN:
                collector.changed.clear()
                await collector.changed.wait()
        assert "refused the signed challenge" in collector.links[-1][1]
        await asyncio.sleep(0.3)
        assert v.link.connects == 1  # a refused key waits for reconnect-now or a late retry
    finally:
        task.cancel()
        await v.aclose()
    assert collector.events.empty()


async def test_confirm_without_stream_lists(sim: Sim, venue: FuturesVenue) -> None:
    still = sim.add()
    gone = sim.add()
    sim.exchange.cancel("futures", gone.order_id)
    confirmed = await venue.confirm([sim_order(still), sim_order(gone)])
    assert confirmed[still.order_id].state is CancelState.FAILED
    assert confirmed[gone.order_id].state is CancelState.ALREADY_GONE


def sim_order(order: SimOrder) -> Order:
    """The console's view of a simulator order (enough for requests and confirm)."""
    return Order(
        account_id=ACCOUNT,
        venue=VenueKind.FUTURES,
        order_id=order.order_id,
        symbol=order.symbol,
        side=Side(order.side),
        order_type="limit",
        price=Decimal(order.price),
        quantity=Decimal(order.qty),
        filled=Decimal(order.filled),
        opened_at=order.opened_at,
        client_id=order.cl_ord_id,
    )

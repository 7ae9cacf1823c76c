"""PrimeWsVenue against the simulated Prime host over real sockets: listing, streams, cancels, failures."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from app.core.accounts import Credentials, LinkState
from app.core.errors import AuthError, VenueUnavailable
from app.core.ledger import CancelState
from app.core.orders import CancelRef, IdKind, Order, Side, VenueKind
from app.core.plan import CancelIntent, CancelRequest, RequestForm, Scope, plan_cancel
from app.sim.faults import Faults
from app.sim.prime import PrimeHost
from app.sim.server import HostContext, HostSpec, SimServer
from app.sim.state import Account, Exchange, MarketActivity
from app.venues.base import StreamEvent, StreamKind, Venue
from app.venues.link import LinkSettings
from app.venues.prime.venue import PRIME_LINK, PrimeWsVenue

_LINK_FIELDS = {f.name for f in dataclasses.fields(LinkSettings)}

pytestmark = pytest.mark.timeout(60)


@dataclass
class PrimeSim:
    exchange: Exchange
    host: PrimeHost
    url: str
    account: Account
    faults: Faults
    venues: list[PrimeWsVenue] = field(default_factory=list)

    def venue(self, **kw: Any) -> PrimeWsVenue:
        creds = Credentials(kw.pop("api_key", self.account.api_key), kw.pop("secret", self.account.secret))
        link = {"request_timeout_s": 3.0, "backoff_base_s": 0.05, "backoff_cap_s": 0.2}
        link.update({k: kw.pop(k) for k in list(kw) if k in _LINK_FIELDS})
        venue = PrimeWsVenue("prime", self.url, creds, settings=dataclasses.replace(PRIME_LINK, **link), **kw)
        self.venues.append(venue)
        return venue

    def open_ids(self) -> set[str]:
        return {o.order_id for o in self.exchange.open_orders("prime")}


@pytest.fixture
async def prime() -> AsyncIterator[PrimeSim]:
    exchange = Exchange(seed=5, rate_limits=False)
    account = exchange.add_account("prime", "prime")
    exchange.generate_orders("prime", 12, random.Random(2))
    hosts: list[PrimeHost] = []

    def build(ctx: HostContext) -> Any:
        hosts.append(PrimeHost(ctx))
        return hosts[0].app()

    faults = Faults()
    spec = HostSpec("prime", build=build, urls=(("prime_ws", "ws://{addr}/ws/v1"),))
    server = SimServer(exchange, faults, hosts=[spec])
    endpoints = await server.start()
    sim = PrimeSim(exchange, hosts[0], endpoints["prime_ws"], account, faults)
    try:
        yield sim
    finally:
        for venue in sim.venues:
            await venue.aclose()
        await server.stop()


def _single(order: Order) -> CancelRequest:
    return CancelRequest("prime", RequestForm.SINGLE, (CancelRef.of(order),), (order,))


def _batch(orders: list[Order]) -> CancelRequest:
    return CancelRequest("prime", RequestForm.BATCH, tuple(CancelRef.of(o) for o in orders), tuple(orders))


async def _until(cond: Callable[[], bool], wait_s: float = 5.0) -> None:
    async with asyncio.timeout(wait_s):
        while not cond():  # noqa: ASYNC110 - polls state owned by the simulator, no event to await
            await asyncio.sleep(0.01)


@dataclass
class Stream:
    events: list[StreamEvent] = field(default_factory=list)
    links: list[tuple[LinkState, str]] = field(default_factory=list)

    def sink(self, event: StreamEvent) -> None:
        self.events.append(event)

    def link(self, state: LinkState, text: str) -> None:
        self.links.append((state, text))

    def kinds(self) -> list[StreamKind]:
        return [e.kind for e in self.events]


@contextlib.asynccontextmanager
async def streaming(venue: PrimeWsVenue) -> AsyncIterator[tuple[Stream, asyncio.Task[None]]]:
    stream = Stream()
    task = asyncio.create_task(venue.run_stream(stream.sink, stream.link), name="test-prime-stream")
    try:
        yield stream, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, AuthError):
            await task


async def test_is_a_venue_without_cancel_all(prime: PrimeSim) -> None:
    venue = prime.venue()
    assert isinstance(venue, Venue)
    assert (
        venue.capabilities.streaming
        and not venue.capabilities.limits.cancel_all
        and venue.capabilities.limits.min_batch == 2
    )
    assert "secret" not in repr(venue) and prime.account.secret not in repr(venue)
    orders = await venue.list_open_orders()
    # Cancel-all and the kill switch fan out into per-order batches (Prime has no cancel-all).
    plan = plan_cancel(
        CancelIntent(Scope.ACCOUNT, account_ids=("prime",)),
        {"prime": orders},
        {"prime": venue.capabilities.limits},
    )
    assert [r.form for r in plan.requests] == [RequestForm.BATCH]
    assert {r.value for r in plan.requests[0].refs} == prime.open_ids()
    with pytest.raises(ValueError, match="cancel-all"):
        await venue.execute(CancelRequest("prime", RequestForm.ALL, (), tuple(orders)))


async def test_lists_the_initial_snapshot(prime: PrimeSim) -> None:
    venue = prime.venue()
    orders = await venue.list_open_orders()
    assert {o.order_id for o in orders} == prime.open_ids()
    by_id = {o.order_id: o for o in prime.exchange.open_orders("prime")}
    for order in orders:
        sim_order = by_id[order.order_id]
        assert order.symbol == sim_order.symbol and order.side.value == sim_order.side
        assert order.quantity == Decimal(sim_order.qty) and order.filled == Decimal(sim_order.filled)
        assert order.client_id == sim_order.cl_ord_id
        assert abs(order.opened_at - sim_order.opened_at) < 1e-3


async def test_stream_snapshot_then_updates_and_removals(prime: PrimeSim) -> None:
    venue = prime.venue()
    async with streaming(venue) as (stream, _):
        await _until(lambda: StreamKind.SNAPSHOT in stream.kinds())
        assert (LinkState.LIVE, stream.links[-1][1]) == stream.links[-1]
        snapshot = stream.events[0]
        assert {o.order_id for o in snapshot.orders} == prime.open_ids()
        new = prime.exchange.add_order("prime", "SOL-USD", "sell", "limit", "10", "150")
        await _until(lambda: any(o.order_id == new.order_id for e in stream.events for o in e.orders))
        prime.exchange.fill("prime", new.order_id, "4")
        await _until(lambda: any(o.filled == Decimal(4) for e in stream.events for o in e.orders))
        prime.exchange.cancel("prime", new.order_id)
        await _until(lambda: stream.events[-1].kind is StreamKind.REMOVED)
        removed = stream.events[-1]
        other = next(iter(prime.open_ids()))
        prime.exchange.fill("prime", other)
        await _until(lambda: stream.events[-1].order_id == other)
    assert removed.order_id == new.order_id
    assert removed.outcome is not None and removed.outcome.state is CancelState.CANCELLED
    filled = stream.events[-1]
    assert filled.kind is StreamKind.REMOVED and filled.outcome is not None
    assert filled.outcome.state is CancelState.FILLED
    assert {o.order_id for o in await venue.list_open_orders()} == prime.open_ids()


async def test_cancel_one_is_cancelled_by_the_streams_word(prime: PrimeSim) -> None:
    venue = prime.venue()
    order = (await venue.list_open_orders())[0]
    reply = await venue.execute(_single(order))
    assert reply.outcomes == {order.order_id: reply.outcomes[order.order_id]}
    assert reply.outcomes[order.order_id].state is CancelState.CANCELLED
    assert order.order_id not in prime.open_ids()
    assert order.order_id not in {o.order_id for o in await venue.list_open_orders()}


async def test_cancel_many_in_one_request(prime: PrimeSim) -> None:
    venue = prime.venue()
    orders = (await venue.list_open_orders())[:7]
    reply = await venue.execute(_batch(orders))
    assert {k: v.state for k, v in reply.outcomes.items()} == {
        o.order_id: CancelState.CANCELLED for o in orders
    }
    assert prime.host.requests["OrderCancelRequest"] == 1
    assert not prime.open_ids() & {o.order_id for o in orders}
    assert len(prime.open_ids()) == 5


async def test_cancel_by_client_id(prime: PrimeSim) -> None:
    venue = prime.venue()
    order = next(o for o in await venue.list_open_orders() if o.client_id)
    request = CancelRequest(
        "prime", RequestForm.SINGLE, (CancelRef(IdKind.CLIENT_ID, order.client_id or ""),), (order,)
    )
    reply = await venue.execute(request)
    assert reply.outcomes[order.order_id].state is CancelState.CANCELLED
    assert order.order_id not in prime.open_ids()


async def test_unknown_order_is_already_gone_never_cancelled(prime: PrimeSim) -> None:
    venue = prime.venue()
    real = (await venue.list_open_orders())[0]
    ghost = Order(
        "prime",
        real.venue,
        "16a55364-4248-4575-aa0b-dddd3f694ca3",
        "BTC-USD",
        real.side,
        "limit",
        None,
        Decimal(1),
        Decimal(0),
        0.0,
    )
    reply = await venue.execute(_batch([ghost, real]))
    assert reply.outcomes[ghost.order_id].state is CancelState.ALREADY_GONE
    assert "nknown order" in (reply.outcomes[ghost.order_id].reason or "")
    assert reply.outcomes[real.order_id].state is CancelState.CANCELLED
    again = await venue.execute(_single(real))  # a retry after the first worked
    assert again.outcomes[real.order_id].state is CancelState.ALREADY_GONE


async def test_cancel_of_a_just_filled_order_is_filled(prime: PrimeSim) -> None:
    venue = prime.venue()
    order = (await venue.list_open_orders())[0]
    prime.exchange.fill("prime", order.order_id)
    reply = await venue.execute(_single(order))
    assert reply.outcomes[order.order_id].state is CancelState.FILLED


async def test_fill_while_the_cancel_is_pending_is_filled(prime: PrimeSim) -> None:
    prime.host.pending_cancel_s = 0.3
    venue = prime.venue()
    order = (await venue.list_open_orders())[0]
    sent = asyncio.create_task(venue.execute(_single(order)))
    await _until(lambda: prime.host.requests["OrderCancelRequest"] == 1)
    await asyncio.sleep(0.05)
    prime.exchange.fill("prime", order.order_id)
    reply = await sent
    assert reply.outcomes[order.order_id].state is CancelState.FILLED


async def test_refused_sign_in_is_an_auth_error_with_what_to_do(prime: PrimeSim) -> None:
    venue = prime.venue(secret="not-the-secret")
    with pytest.raises(AuthError, match="clock") as info:
        await venue.list_open_orders()
    assert "not-the-secret" not in str(info.value) and "HTTP 401: Invalid signature" in str(info.value)
    skewed = prime.venue(clock=lambda: time.time() - 120)
    with pytest.raises(AuthError):
        await skewed.execute(_single(prime_order(prime)))
    assert prime.host.requests["OrderCancelRequest"] == 0
    async with streaming(prime.venue(secret="nope")) as (stream, task):
        await _until(lambda: bool(stream.links) and stream.links[-1][0] is LinkState.DOWN)
        assert not task.done()  # DOWN waits for reconnect-now or a late retry; it does not hammer
    assert stream.links[0][0] is LinkState.CONNECTING and stream.links[-1][0] is LinkState.DOWN
    assert "refused the sign-in" in stream.links[-1][1]


def prime_order(prime: PrimeSim) -> Order:
    sim_order = prime.exchange.open_orders("prime")[0]
    return Order(
        "prime",
        VenueKind.PRIME,
        sim_order.order_id,
        sim_order.symbol,
        Side(sim_order.side),
        "limit",
        None,
        Decimal(1),
        Decimal(0),
        0.0,
    )


async def test_unreachable_host_is_unavailable_nothing_sent(prime: PrimeSim) -> None:
    venue = prime.venue()
    venue._url = "ws://127.0.0.1:9/ws/v1"  # nothing listens on the discard port
    with pytest.raises(VenueUnavailable, match="nothing was sent"):
        await venue.execute(_single(prime_order(prime)))


async def test_dropped_socket_after_the_cancel_is_unknown_then_confirmed(prime: PrimeSim) -> None:
    venue = prime.venue()
    orders = (await venue.list_open_orders())[:3]
    prime.faults.drop_connection = 1  # the next message: applied, then the socket dies unanswered
    reply = await venue.execute(_batch(orders))
    assert {v.state for v in reply.outcomes.values()} == {CancelState.UNKNOWN}
    assert all("dropped" in (v.reason or "") for v in reply.outcomes.values())
    assert not prime.open_ids() & {o.order_id for o in orders}  # it did happen at Kraken
    confirmed = await venue.confirm(orders)  # a fresh connection asks per OrderID
    assert {k: v.state for k, v in confirmed.items()} == {o.order_id: CancelState.CANCELLED for o in orders}


async def test_dropped_socket_before_the_cancel_is_unknown_then_still_open(prime: PrimeSim) -> None:
    prime.host.drop_after_apply = False
    venue = prime.venue()
    order = (await venue.list_open_orders())[0]
    prime.faults.drop_connection = 1
    reply = await venue.execute(_single(order))
    assert reply.outcomes[order.order_id].state is CancelState.UNKNOWN
    assert order.order_id in prime.open_ids()
    confirmed = await venue.confirm([order])
    assert confirmed[order.order_id].state is CancelState.FAILED


async def test_no_final_word_in_time_is_unknown_never_cancelled(prime: PrimeSim) -> None:
    prime.host.pending_cancel_s = 0.8
    venue = prime.venue(request_timeout_s=0.2)
    order = (await venue.list_open_orders())[0]
    reply = await venue.execute(_single(order))
    outcome = reply.outcomes[order.order_id]
    assert outcome.state is CancelState.UNKNOWN and "PendingCancel" in (outcome.reason or "")
    assert await venue.confirm([order]) == {}  # still pending cancel: stays unknown
    await _until(lambda: order.order_id not in prime.open_ids())
    await asyncio.sleep(0.05)
    confirmed = await venue.confirm([order])
    assert confirmed[order.order_id].state is CancelState.CANCELLED


async def test_confirm_tells_filled_gone_and_open_apart(prime: PrimeSim) -> None:
    venue = prime.venue()
    a, b, c = (await venue.list_open_orders())[:3]
    prime.exchange.fill("prime", a.order_id)
    ghost = Order(
        "prime", a.venue, "no-such-order", "BTC-USD", a.side, "limit", None, Decimal(1), Decimal(0), 0.0
    )
    fresh = prime.venue()  # knows no closed facts: must ask Kraken per OrderID
    confirmed = await fresh.confirm([a, b, ghost])
    assert confirmed[a.order_id].state is CancelState.FILLED
    assert confirmed[b.order_id].state is CancelState.FAILED
    assert confirmed[ghost.order_id].state is CancelState.ALREADY_GONE
    assert c.order_id in prime.open_ids()
    await _until(lambda: prime.host.requests["cancel"] == 3)  # each one-shot stream was stopped
    assert prime.host.requests["OrderCancelRequest"] == 0


async def test_reconnects_with_a_fresh_snapshot(prime: PrimeSim) -> None:
    venue = prime.venue()
    async with streaming(venue) as (stream, _):
        await _until(lambda: stream.kinds().count(StreamKind.SNAPSHOT) == 1)
        gone = next(iter(prime.open_ids()))
        prime.host.pending_cancel_s = 0  # nothing pending
        assert prime.host.drop_all() == 1
        prime.exchange.cancel("prime", gone)  # while we are away
        await _until(lambda: stream.kinds().count(StreamKind.SNAPSHOT) == 2)
        await _until(lambda: stream.links[-1][0] is LinkState.LIVE)
    states = [s for s, _ in stream.links]
    assert states[:2] == [LinkState.CONNECTING, LinkState.LIVE]
    assert LinkState.RECONNECTING in states[2:]
    second = [e for e in stream.events if e.kind is StreamKind.SNAPSHOT][1]
    assert {o.order_id for o in second.orders} == prime.open_ids() and gone not in {
        o.order_id for o in second.orders
    }


async def test_ping_pong(prime: PrimeSim) -> None:
    venue = prime.venue()
    rtt = await venue.ping()
    assert 0 < rtt < 2
    assert prime.host.requests["Ping"] == 1


async def test_silent_link_is_noticed_by_ping_and_reconnected(prime: PrimeSim) -> None:
    venue = prime.venue(ping_interval_s=0.1, pong_timeout_s=0.2)
    async with streaming(venue) as (stream, _):
        await _until(lambda: stream.links and stream.links[-1][0] is LinkState.LIVE)
        prime.faults.latency_ms = 400  # answers now come later than the Pong deadline
        await _until(lambda: any(s is LinkState.RECONNECTING for s, _ in stream.links))
        prime.faults.latency_ms = 0
        await _until(lambda: stream.kinds().count(StreamKind.SNAPSHOT) >= 2)
    assert any("no answer to a ping" in text for _, text in stream.links)


async def test_check_key(prime: PrimeSim) -> None:
    venue = prime.venue()
    check = await venue.check_key()
    assert (check.can_query, check.can_cancel, check.can_websocket) == (True, True, True)
    assert len(prime.open_ids()) == 12


async def test_concurrent_requests_keep_their_outcomes_apart(prime: PrimeSim) -> None:
    venue = prime.venue()
    orders = await venue.list_open_orders()
    replies = await asyncio.gather(venue.execute(_batch(orders[:4])), venue.execute(_batch(orders[4:8])))
    assert [set(r.outcomes) for r in replies] == [
        {o.order_id for o in orders[:4]},
        {o.order_id for o in orders[4:8]},
    ]
    assert all(v.state is CancelState.CANCELLED for r in replies for v in r.outcomes.values())


async def test_cancels_racing_market_activity_stay_truthful(prime: PrimeSim) -> None:
    activity = MarketActivity(prime.exchange, random.Random(9), rate_per_s=300, accounts=["prime"])
    activity.start()
    seen: set[CancelState] = set()
    try:
        venue = prime.venue()
        for _ in range(6):
            orders = await venue.list_open_orders()
            reply = await venue.execute(_batch(orders[:100]))
            for order_id, outcome in reply.outcomes.items():
                seen.add(outcome.state)
                status = prime.exchange.get_order("prime", order_id).status  # type: ignore[union-attr]
                expected = {
                    CancelState.CANCELLED: {"canceled"},
                    CancelState.FILLED: {"closed"},
                    CancelState.ALREADY_GONE: {"closed", "canceled", "expired"},
                }[outcome.state]
                assert status in expected, (outcome, status)
            await asyncio.sleep(0.05)
    finally:
        await activity.stop()
    assert CancelState.CANCELLED in seen


async def test_key_without_cancel_rights_is_rejected_not_gone(prime: PrimeSim) -> None:
    weak = prime.exchange.add_account("prime-ro", "prime", permissions={"query"})
    venue = prime.venue(api_key=weak.api_key, secret=weak.secret)
    mine = prime.exchange.add_order("prime-ro", "BTC-USD", "buy", "limit", "1", "60000")
    order = next(o for o in await venue.list_open_orders() if o.order_id == mine.order_id)
    reply = await venue.execute(_single(order))
    outcome = reply.outcomes[order.order_id]
    assert outcome.state is CancelState.REJECTED and outcome.reason == "Permission denied"
    assert mine.is_open
    check = await venue.check_key()
    assert (check.can_query, check.can_cancel) == (True, False) and check.notes

"""The link engine with a scripted connection and protocol: states, back-off, keep-alive, requests."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import websockets.exceptions

from app.core.accounts import LinkState
from app.core.errors import AuthError, TransportError, VenueUnavailable
from app.core.ledger import CancelState, Outcome
from app.core.orders import Order, Side, VenueKind
from app.venues.backoff import jittered_backoff
from app.venues.base import StreamEvent, StreamKind
from app.venues.link import Link, LinkSettings, OutcomeCache
from app.venues.sansio import SessionProtocol, Ticket

pytestmark = pytest.mark.timeout(20)

FAST = LinkSettings(
    open_timeout_s=1.0,
    request_timeout_s=0.3,
    settle_s=None,
    ping_interval_s=0.0,
    backoff_base_s=1.0,
    backoff_cap_s=8.0,
    stable_after_s=10.0,
    auth_retry_s=300.0,
)


def order(order_id: str) -> Order:
    return Order(
        "a", VenueKind.SPOT, order_id, "BTC/USD", Side.BUY, "limit", Decimal(1), Decimal(1), Decimal(0), 0.0
    )


class EchoProtocol(SessionProtocol):
    """Live after "snapshot"; "ask N" requests are answered by "answer N"; "refuse" is an auth failure."""

    def __init__(self) -> None:
        super().__init__()
        self.book: list[Order] = []
        self.tickets: dict[str, Ticket[str]] = {}
        self.lost: str | None = None
        self.pings = 0

    def connection_made(self) -> None:
        self._send("hello")

    def receive(self, frame: str | bytes) -> None:
        text = str(frame)
        if text == "snapshot":
            self.book = [order("O1")]
            self.live = True
            self._emit(StreamEvent(StreamKind.SNAPSHOT, tuple(self.book)))
        elif text == "refuse":
            self._fail_connection("Kraken refused the key", auth=True)
        elif text.startswith("answer "):
            ticket = self.tickets.pop(text.split()[1], None)
            if ticket is not None:
                ticket.resolve(text)
        elif text.startswith("gone "):
            self._emit(
                StreamEvent(
                    StreamKind.REMOVED, order_id=text.split()[1], outcome=Outcome(CancelState.CANCELLED)
                )
            )

    def ask(self, n: str) -> Ticket[str]:
        ticket: Ticket[str] = Ticket(f"ask {n}")
        self.tickets[n] = ticket
        self._send(f"ask {n}", ticket)
        return ticket

    def ping(self) -> bool:
        self.pings += 1
        self._send("ping")
        return True

    def expire(self, ticket: Ticket[Any]) -> None:
        ticket.fail(TransportError(f"{ticket.what}: no answer; effect unknown"))

    def connection_lost(self, reason: str) -> None:
        self.lost = reason
        for ticket in self.tickets.values():
            ticket.fail(TransportError(f"{ticket.what}: dropped; effect unknown"))

    def orders(self) -> list[Order]:
        return list(self.book)


class FakeConn:
    """A socket to a scripted peer: ``script`` answers what the client sends."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[str] = []
        self.closed = False

    async def send(self, message: str) -> None:
        if self.closed:
            raise websockets.exceptions.ConnectionClosedOK(None, None)
        self.sent.append(message)
        self.peer.answer(self, message)

    async def recv(self) -> str:
        item = await self.inbox.get()
        if item is None:
            raise websockets.exceptions.ConnectionClosedOK(None, None)
        return item

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.inbox.put_nowait(None)

    def push(self, frame: str) -> None:
        self.inbox.put_nowait(frame)


@dataclass
class Peer:
    """What the scripted venue does: go live, refuse, answer questions, or say nothing."""

    refuse: bool = False
    answer_asks: bool = True
    answer_pings: bool = True
    fail_connects: int = 0
    conns: list[FakeConn] = field(default_factory=list)
    protos: list[EchoProtocol] = field(default_factory=list)

    def answer(self, conn: FakeConn, message: str) -> None:
        if message == "hello":
            conn.push("refuse" if self.refuse else "snapshot")
        elif message.startswith("ask ") and self.answer_asks:
            conn.push(f"answer {message.split()[1]}")
        elif message == "ping" and self.answer_pings:
            conn.push("pong")

    async def open(self) -> tuple[FakeConn, EchoProtocol]:
        if self.fail_connects:
            self.fail_connects -= 1
            raise VenueUnavailable("could not connect; nothing was sent")
        conn = FakeConn(self)
        proto = EchoProtocol()
        self.conns.append(conn)
        self.protos.append(proto)
        return conn, proto


class Sleeps:
    """A sleep that records what the link asked for and yields without waiting (virtual time)."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.now = 0.0
        self.release = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.asked.append(delay)
        self.now += delay
        await asyncio.sleep(0)

    def clock(self) -> float:
        return self.now


@dataclass
class Watch:
    events: list[StreamEvent] = field(default_factory=list)
    states: list[tuple[LinkState, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def sink(self, event: StreamEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def state(self, state: LinkState, detail: str) -> None:
        self.states.append((state, detail))
        self.changed.set()

    async def until(self, predicate: Any, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def running(link: Link[EchoProtocol], watch: Watch) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(link.run(watch.sink, watch.state))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await link.aclose()


async def test_run_goes_live_with_a_snapshot_and_reconnects_with_a_fresh_one() -> None:
    peer, watch = Peer(), Watch()
    link: Link[EchoProtocol] = Link("t", peer.open, FAST, sleep=Sleeps(), rng=random.Random(1))
    async with running(link, watch):
        await watch.until(lambda: watch.states and watch.states[-1][0] is LinkState.LIVE)
        assert watch.states[0][0] is LinkState.CONNECTING and link.live and not link.known_down
        await peer.conns[0].close()  # the venue drops the socket
        await watch.until(lambda: len([e for e in watch.events if e.kind is StreamKind.SNAPSHOT]) == 2)
        await watch.until(lambda: watch.states[-1][0] is LinkState.LIVE)
    reconnecting = [d for s, d in watch.states if s is LinkState.RECONNECTING]
    assert reconnecting and "reconnecting in " in reconnecting[0] and peer.protos[0].lost is not None
    assert link.connects == 2


async def test_failed_connects_back_off_with_jitter_and_reconnect_now_cuts_the_wait() -> None:
    peer, watch, sleeps = Peer(fail_connects=4), Watch(), Sleeps()
    link: Link[EchoProtocol] = Link("t", peer.open, FAST, sleep=sleeps, rng=random.Random(3))
    async with running(link, watch):
        await watch.until(lambda: watch.states and watch.states[-1][0] is LinkState.LIVE)
    for delay, ceiling in zip(sleeps.asked, [1.0, 2.0, 4.0, 8.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert [s for s, _ in watch.states].count(LinkState.RECONNECTING) == 4
    assert all(jittered_backoff(30, 1.0, 8.0, random.Random(i)) <= 8.0 for i in range(20))

    # A wait that never ends by itself is cut short by reconnect-now (F5).
    async def forever(delay: float) -> None:
        await asyncio.Event().wait()

    peer2, watch2 = Peer(fail_connects=1), Watch()
    link2: Link[EchoProtocol] = Link("t2", peer2.open, FAST, sleep=forever)
    async with running(link2, watch2):
        await watch2.until(lambda: watch2.states and watch2.states[-1][0] is LinkState.RECONNECTING)
        link2.reconnect_now()
        await watch2.until(lambda: watch2.states[-1][0] is LinkState.LIVE)


async def test_the_back_off_starts_over_only_after_a_stable_session() -> None:
    peer, watch, sleeps = Peer(), Watch(), Sleeps()
    link: Link[EchoProtocol] = Link(
        "t", peer.open, FAST, clock=sleeps.clock, sleep=sleeps, rng=random.Random(2)
    )
    async with running(link, watch):

        def lives() -> int:
            return [s for s, _ in watch.states].count(LinkState.LIVE)

        for n in range(3):  # three sessions that die at once: the ceiling keeps doubling
            await watch.until(lambda n=n: lives() == n + 1)
            await peer.conns[-1].close()
        await watch.until(lambda: lives() == 4)
        sleeps.now += FAST.stable_after_s  # this one stays up long enough
        await peer.conns[-1].close()
        await watch.until(lambda: lives() == 5)
    assert len(sleeps.asked) == 4
    for delay, ceiling in zip(sleeps.asked[:3], [1.0, 2.0, 4.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert 0.5 <= sleeps.asked[3] <= 1.0  # started over


async def test_a_refused_key_is_down_and_waits_for_reconnect_now() -> None:
    peer, watch, sleeps = Peer(refuse=True), Watch(), Sleeps()

    async def slow(delay: float) -> None:
        sleeps.asked.append(delay)
        await asyncio.Event().wait()

    link: Link[EchoProtocol] = Link("t", peer.open, FAST, sleep=slow)
    async with running(link, watch):
        await watch.until(lambda: watch.states and watch.states[-1][0] is LinkState.DOWN)
        assert "refused the key" in watch.states[-1][1] and link.known_down
        peer.refuse = False
        link.reconnect_now()
        await watch.until(lambda: watch.states[-1][0] is LinkState.LIVE)
        assert sleeps.asked == [FAST.auth_retry_s]
    with pytest.raises(VenueUnavailable):
        await link.session()  # closed


async def test_requests_share_the_live_session_and_are_answered() -> None:
    peer = Peer()
    link: Link[EchoProtocol] = Link("t", peer.open, FAST)
    try:
        answers = await asyncio.gather(*(link.request(lambda p, n=n: p.ask(str(n))) for n in range(5)))
        assert answers == [f"answer {n}" for n in range(5)] and link.connects == 1
    finally:
        await link.aclose()


async def test_a_refused_key_on_connect_raises_auth_error_for_a_request() -> None:
    link: Link[EchoProtocol] = Link("t", Peer(refuse=True).open, FAST)
    with pytest.raises(AuthError, match="refused the key"):
        await link.request(lambda p: p.ask("1"))


async def test_no_answer_in_time_is_settled_by_the_protocol_as_effect_unknown() -> None:
    peer = Peer(answer_asks=False)
    link: Link[EchoProtocol] = Link("t", peer.open, FAST)
    try:
        with pytest.raises(TransportError, match="effect unknown"):
            await link.request(lambda p: p.ask("1"))
    finally:
        await link.aclose()


async def test_a_drop_while_waiting_is_effect_unknown_and_a_closed_socket_sent_nothing() -> None:
    peer = Peer(answer_asks=False)
    link: Link[EchoProtocol] = Link("t", peer.open, FAST)
    try:
        waiting = asyncio.create_task(link.request(lambda p: p.ask("1")))
        await asyncio.sleep(0.01)
        await peer.conns[0].close()
        with pytest.raises(TransportError, match="dropped"):
            await waiting
        # A frame that cannot be written never left: nothing was sent.
        session = await link.session()
        session.conn.closed = True  # type: ignore[attr-defined]  # the fake refuses to write now
        with pytest.raises(VenueUnavailable, match="nothing was sent"):
            await link.request(lambda p: p.ask("2"))
    finally:
        await link.aclose()


async def test_a_request_made_while_no_stream_runs_opens_a_session_the_stream_adopts() -> None:
    peer, watch = Peer(), Watch()
    link: Link[EchoProtocol] = Link("t", peer.open, FAST)
    assert await link.request(lambda p: p.ask("1")) == "answer 1"
    async with running(link, watch):
        await watch.until(lambda: watch.states and watch.states[-1][0] is LinkState.LIVE)
        # The book of the session opened for the request is announced to the stream.
        assert [e.kind for e in watch.events] == [StreamKind.SNAPSHOT]
        assert link.connects == 1


async def test_a_ping_unanswered_in_time_ends_the_session() -> None:
    peer, watch = Peer(answer_pings=False), Watch()
    settings = LinkSettings(ping_interval_s=0.05, pong_timeout_s=0.1, backoff_base_s=0.01, backoff_cap_s=0.02)
    link: Link[EchoProtocol] = Link("t", peer.open, settings)
    async with running(link, watch):
        await watch.until(lambda: any(s is LinkState.RECONNECTING for s, _ in watch.states))
    assert any("no answer to a ping" in d for _, d in watch.states)
    assert peer.protos[0].pings == 1  # one ping outstanding at a time


async def test_silence_ends_the_session_and_answered_pings_keep_it() -> None:
    quiet, watch = Peer(answer_pings=False), Watch()
    settings = LinkSettings(
        ping_interval_s=0.0, silence_timeout_s=0.1, backoff_base_s=0.01, backoff_cap_s=0.02
    )
    link: Link[EchoProtocol] = Link("t", quiet.open, settings)
    async with running(link, watch):
        await watch.until(lambda: any("no message from Kraken" in d for _, d in watch.states))
    chatty, watch2 = Peer(), Watch()
    settings2 = LinkSettings(ping_interval_s=0.03, pong_timeout_s=0.1)
    link2: Link[EchoProtocol] = Link("t2", chatty.open, settings2)
    async with running(link2, watch2):
        await watch2.until(lambda: watch2.states and watch2.states[-1][0] is LinkState.LIVE)
        await asyncio.sleep(0.4)
        assert watch2.states[-1][0] is LinkState.LIVE and chatty.protos[0].pings >= 3


async def test_stream_removals_are_remembered_for_confirmations() -> None:
    peer, watch = Peer(), Watch()
    link: Link[EchoProtocol] = Link("t", peer.open, FAST)
    async with running(link, watch):
        await watch.until(lambda: link.live)
        waiter = asyncio.create_task(link.outcomes.wait_for(["O1", "O2"], 2.0))
        peer.conns[0].push("gone O1")
        peer.conns[0].push("gone O2")
        await waiter
        assert link.outcomes.get("O1") == Outcome(CancelState.CANCELLED)
    cache = OutcomeCache(kept=2)
    for oid in ("a", "b", "c"):
        cache.record(oid, Outcome(CancelState.FILLED))
    assert cache.get("a") is None and len(cache) == 2
    await cache.wait_for(["never"], 0.01)  # returns after the timeout, does not raise

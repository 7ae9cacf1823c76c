"""One reconnecting link for every socket venue: connect, keep-alive, back-off, state, reconnect-now.

A venue gives the link an *opener* (open a socket, signed or with a fresh token, and make a new
sans-I/O protocol object for it: ``app.venues.sansio``). The link moves the bytes: it reads
frames into the protocol, sends what the protocol queues, delivers its stream events, keeps the
connection alive, waits for request tickets with timeouts, and reconnects with jittered back-off.
Spot WS v2 and v1, the Futures order feed and Prime all run on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import websockets.asyncio.client
import websockets.exceptions

from app.core.accounts import LinkState
from app.core.errors import AuthError, PermissionDenied, TransportError, VenueError, VenueUnavailable
from app.core.events import Event
from app.core.ledger import Outcome
from app.venues.backoff import jittered_backoff
from app.venues.base import LinkSink, StreamEvent, StreamKind, StreamSink, retry_detail
from app.venues.sansio import SessionProtocol, Ticket

READ_SLICE_S = 0.004  # a reader gives the loop a turn at least this often while frames keep coming

log = logging.getLogger("app.venues.link")

T = TypeVar("T")
P = TypeVar("P", bound=SessionProtocol)


class Connection(Protocol):
    """The part of a websockets client connection the link uses (tests hand a fake)."""

    async def send(self, message: str) -> None:
        """Send one text frame; raises ``ConnectionClosed`` when the socket is closed."""
        ...

    async def recv(self) -> str | bytes:
        """Wait for the next frame; raises ``ConnectionClosed`` at the end."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


async def open_websocket(
    url: str,
    *,
    max_size: int,
    headers: dict[str, str] | None = None,
    open_timeout_s: float = 10.0,
    ping_interval_s: float | None = 20.0,
    ping_timeout_s: float | None = 20.0,
) -> Connection:
    """Open a client socket with the ``websockets`` library (the one place every venue does it).

    Args:
        url: ``wss://...`` (or ``ws://`` for a simulator on loopback).
        max_size: the largest frame accepted (snapshots of thousands of orders are megabytes).
        headers: extra headers for the HTTP upgrade (Prime signs there).
        open_timeout_s: TCP, TLS and the upgrade.
        ping_interval_s: protocol-level pings (None: off, the venue pings itself).
        ping_timeout_s: how long such a ping may go unanswered.

    Returns:
        The open connection.

    Raises:
        websockets.exceptions.InvalidStatus: the upgrade was refused (e.g. HTTP 401).
        OSError, TimeoutError, websockets.exceptions.WebSocketException: no connection.
    """
    conn: Connection = await websockets.asyncio.client.connect(
        url,
        additional_headers=headers,
        open_timeout=open_timeout_s,
        ping_interval=ping_interval_s,
        ping_timeout=ping_timeout_s,
        close_timeout=2.0,
        max_size=max_size,
        user_agent_header="kraken-cancel-console",
    )
    return conn


Opener = Callable[[], Awaitable[tuple[Connection, P]]]
"""Opens one connection and makes its protocol; raises VenueError (AuthError: the key is refused)."""


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How a link waits, pings and backs off.

    Attributes:
        open_timeout_s: connect, sign-in, subscribe and first snapshot.
        request_timeout_s: wait for a request's first answer.
        settle_s: after a partial answer, wait this much longer for the next (None: a fixed
            deadline of ``request_timeout_s``).
        ping_interval_s: send the protocol's ping when nothing was sent this long (0: never).
        pong_timeout_s: after a ping, nothing heard this long means the link is dead.
        silence_timeout_s: nothing heard this long means the link is dead (for venues that send
            heartbeats; None: no such rule).
        backoff_base_s: the first reconnect delay's ceiling (doubles per failure, with jitter).
        backoff_cap_s: the largest reconnect delay.
        stable_after_s: a session live this long resets the back-off.
        auth_retry_s: after Kraken refused the key, try again this late (or on reconnect-now).
        outcomes_kept: how many stream removals are remembered for confirmations.
    """

    open_timeout_s: float = 10.0
    request_timeout_s: float = 10.0
    settle_s: float | None = 0.5
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    silence_timeout_s: float | None = None
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    stable_after_s: float = 10.0
    auth_retry_s: float = 300.0
    outcomes_kept: int = 50_000


class OutcomeCache:
    """What the streams proved about orders that left the book, for confirmations.

    Rules: bounded (oldest forgotten first); the latest word per order stands; waiters learn of
    every new entry.
    """

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._outcomes: OrderedDict[str, Outcome] = OrderedDict()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._outcomes)

    def get(self, order_id: str) -> Outcome | None:
        """The removal outcome seen for ``order_id``, if any."""
        return self._outcomes.get(order_id)

    def record(self, order_id: str, outcome: Outcome) -> None:
        """Remember what a stream said when ``order_id`` left the book."""
        self._outcomes[order_id] = outcome
        self._outcomes.move_to_end(order_id)
        while len(self._outcomes) > self._kept:
            self._outcomes.popitem(last=False)
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, order_ids: Collection[str], timeout_s: float) -> None:
        """Return when every id has an outcome, or after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(i not in self._outcomes for i in order_ids):
            left = deadline - loop.time()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._changed.wait()


class Session(Generic[P]):
    """One connection: its protocol, reader and keep-alive tasks, and when it last heard or spoke."""

    def __init__(self, name: str, conn: Connection, proto: P, clock: Callable[[], float]) -> None:
        self.name = name
        self.conn = conn
        self.proto = proto
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.auth_refused = False
        now = clock()
        self.last_rx = now
        self.last_tx = now
        self.ping_sent_at: float | None = None
        self.live_at: float | None = None
        self.announced_to: StreamSink | None = None
        self.heard = asyncio.Event()  # set after each frame is taken in, and at the end
        self.reader: asyncio.Task[None] | None = None
        self.keepalive: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return not self.closed.is_set()


class _SendFailed(Exception):
    """A frame could not be written: the socket is closed."""


class Link(Generic[P]):
    """A reconnecting link to one Kraken socket, shared by an account's stream and its requests.

    Events: ``run``'s sink gets every StreamEvent in order (a SNAPSHOT first on every new
    connection); its state sink gets (LinkState, detail) on every change.

    Rules kept:
    - one live connection at a time; the stream and requests share it; a request made while
      none is live opens one (under a lock, so concurrent requests share it);
    - a request whose frame never left (socket already closed) fails ``VenueUnavailable``
      (nothing was sent); one whose answer does not come in time, or whose socket drops, is
      settled by the protocol as effect unknown, never guessed;
    - keep-alive: the protocol's ping when nothing was sent for ``ping_interval_s``; a ping
      unanswered (nothing heard) for ``pong_timeout_s``, or a silence over ``silence_timeout_s``,
      ends the connection;
    - reconnects back off exponentially with jitter, reset once a session stayed live
      ``stable_after_s``; no sooner than the protocol's ``reconnect_floor_s`` (maintenance);
      a refused key or a missing permission is DOWN (retried after ``auth_retry_s``: Kraken
      locks out keys that keep failing), anything else RECONNECTING;
    - ``reconnect_now`` (F5) cuts any wait short;
    - stream removals are remembered in ``outcomes`` for confirmations.
    """

    def __init__(
        self,
        name: str,
        opener: Opener[P],
        settings: LinkSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        rng: random.Random | None = None,
        problems: Event[str] | None = None,
    ) -> None:
        """Configure; nothing connects until ``run`` or a request needs it.

        Args:
            name: for logs and task names (e.g. ``spot-ws-v2 main``).
            opener: opens a connection and makes its protocol object.
            settings: timeouts, pings and back-off.
            clock: monotonic seconds (keep-alive and back-off bookkeeping).
            sleep: waits between reconnects and keep-alive checks (default ``asyncio.sleep``).
            rng: the jitter source.
            problems: where PROBLEM events go (what a protocol skipped), instead of the sink.
        """
        self.name = name
        self.problems: Event[str] = problems if problems is not None else Event(f"{name} problems")
        self.settings = settings or LinkSettings()
        self.outcomes = OutcomeCache(self.settings.outcomes_kept)
        self.state: LinkState | None = None
        self.detail = ""
        self._opener = opener
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._session: Session[P] | None = None
        self._open_lock = asyncio.Lock()
        self._sink: StreamSink | None = None
        self._state_sink: LinkSink | None = None
        self._wake = asyncio.Event()
        self._closed = False
        self.connects = 0  # connections opened (diagnostics and tests)

    def __repr__(self) -> str:
        return f"Link({self.name!r}, {self.state})"

    # ----------------------------------------------------------------------------- state

    @property
    def protocol(self) -> P | None:
        """The live connection's protocol object, if one is live."""
        session = self._session
        return session.proto if session is not None and session.is_open and session.proto.live else None

    @property
    def live(self) -> bool:
        """True while a connection is open and past its handshake."""
        return self.protocol is not None

    @property
    def known_down(self) -> bool:
        """True when the stream runs but has no live connection (reconnecting or down)."""
        return (
            self._sink is not None
            and not self.live
            and self.state in (LinkState.RECONNECTING, LinkState.DOWN)
        )

    def _report(self, state: LinkState, detail: str) -> None:
        self.state, self.detail = state, detail
        if self._state_sink is not None:
            try:
                self._state_sink(state, detail)
            except Exception:
                log.exception("%s: the state sink failed", self.name)

    def reconnect_now(self) -> None:
        """Cut the current wait short: reconnect at once (the F5 key)."""
        self._wake.set()

    # ----------------------------------------------------------------------------- sessions

    async def session(self) -> Session[P]:
        """The live connection, opened now if there is none.

        Raises:
            AuthError: Kraken refused the key or the sign-in (nothing else was sent).
            VenueUnavailable: no connection, or it ended before it was live: nothing was sent.
        """
        if self._closed:
            raise VenueUnavailable(f"{self.name}: closed")
        current = self._session
        if current is not None and current.is_open and current.proto.live:
            return current
        async with self._open_lock:
            current = self._session
            if current is not None and current.is_open and current.proto.live:
                return current
            session = await self._open()
            self._wake.set()  # a run loop waiting to reconnect adopts it at once
            return session

    async def _open(self) -> Session[P]:
        try:
            conn, proto = await self._opener()
        except VenueError:
            raise
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as e:
            raise VenueUnavailable(
                f"{self.name}: could not connect ({type(e).__name__}); nothing was sent"
            ) from e
        self.connects += 1
        session: Session[P] = Session(self.name, conn, proto, self._clock)
        # Current from the first frame on, so the snapshot and what follows reach the stream.
        self._session = session
        proto.connection_made()
        session.reader = asyncio.create_task(self._read(session), name=f"{self.name}-reader")
        try:
            await self.flush(session)
            async with asyncio.timeout(self.settings.open_timeout_s):
                while session.is_open and not proto.live:
                    session.heard.clear()
                    await session.heard.wait()
        except TimeoutError:
            await self._close(session, f"not live within {self.settings.open_timeout_s:g} s")
            raise VenueUnavailable(f"{self.name}: no snapshot from Kraken in time") from None
        except _SendFailed:
            await self._close(session, "closed during the sign-in")
        except BaseException:
            await self._close(session, "stopped while connecting")
            raise
        if not session.is_open or not proto.live:
            await self._close(session, session.close_reason or "closed during the sign-in")
            if session.auth_refused:
                raise AuthError(session.close_reason)
            # Only the sign-in and subscriptions were sent: no request can have taken effect.
            raise VenueUnavailable(f"{self.name}: {session.close_reason}; nothing was sent")
        session.live_at = self._clock()
        if self.settings.ping_interval_s or self.settings.silence_timeout_s:
            session.keepalive = asyncio.create_task(self._keepalive(session), name=f"{self.name}-keepalive")
        log.info("%s: live", self.name)
        return session

    async def _read(self, session: Session[P]) -> None:
        reason = "connection closed"
        proto = session.proto
        slice_started = time.perf_counter()
        try:
            while True:
                if time.perf_counter() - slice_started > READ_SLICE_S:
                    # recv() answers from its buffer without a loop turn: a burst of hundreds of
                    # frames would be one long callback, and timers, painting and the other
                    # sockets (another venue's cancel reply) would wait for all of it.
                    await asyncio.sleep(0)
                    slice_started = time.perf_counter()
                frame = await session.conn.recv()
                session.last_rx = self._clock()
                proto.receive(frame)
                self._deliver(session)
                await self.flush(session)
                session.heard.set()
                if proto.failure is not None:
                    session.auth_refused = proto.failure.auth
                    reason = proto.failure.reason
                    break
        except websockets.exceptions.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd is not None else None
            reason = f"connection closed by Kraken (code {code})" if code else "connection lost"
        except _SendFailed:
            reason = "connection lost while sending"
        except asyncio.CancelledError:
            reason = session.close_reason or "closed"
            raise
        except Exception as e:  # a bug in a protocol must not leave requests waiting
            reason = f"reader failed ({type(e).__name__})"
            log.exception("%s: reader failed", self.name)
        finally:
            session.close_reason = session.close_reason or reason
            proto.connection_lost(session.close_reason)
            self._deliver(session)
            session.closed.set()
            session.heard.set()
            if session.keepalive is not None and session.keepalive is not asyncio.current_task():
                session.keepalive.cancel()
            with contextlib.suppress(Exception):
                await session.conn.close()
            log.info("%s: connection ended: %s", self.name, session.close_reason)

    def _deliver(self, session: Session[P]) -> None:
        for event in session.proto.events_received():
            if event.kind is StreamKind.PROBLEM:
                log.warning("%s: %s", self.name, event.detail)
                self.problems.emit(event.detail or "the venue sent something unreadable")
                continue
            if event.kind is StreamKind.REMOVED and event.order_id and event.outcome is not None:
                self.outcomes.record(event.order_id, event.outcome)
            sink = self._sink
            if sink is None or session is not self._session:
                continue
            if event.kind is StreamKind.SNAPSHOT:
                session.announced_to = sink
            try:
                sink(event)
            except Exception:
                log.exception("%s: the stream sink failed", self.name)

    async def flush(self, session: Session[P]) -> None:
        """Send what the protocol queued; tickets whose frame did not leave learn nothing was sent."""
        outgoing = session.proto.data_to_send()
        for i, (frame, ticket) in enumerate(outgoing):
            if ticket is not None and ticket.sending is not None:
                ticket.sending()  # the ledger writes "sent" now, as the bytes go
            try:
                await session.conn.send(frame)
            except (websockets.exceptions.ConnectionClosed, OSError) as e:
                # websockets refuses to write on a closed socket: these frames never left.
                for _, ticket in outgoing[i:]:
                    if ticket is not None:
                        ticket.fail(
                            VenueUnavailable(f"{ticket.what}: the WebSocket closed; nothing was sent")
                        )
                raise _SendFailed from e
            session.last_tx = self._clock()

    async def _keepalive(self, session: Session[P]) -> None:
        s = self.settings
        limits = [x for x in (s.ping_interval_s, s.pong_timeout_s, s.silence_timeout_s) if x]
        tick = max(0.02, min(1.0, min(limits, default=1.0) / 4))
        while session.is_open:
            await self._sleep(tick)
            now = self._clock()
            if s.silence_timeout_s is not None and now - session.last_rx > s.silence_timeout_s:
                await self._close(session, f"no message from Kraken in {s.silence_timeout_s:g} s")
                return
            sent = session.ping_sent_at
            if sent is not None and session.last_rx >= sent:
                sent = session.ping_sent_at = None  # answered: anything heard after it will do
            if sent is not None and now - sent > s.pong_timeout_s:
                await self._close(session, f"no answer to a ping in {s.pong_timeout_s:g} s")
                return
            # One ping outstanding at a time, so a late answer cannot hide behind a newer ping.
            due = s.ping_interval_s and now - session.last_tx >= s.ping_interval_s
            if due and sent is None and session.proto.ping():
                session.ping_sent_at = now
                try:
                    await self.flush(session)
                except _SendFailed:
                    return

    async def _close(self, session: Session[P], reason: str) -> None:
        """End ``session`` (idempotent) and wait for its reader to settle its tickets."""
        if not session.close_reason:
            session.close_reason = reason
        with contextlib.suppress(Exception):
            await session.conn.close()
        reader = session.reader
        if reader is not None and reader is not asyncio.current_task() and not reader.done():
            done, _ = await asyncio.wait([reader], timeout=3)
            if not done:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        if session.keepalive is not None and session.keepalive is not asyncio.current_task():
            session.keepalive.cancel()
        if not session.closed.is_set():
            session.proto.connection_lost(session.close_reason)
            session.closed.set()

    # ----------------------------------------------------------------------------- requests

    async def request(
        self,
        make: Callable[[P], Ticket[T]],
        *,
        timeout_s: float | None = None,
        sending: Callable[[], None] | None = None,
    ) -> T:
        """Send one request on the live connection and wait for the protocol to settle it.

        Args:
            make: asks the protocol for the request's ticket (it queues the frames).
            timeout_s: wait for the first answer (default ``request_timeout_s``; after a partial
                answer the wait is ``settle_s`` from it).
            sending: called right before the request's frame is written (the ledger's "sent").

        Returns:
            What the protocol settled the ticket with.

        Raises:
            VenueError: as the ticket failed; ``VenueUnavailable`` when nothing was sent.
        """
        session = await self.session()
        ticket = make(session.proto)
        ticket.sending = sending
        if not ticket.done:
            try:
                await self.flush(session)
            except _SendFailed:
                await self._close(session, "connection lost while sending")
        if ticket.done:
            return ticket.result()
        await self._wait(session, ticket, timeout_s or self.settings.request_timeout_s)
        return ticket.result()

    async def _wait(self, session: Session[P], ticket: Ticket[Any], first_s: float) -> None:
        settle_s = self.settings.settle_s
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        stop = ticket.listen(changed.set)
        try:
            deadline = loop.time() + first_s
            seen = ticket.progress
            while not ticket.done:
                left = deadline - loop.time()
                if left <= 0:
                    session.proto.expire(ticket)
                    if not ticket.done:  # a protocol that cannot say: the effect is unknown
                        ticket.fail(
                            TransportError(f"{ticket.what}: no answer from Kraken in time; effect unknown")
                        )
                    return
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await changed.wait()
                if settle_s is not None and ticket.progress != seen:
                    seen = ticket.progress
                    deadline = loop.time() + settle_s
        finally:
            stop()

    # ----------------------------------------------------------------------------- the stream

    def _backoff(self, attempt: int) -> float:
        return jittered_backoff(attempt, self.settings.backoff_base_s, self.settings.backoff_cap_s, self._rng)

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds, or less if reconnect-now is pressed or a request connected."""
        if self.live:
            return
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait([sleeper, waker], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, waker):
                t.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    async def run(self, sink: StreamSink, state_sink: LinkSink) -> None:
        """Stream the account's orders into ``sink`` until cancelled or closed, reconnecting.

        Args:
            sink: receives every StreamEvent (a SNAPSHOT first on each connection).
            state_sink: receives link state changes.
        """
        self._sink, self._state_sink = sink, state_sink
        attempt = 0
        self._report(LinkState.CONNECTING, "")
        try:
            while not self._closed:
                self._wake.clear()  # from here on, reconnect-now and a request's connect cut waits short
                try:
                    session = await self.session()
                except (AuthError, PermissionDenied) as e:
                    log.warning("%s: down: %s", self.name, e)
                    self._report(LinkState.DOWN, str(e))
                    await self._pause(self.settings.auth_retry_s)
                    attempt = 0
                    continue
                except VenueError as e:
                    delay = self._backoff(attempt)
                    attempt += 1
                    log.info("%s: could not connect: %s", self.name, e)
                    self._report(LinkState.RECONNECTING, retry_detail(str(e), delay))
                    if await self._pause_or_wake(delay):
                        attempt = 0
                    continue
                self._wake.clear()  # set by this very connect: only later wake-ups count
                if session.announced_to is not sink:
                    # Opened by a request before this loop ran: announce its book now.
                    session.announced_to = sink
                    sink(StreamEvent(StreamKind.SNAPSHOT, tuple(session.proto.orders())))
                self._report(LinkState.LIVE, "")
                await session.closed.wait()
                if self._closed:
                    break
                live_for = self._clock() - (session.live_at or self._clock())
                if live_for >= self.settings.stable_after_s:
                    attempt = 0
                if session.auth_refused:
                    self._report(LinkState.DOWN, session.close_reason)
                    await self._pause(self.settings.auth_retry_s)
                    continue
                delay = max(self._backoff(attempt), session.proto.reconnect_floor_s)
                attempt += 1
                self._report(LinkState.RECONNECTING, retry_detail(session.close_reason, delay))
                if await self._pause_or_wake(delay):
                    attempt = 0
        finally:
            self._sink = self._state_sink = None
            self.state = None

    async def _pause_or_wake(self, delay: float) -> bool:
        """Pause; True when cut short by reconnect-now (start the back-off over)."""
        await self._pause(delay)
        return self._wake.is_set()

    async def aclose(self) -> None:
        """Close the connection and stop ``run`` (idempotent)."""
        self._closed = True
        self._wake.set()
        session, self._session = self._session, None
        if session is not None:
            await self._close(session, "closed by the console")

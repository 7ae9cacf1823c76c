"""The I/O engine shared by the Spot WebSocket venues (v1 and v2): sessions, tokens, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol

import websockets
import websockets.asyncio.client
import websockets.exceptions

from app.core.accounts import KeyCheck, LinkState
from app.core.errors import (
    AuthError,
    MalformedReply,
    PermissionDenied,
    TransportError,
    VenueError,
    VenueUnavailable,
)
from app.core.ledger import Outcome
from app.core.orders import Order, VenueKind
from app.core.plan import CancelRequest, VenueLimits
from app.venues.backoff import jittered_backoff
from app.venues.base import (
    CancelReply,
    Capabilities,
    DeadmanStatus,
    LinkSink,
    StreamEvent,
    StreamKind,
    StreamSink,
)
from app.venues.spot_rest import SpotRestVenue
from app.venues.spot_ws_v2_wire import Heartbeat, Ignored, Reply, SystemStatus, error_for, is_token_error

log = logging.getLogger("app.venues.spot_ws")

MAX_FRAME = 2**24  # a snapshot of thousands of orders is larger than websockets' 1 MiB default
TERMINAL_KEPT = 50_000  # stream removals remembered for confirm()


class WsConnection(Protocol):
    """The part of a websockets client connection the venues use (tests may hand a fake)."""

    async def send(self, message: str) -> None:
        """Send one text frame."""
        ...

    async def recv(self) -> str | bytes:
        """Wait for the next frame; raises ``websockets.exceptions.ConnectionClosed`` at the end."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


Connect = Callable[[str], Awaitable[WsConnection]]


async def websockets_connect(url: str) -> WsConnection:
    """Open a client connection with the ``websockets`` library's asyncio client.

    Args:
        url: ``wss://ws-auth.kraken.com/v2`` or a simulator URL.

    Returns:
        The open connection.
    """
    conn: WsConnection = await websockets.asyncio.client.connect(
        url,
        open_timeout=10,
        ping_interval=20,
        ping_timeout=20,
        close_timeout=2,
        max_size=MAX_FRAME,
        user_agent_header="kraken-cancel-console",
    )
    return conn


class Book(Protocol):
    """An order book fed by a private stream (``ExecutionsBook`` / ``OpenOrdersBook``)."""

    snapshot_seen: bool
    gap: bool

    def apply(self, message: Any) -> list[StreamEvent]:
        """Apply one stream message and return its events."""
        ...

    def orders(self) -> list[Order]:
        """Every open order fully known."""
        ...

    def __contains__(self, order_id: object) -> bool: ...


class _Resync(Exception):
    """Raised inside the reader to end a stream session so it resubscribes from a snapshot."""


class Session:
    """One WebSocket connection: a reader task, requests matched to replies by request id.

    Rules: every reply goes to the request whose id it echoes (several replies may answer one
    request); when the connection ends, every waiting request learns it at once (its effect is
    unknown); stream data is handled in arrival order by ``on_other`` inside the reader.
    """

    def __init__(
        self,
        ws: WsConnection,
        name: str,
        parse: Callable[[str | bytes], Any],
        on_other: Callable[[Session, Any], None],
    ) -> None:
        self.ws = ws
        self.name = name
        self.token = ""
        self.live = False
        self.system: str | None = None
        self.snapshot_ready = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._parse = parse
        self._on_other = on_other
        self._pending: dict[int, asyncio.Queue[Reply | None]] = {}
        now = time.monotonic()
        self.last_rx = now
        self.last_tx = now
        self._keepalive: asyncio.Task[None] | None = None
        self._reader = asyncio.create_task(self._read(), name=f"{name}-reader")

    @property
    def is_open(self) -> bool:
        """True until the connection ended."""
        return not self.closed.is_set()

    def start_keepalive(self, coro: Awaitable[None]) -> None:
        """Run the keep-alive loop for this session (cancelled when it closes)."""
        self._keepalive = asyncio.ensure_future(coro)
        self._keepalive.set_name(f"{self.name}-keepalive")

    async def _read(self) -> None:
        reason = "connection closed"
        try:
            while True:
                frame = await self.ws.recv()
                self.last_rx = time.monotonic()
                message = self._parse(frame)
                if isinstance(message, Reply):
                    queue = self._pending.get(message.req_id) if message.req_id is not None else None
                    if queue is not None:
                        queue.put_nowait(message)
                    elif not message.success:
                        log.warning("%s: unsolicited error from Kraken: %s", self.name, message.error)
                    else:
                        log.debug("%s: reply to no waiting request: %s", self.name, message.method)
                    continue
                self._on_other(self, message)
        except websockets.exceptions.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd is not None else None
            reason = f"connection closed by Kraken (code {code})" if code else "connection lost"
        except _Resync as e:
            reason = str(e)
        except MalformedReply as e:
            reason = f"could not read a message from Kraken: {e}"
            log.warning("%s: %s", self.name, reason)
        except asyncio.CancelledError:
            reason = self.close_reason or "closed"
            raise
        except Exception as e:
            reason = f"connection failed ({type(e).__name__})"
            log.exception("%s: reader failed", self.name)
        finally:
            self.close_reason = self.close_reason or reason
            self.live = False
            for queue in self._pending.values():
                queue.put_nowait(None)
            self.closed.set()
            if self._keepalive is not None and self._keepalive is not asyncio.current_task():
                self._keepalive.cancel()
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def request(
        self, req_id: int, frame: str, *, what: str, expect: int | None, first_s: float, settle_s: float
    ) -> list[Reply]:
        """Send one request and collect its replies.

        Args:
            req_id: The id the replies echo.
            frame: The request text.
            what: The request's name for messages.
            expect: How many replies to wait for (None: an unknown number, e.g. a userref).
            first_s: Seconds to wait for the first reply.
            settle_s: Seconds to wait for each further reply before taking what came.

        Returns:
            The replies, at least one.

        Raises:
            VenueUnavailable: the connection was already closed: nothing was sent.
            TransportError: no reply in time, or the connection ended before all replies came:
                the request's effect is unknown.
        """
        if self.closed.is_set():
            raise VenueUnavailable(f"{what}: the WebSocket is closed; nothing was sent")
        queue: asyncio.Queue[Reply | None] = asyncio.Queue()
        self._pending[req_id] = queue
        try:
            try:
                await self.ws.send(frame)
            except websockets.exceptions.ConnectionClosed as e:
                # websockets refuses to write on a closed connection: the frame never left.
                raise VenueUnavailable(f"{what}: the WebSocket closed; nothing was sent") from e
            self.last_tx = time.monotonic()
            replies: list[Reply] = []
            while expect is None or len(replies) < expect:
                try:
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
                    async with asyncio.timeout(first_s if not replies else settle_s):
                        item = await queue.get()
                except TimeoutError:
                    if replies:
                        break
                    raise TransportError(
                        f"{what}: no answer from Kraken in {first_s:g} s; effect unknown"
                    ) from None
                if item is None:
                    raise TransportError(f"{what}: the WebSocket dropped before the answer; effect unknown")
                replies.append(item)
            return replies
        finally:
            del self._pending[req_id]

    async def close(self, reason: str) -> None:
        """Close the connection and wait for the reader to end (idempotent)."""
        if not self.close_reason:
            self.close_reason = reason
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keepalive
        if not self._reader.done():
            with contextlib.suppress(Exception):
                await self.ws.close()
            done, _ = await asyncio.wait([self._reader], timeout=3)
            if not done:
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._reader
        self.closed.set()


class SpotWsVenue:
    """What both Spot WebSocket venues share: tokens, sessions, reconnects, confirm.

    Rules kept:
    - a fresh token from GetWebSocketsToken for every (re)connect, and a new one when Kraken
      says the token is invalid (``ESession:Invalid session``), then the request is sent again
      once (cancels are safe to repeat, DESIGN.md);
    - every request carries its own id; replies are matched by it; a socket that drops with
      requests waiting fails them with TransportError (effect unknown), never a guess;
    - could not connect or get a token -> VenueUnavailable (nothing was sent: REST may be tried);
    - the stream reconnects with exponential backoff and jitter, resubscribes and emits a fresh
      SNAPSHOT; link states: CONNECTING, LIVE, RECONNECTING ("in N s"), DOWN (reason);
    - an application ping goes out when nothing was sent for ``ping_interval_s`` (Kraken closes
      idle connections after about a minute); a stream silent for ``silence_timeout_s`` (Kraken
      sends heartbeats every second when quiet) is presumed dead and replaced.
    """

    kind = VenueKind.SPOT
    streams = True
    limits: VenueLimits
    protocol_name: ClassVar[str] = "spot ws"

    def __init__(
        self,
        account_id: str,
        url: str,
        rest: SpotRestVenue,
        *,
        connect: Connect | None = None,
        request_timeout_s: float = 10.0,
        settle_s: float = 0.5,
        confirm_wait_s: float = 1.0,
        ping_interval_s: float = 20.0,
        silence_timeout_s: float | None = 15.0,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        stable_after_s: float = 10.0,
        resync_on_gap: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        """Configure; nothing connects until a stream or a request needs it.

        Args:
            account_id: The desk's account id.
            url: The WebSocket URL (``wss://ws-auth.kraken.com/v2``, v1 without ``/v2``).
            rest: The account's REST venue: tokens, listings and the confirm fallback.
            connect: Opens a connection (default: the websockets asyncio client).
            request_timeout_s: Wait for a request's first reply.
            settle_s: Wait for each further reply of a request answered many times.
            confirm_wait_s: How long ``confirm`` waits for the stream before asking REST.
            ping_interval_s: Send a ping when nothing was sent for this long.
            silence_timeout_s: Replace a stream connection silent this long (None: never).
            backoff_base_s: First reconnect delay (doubles per failure, with jitter).
            backoff_cap_s: Longest reconnect delay.
            stable_after_s: A connection live this long resets the backoff.
            resync_on_gap: Resubscribe when a stream sequence number is skipped.
            rng: Random source for the jitter.
        """
        self.account_id = account_id
        self._url = url
        self._rest = rest
        self._connect: Connect = connect or websockets_connect
        self._request_timeout = request_timeout_s
        self._settle = settle_s
        self._confirm_wait = confirm_wait_s
        self._ping_interval = ping_interval_s
        self._silence_timeout = silence_timeout_s
        self._backoff_base = backoff_base_s
        self._backoff_cap = backoff_cap_s
        self._stable_after = stable_after_s
        self._resync_on_gap = resync_on_gap
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._stream: Session | None = None
        self._book: Book | None = None
        self._command: Session | None = None
        self._command_lock = asyncio.Lock()
        self._terminal: OrderedDict[str, Outcome] = OrderedDict()
        self._removal = asyncio.Event()
        self._link_state: LinkState | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.account_id!r}, {self._url!r})"

    # ------------------------------------------------------------------ what subclasses give

    def _parse(self, frame: str | bytes) -> Any:
        raise NotImplementedError

    def _is_stream_data(self, message: Any) -> bool:
        raise NotImplementedError

    def _new_book(self) -> Book:
        raise NotImplementedError

    def _subscribe_frame(self, token: str, req_id: int) -> str:
        raise NotImplementedError

    def _ping_frame(self, req_id: int) -> str:
        raise NotImplementedError

    async def execute(self, request: CancelRequest) -> CancelReply:
        """Send one planned cancel request (each protocol's own)."""
        raise NotImplementedError

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """Arm (or with 0, disarm) the dead man's switch (each protocol's own)."""
        raise NotImplementedError

    @property
    def capabilities(self) -> Capabilities:
        """What this socket can do on its own (the Spot venue combines it with REST)."""
        return Capabilities(self.limits, deadman=True, streaming=True)

    # ------------------------------------------------------------------ state

    @property
    def link_state(self) -> LinkState | None:
        """The stream's last reported state (None when no stream runs)."""
        return self._link_state

    @property
    def is_live(self) -> bool:
        """True when a connection is open (the stream's, or one opened for requests)."""
        stream = self._stream
        if stream is not None and stream.live and stream.is_open:
            return True
        return self._command is not None and self._command.is_open

    @property
    def known_down(self) -> bool:
        """True when the stream runs but its connection is down (reconnecting or failed)."""
        return self._link_state in (LinkState.RECONNECTING, LinkState.DOWN) and not self.is_live

    def _next_id(self) -> int:
        return next(self._ids)

    # ------------------------------------------------------------------ connections

    async def _fresh_token(self) -> str:
        try:
            return await self._rest.ws_token()
        except (TransportError, MalformedReply) as e:
            # Asking for a token changes nothing at Kraken: the cancel itself was not sent.
            raise VenueUnavailable(f"could not get a WebSocket token: {e}") from e

    async def _open_ws(self) -> WsConnection:
        try:
            return await self._connect(self._url)
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as e:
            raise VenueUnavailable(f"could not connect to Kraken's WebSocket ({type(e).__name__})") from e

    def _start_keepalive(self, session: Session, silence_timeout: float | None) -> None:
        session.start_keepalive(self._keepalive(session, silence_timeout))

    async def _keepalive(self, session: Session, silence_timeout: float | None) -> None:
        limits = [self._ping_interval] + ([silence_timeout] if silence_timeout else [])
        tick = max(0.02, min(1.0, min(limits) / 4))
        while session.is_open:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if silence_timeout is not None and now - session.last_rx > silence_timeout:
                log.warning(
                    "%s: no message from Kraken in %.0f s; reconnecting", session.name, silence_timeout
                )
                session.close_reason = f"no message from Kraken in {silence_timeout:g} s"
                with contextlib.suppress(Exception):
                    await session.ws.close()
                return
            if now - session.last_tx >= self._ping_interval:
                try:
                    req_id = self._next_id()
                    await session.request(
                        req_id,
                        self._ping_frame(req_id),
                        what="ping",
                        expect=1,
                        first_s=self._request_timeout,
                        settle_s=0,
                    )
                except VenueError as e:
                    session.close_reason = f"ping failed: {e}"
                    with contextlib.suppress(Exception):
                        await session.ws.close()
                    return

    def _on_command_message(self, session: Session, message: Any) -> None:
        if isinstance(message, SystemStatus):
            session.system = message.system
            log.info("%s: Kraken says %s", session.name, message.system)

    async def _command_session(self) -> Session:
        """The connection to send requests on: the live stream's, else one opened for requests.

        Raises:
            VenueUnavailable: no connection or no token (the key may lack the WebSocket
                permission): nothing was sent.
        """
        if self._closed:
            raise VenueUnavailable("the venue is closed")
        stream = self._stream
        if stream is not None and stream.live and stream.is_open:
            return stream
        async with self._command_lock:
            current = self._command
            if current is not None and current.is_open:
                return current
            try:
                token = await self._fresh_token()
            except (AuthError, PermissionDenied) as e:
                # The key may not open a WebSocket (or is refused): the cancel was not sent, and
                # REST may still take it.
                raise VenueUnavailable(f"no WebSocket for this key: {e}", venue_error=e.venue_error) from e
            ws = await self._open_ws()
            session = Session(
                ws, f"{self.protocol_name}-cmd-{self.account_id}", self._parse, self._on_command_message
            )
            session.token = token
            self._start_keepalive(session, None)
            self._command = session
            return session

    async def _call_on(
        self,
        session: Session,
        build: Callable[[str, int], str],
        *,
        what: str,
        expect: int | None = 1,
    ) -> list[Reply]:
        """Send on ``session``; on a token error get a new token and send once more."""
        for attempt in (1, 2):
            req_id = self._next_id()
            replies = await session.request(
                req_id,
                build(session.token, req_id),
                what=what,
                expect=expect,
                first_s=self._request_timeout,
                settle_s=self._settle,
            )
            if attempt == 1 and any(not r.success and is_token_error(r.error) for r in replies):
                log.info("%s: Kraken refused the token; fetching a new one", session.name)
                session.token = await self._fresh_token()
                continue
            return replies
        return replies  # pragma: no cover - the loop always returns

    async def _call(
        self, build: Callable[[str, int], str], *, what: str, expect: int | None = 1
    ) -> list[Reply]:
        session = await self._command_session()
        return await self._call_on(session, build, what=what, expect=expect)

    @staticmethod
    def _ok(reply: Reply) -> Reply:
        if not reply.success:
            raise error_for(reply.error or f"{reply.method} failed")
        for w in reply.warnings:
            log.info("Kraken warning on %s: %s", reply.method, w)
        return reply

    async def _deadman(self, build: Callable[[str, int], str], timeout_s: int) -> DeadmanStatus:
        reply = self._ok((await self._call(build, what="cancel_all_orders_after"))[0])
        result = reply.result
        trigger = result.get("triggerTime")
        current = result.get("currentTime")
        if trigger is None:
            raise MalformedReply("cancel-after reply has no triggerTime")
        armed = timeout_s > 0 and str(trigger) not in ("0", "")
        return DeadmanStatus(None if current is None else str(current), str(trigger) if armed else None)

    # ------------------------------------------------------------------ the stream

    def _record_terminal(self, order_id: str, outcome: Outcome) -> None:
        self._terminal[order_id] = outcome
        self._terminal.move_to_end(order_id)
        while len(self._terminal) > TERMINAL_KEPT:
            self._terminal.popitem(last=False)
        self._removal.set()
        self._removal = asyncio.Event()

    def _stream_handler(self, book: Book, sink: StreamSink) -> Callable[[Session, Any], None]:
        def handle(session: Session, message: Any) -> None:
            if isinstance(message, SystemStatus):
                session.system = message.system
                log.info("%s: Kraken says %s", session.name, message.system)
                return
            if isinstance(message, Heartbeat | Ignored) or not self._is_stream_data(message):
                return
            for event in book.apply(message):
                if event.kind is StreamKind.REMOVED and event.order_id and event.outcome:
                    self._record_terminal(event.order_id, event.outcome)
                try:
                    sink(event)
                except Exception:
                    log.exception("%s: the stream sink failed", session.name)
            if book.snapshot_seen:
                session.snapshot_ready.set()
            if book.gap and self._resync_on_gap:
                raise _Resync("the stream skipped a sequence number; resubscribing")

        return handle

    async def _open_stream(self, sink: StreamSink) -> Session:
        token = await self._fresh_token()
        ws = await self._open_ws()
        book = self._new_book()
        session = Session(
            ws, f"{self.protocol_name}-{self.account_id}", self._parse, self._stream_handler(book, sink)
        )
        session.token = token
        try:
            reply = (await self._call_on(session, self._subscribe_frame, what="subscribe"))[0]
            self._ok(reply)
            try:
                async with asyncio.timeout(self._request_timeout):
                    await session.snapshot_ready.wait()
            except TimeoutError as e:
                raise TransportError("no snapshot from Kraken after subscribing") from e
            if not session.is_open:
                raise TransportError(session.close_reason or "connection lost after subscribing")
        except BaseException:
            await session.close("subscribe failed")
            raise
        session.live = True
        self._book = book
        self._stream = session
        self._start_keepalive(session, self._silence_timeout)
        return session

    def _backoff(self, attempt: int) -> float:
        return jittered_backoff(attempt, self._backoff_base, self._backoff_cap, self._rng)

    def _report(self, link: LinkSink, state: LinkState, detail: str) -> None:
        self._link_state = state
        try:
            link(state, detail)
        except Exception:
            log.exception("link sink failed")

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """Stream the account's orders until cancelled, reconnecting as needed.

        Each (re)connect fetches a token, subscribes and emits a SNAPSHOT before LIVE.

        Args:
            sink: Receives every StreamEvent in order.
            link: Receives link state changes.
        """
        attempt = 0
        self._report(link, LinkState.CONNECTING, "")
        try:
            while not self._closed:
                session: Session | None = None
                live_at: float | None = None
                down: str | None = None
                try:
                    session = await self._open_stream(sink)
                    live_at = time.monotonic()
                    self._report(link, LinkState.LIVE, "")
                    await session.closed.wait()
                    log.info("%s: stream ended: %s", session.name, session.close_reason)
                except (AuthError, PermissionDenied) as e:
                    down = str(e)
                    log.warning("%s stream for %s is down: %s", self.protocol_name, self.account_id, e)
                except VenueError as e:
                    log.info("%s stream for %s failed: %s", self.protocol_name, self.account_id, e)
                finally:
                    if self._stream is session:
                        self._stream = None
                    if session is not None:
                        await session.close("stream stopped")
                if self._closed:
                    break
                if live_at is not None and time.monotonic() - live_at >= self._stable_after:
                    attempt = 0
                delay = self._backoff(attempt)
                attempt += 1
                if session is not None and session.system == "maintenance":
                    delay = max(delay, 5.0)  # Kraken: after maintenance reconnect at most every 5 s
                if down is not None:
                    delay = max(delay, self._backoff_cap)
                    self._report(link, LinkState.DOWN, down)
                else:
                    self._report(link, LinkState.RECONNECTING, f"in {math.ceil(delay)} s")
                await asyncio.sleep(delay)
        finally:
            self._link_state = None

    # ------------------------------------------------------------------ Venue protocol

    async def list_open_orders(self) -> list[Order]:
        """The live stream's orders when it is live, else REST OpenOrders."""
        stream, book = self._stream, self._book
        if stream is not None and stream.live and stream.is_open and book is not None:
            return book.orders()
        return await self._rest.list_open_orders()

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """What became of ``orders``: the stream's word first, then REST QueryOrders.

        An order the stream removed has the outcome the stream gave (cancelled with its reason,
        filled, expired). While the stream is live, waits up to ``confirm_wait_s`` for the rest.
        Anything still unsaid is asked of REST; orders the live book holds are asked apart from
        ids it does not know, so one id Kraken never had cannot spoil the answer for the others.
        """
        out: dict[str, Outcome] = {}
        waiting = {o.order_id: o for o in orders}

        def harvest() -> None:
            for order_id in list(waiting):
                found = self._terminal.get(order_id)
                if found is not None:
                    out[order_id] = found
                    del waiting[order_id]

        harvest()
        stream = self._stream
        groups: list[list[Order]] = [list(waiting.values())]
        if waiting and stream is not None and stream.live:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._confirm_wait
            while waiting and stream.is_open and (left := deadline - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self._removal.wait()
                harvest()
            book = self._book
            if book is not None:
                known = [o for o in waiting.values() if o.order_id in book]
                groups = [known, [o for o in waiting.values() if o.order_id not in book]]
        for group in groups:
            if group:
                out.update(await self._rest.confirm(group))
        return out

    async def check_key(self) -> KeyCheck:
        """The REST probes (a WS token is one of them)."""
        return await self._rest.check_key()

    async def aclose(self) -> None:
        """Close this venue's connections (the REST venue belongs to the caller)."""
        self._closed = True
        for session in (self._command, self._stream):
            if session is not None:
                await session.close("venue closed")
        self._command = None

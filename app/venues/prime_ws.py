"""Kraken Prime venue over its WebSocket: the thin I/O loop around ``prime_wire`` and ``signing``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from app.core.accounts import AccountSpec, Credentials, KeyCheck, LinkState
from app.core.errors import (
    AuthError,
    MalformedReply,
    RateLimited,
    TransportError,
    VenueError,
    VenueRejected,
    VenueUnavailable,
)
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, Order, Side, VenueKind
from app.core.plan import CancelRequest, RequestForm, VenueLimits
from app.venues import prime_wire as wire
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
from app.venues.signing import prime_ws_sign

log = logging.getLogger("app.venues.prime_ws")

# Kraken documents no maximum number of entries in an OrderCancelRequest's data[] (seed 002).
# 100 keeps one frame near 20 KB (about 200 bytes per entry), far under common WebSocket gateway
# frame limits, and bounds what one refused request (an error answer covers the whole request)
# can hold up; execute() may be called concurrently, so the desk can pipeline chunks.
MAX_BATCH = 100
MAX_FRAME_BYTES = 2**25  # a 10,000-order snapshot is a few MB; websockets' default is 1 MiB
CONFIRM_CONCURRENCY = 16  # one-shot OrderID subscriptions in flight during confirm()
_CLOSED_KEPT = 20_000  # closed-order facts remembered for confirm()
PROBE_SYMBOL = "BTC-USD"
_AUTH_HELP = (
    "check that the API key and secret are this environment's (Prime production and sandbox keys "
    "differ), that the secret was pasted whole, and that this computer's clock is right (the "
    "signature carries a timestamp)"
)


class WsConnection(Protocol):
    """The part of a websockets client connection the venue uses (tests may pass a fake)."""

    async def send(self, message: str) -> None:
        """Send one text frame."""
        ...

    async def recv(self) -> str | bytes:
        """Receive one message."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


Connector = Callable[[str, dict[str, str], float], Awaitable[WsConnection]]


async def default_connect(url: str, headers: dict[str, str], open_timeout: float) -> WsConnection:
    """Open the socket with websockets (protocol pings off: we send Prime's own Ping).

    Args:
        url: the WebSocket URL.
        headers: the sign-in headers for the upgrade.
        open_timeout: seconds for TCP, TLS and the upgrade.

    Returns:
        The open connection.

    Raises:
        InvalidStatus: the upgrade was refused (e.g. HTTP 401).
        OSError: the host could not be reached.
    """
    conn: WsConnection = await ws_connect(
        url,
        additional_headers=headers,
        open_timeout=open_timeout,
        ping_interval=None,
        close_timeout=2.0,
        max_size=MAX_FRAME_BYTES,
        user_agent_header="kraken-cancel-console",
    )
    return conn


def upgrade_headers(url: str, credentials: Credentials, now: float) -> dict[str, str]:
    """The sign-in headers for the HTTP upgrade (API-FACTS 9.1).

    The signed host and path come from ``url`` (host without port, as Kraken's example signs the
    bare host name).

    Args:
        url: the WebSocket URL, e.g. ``wss://wss.prime.kraken.com/ws/v1``.
        credentials: the Prime key pair.
        now: unix seconds for ``ApiTimestamp``.

    Returns:
        ``ApiKey``, ``ApiSign``, ``ApiTimestamp``.
    """
    parts = urlsplit(url)
    timestamp = wire.iso_utc(now)
    sign = prime_ws_sign(timestamp, parts.hostname or "", parts.path or "/", credentials.secret)
    return {"ApiKey": credentials.api_key, "ApiSign": sign, "ApiTimestamp": timestamp}


def _refusal_words(body: bytes) -> str:
    """The server's own words from a refused upgrade's body (JSON ``error.msg`` or short text)."""
    text = body[:300].decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        parsed = json.loads(text)
        err = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(err, dict) and err.get("msg"):
            return f": {err['msg']}"
    return f": {text[:200]}" if text and not text.startswith(("<", "{")) else ""


def _upgrade_error(e: InvalidStatus) -> VenueError:
    status = e.response.status_code
    said = _refusal_words(bytes(e.response.body or b""))
    if status in (401, 403):
        return AuthError(
            f"Kraken Prime refused the sign-in (HTTP {status}{said}); {_AUTH_HELP}.",
            venue_error=f"HTTP {status}",
        )
    if status == 429:
        return RateLimited(f"Kraken Prime refused the connection: too many requests (HTTP 429){said}")
    return VenueUnavailable(f"Kraken Prime refused the connection (HTTP {status}){said}; nothing was sent")


@dataclass(eq=False)
class _Batch:
    """The pending entries of one OrderCancelRequest; ``wake`` fires when all are final or the link died."""

    reqid: int
    pendings: list[_Pending]
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None

    def check(self) -> None:
        if all(p.final for p in self.pendings):
            self.wake.set()


@dataclass(eq=False)
class _Pending:
    """One entry of a cancel request: the latest thing the streams said about its order."""

    entry: wire.CancelEntry
    batch: _Batch | None = None
    outcome: Outcome | None = None

    @property
    def final(self) -> bool:
        return self.outcome is not None and self.outcome.state.is_final

    def update(self, outcome: Outcome | None) -> None:
        # The first final word wins (a later fill after a cancel is the desk's business, via the
        # stream); an acknowledgement never overwrites a final state.
        if outcome is None or self.final:
            return
        if outcome.state is CancelState.ACKNOWLEDGED and self.outcome is not None:
            return
        self.outcome = outcome
        if self.final and self.batch is not None:
            self.batch.check()


class _Session:
    """One signed-in socket: its stream subscriptions, waiters and reader task."""

    def __init__(self, ws: WsConnection, session_id: str) -> None:
        self.ws = ws
        self.session_id = session_id
        self.order_reqid = 0
        self.exec_reqid = 0
        self.snapshot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.snapshot_seen = False
        self.announced = False
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.batches: dict[int, _Batch] = {}
        self.waiters: dict[int, asyncio.Future[wire.StreamData]] = {}
        self.pongs: dict[int, asyncio.Future[float]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.opened_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return not self.closed.is_set()

    def mark_closed(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.close_reason = reason
        self.closed.set()
        lost = f"Kraken Prime closed the connection: {reason}"
        _fail(self.snapshot, TransportError(lost))
        for batch in self.batches.values():
            batch.wake.set()
        for waiter in self.waiters.values():
            _fail(waiter, TransportError(lost))
        for pong in self.pongs.values():
            _fail(pong, TransportError(lost))


def _fail(fut: asyncio.Future[Any], error: BaseException) -> None:
    """Fail a future once, marking the exception retrieved (nobody may be waiting any more)."""
    if not fut.done():
        fut.set_exception(error)
        fut.exception()


# No cancel-all and no dead man's switch on Prime: the planner fans out per order.
PRIME_CAPABILITIES = Capabilities(
    VenueLimits(max_batch=MAX_BATCH, min_batch=2, cancel_all=False), deadman=False, streaming=True
)


class PrimeWsVenue:
    """One Kraken Prime account over its WebSocket.

    Rules kept:
    - sign in at the HTTP upgrade with ApiKey/ApiSign/ApiTimestamp (a fresh timestamp per connect);
    - one signed-in socket at a time, shared by the stream, listing, cancels and confirmations;
    - a cancel's outcome comes only from the streams, matched by the request's new ClOrdID (or the
      order's OrderID for state facts): Canceled -> cancelled, PendingCancel -> acknowledged,
      CancelRejected -> already gone / filled / rejected; no final word in time or a dropped
      socket -> unknown, never cancelled;
    - Prime has no cancel-all and no dead man's switch: the planner fans out per order;
    - reconnects with exponential backoff and jitter, re-subscribes, and re-announces a SNAPSHOT.

    Events: ``run_stream``'s sink gets SNAPSHOT on every (re)subscription, UPSERT for new or changed
    orders, REMOVED (with what the removal proves) when an order leaves the open states.
    """

    kind = VenueKind.PRIME
    capabilities = PRIME_CAPABILITIES

    def __init__(
        self,
        account_id: str,
        url: str,
        credentials: Credentials,
        *,
        connect: Connector | None = None,
        cancel_timeout_s: float = 10.0,
        open_timeout_s: float = 10.0,
        ping_interval_s: float = 20.0,
        pong_timeout_s: float = 10.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        """Configure, without connecting (the first call signs in).

        Args:
            account_id: the desk's id for the account.
            url: the ``prime_ws`` endpoint (production ``wss://wss.prime.kraken.com/ws/v1``).
            credentials: the Prime key and secret (the secret is HMAC key bytes as-is).
            connect: opens a socket (tests may inject one); default websockets.
            cancel_timeout_s: how long a cancel waits for the streams' final word before unknown.
            open_timeout_s: connect + sign-in + first snapshot.
            ping_interval_s: seconds between our Pings (0 disables them).
            pong_timeout_s: a Ping without Pong in this time drops the link and reconnects.
            backoff_base_s: first reconnect delay ceiling.
            backoff_max_s: largest reconnect delay.
            clock: wall clock for ApiTimestamp and TransactTime.
            rng: jitter source.
        """
        self.account_id = account_id
        self._url = url
        self._creds = credentials
        self._connect = connect or default_connect
        self._cancel_timeout = cancel_timeout_s
        self._open_timeout = open_timeout_s
        self._ping_interval = ping_interval_s
        self._pong_timeout = pong_timeout_s
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._session: _Session | None = None
        self._connect_lock = asyncio.Lock()
        self._reqid = 0
        self._raw: dict[str, dict[str, Any]] = {}  # open orders as Kraken sent them (merged)
        self._orders: dict[str, Order] = {}
        self._closed: OrderedDict[str, Outcome] = OrderedDict()
        self._inflight: dict[str, _Pending] = {}  # by the cancel entry's ClOrdID
        self._inflight_by_order: dict[str, list[_Pending]] = {}
        self._sink: StreamSink | None = None

    def __repr__(self) -> str:
        return f"PrimeWsVenue({self.account_id!r}, {self._url!r})"

    # ----------------------------------------------------------------------- connection

    def _next_reqid(self) -> int:
        self._reqid += 1  # Kraken: reqid must not be 0
        return self._reqid

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before a reconnect: exponential, capped, with jitter.

        Half the ceiling is fixed and half random ("equal jitter"), so many consoles that lost
        Kraken at once do not come back in step.

        Args:
            attempt: how many reconnects failed in a row (0 for the first).

        Returns:
            The delay, between ceiling/2 and ceiling = min(max, base * 2**attempt).
        """
        return jittered_backoff(attempt, self._backoff_base, self._backoff_max, self._rng)

    async def _ensure_session(self) -> _Session:
        async with self._connect_lock:
            session = self._session
            if session is not None and session.alive:
                return session
            session = await self._open_session()
            self._session = session
            return session

    async def _open_session(self) -> _Session:
        headers = upgrade_headers(self._url, self._creds, self._clock())
        try:
            ws = await self._connect(self._url, headers, self._open_timeout)
        except InvalidStatus as e:
            raise _upgrade_error(e) from None
        except (InvalidHandshake, InvalidURI, OSError, TimeoutError) as e:
            raise VenueUnavailable(
                f"could not reach Kraken Prime at {self._url} ({type(e).__name__}); nothing was sent"
            ) from e
        try:
            session = await self._greet(ws)
        except BaseException:
            with contextlib.suppress(Exception):
                await ws.close()
            raise
        log.info("%s: signed in to Kraken Prime (session %s)", self.account_id, session.session_id)
        return session

    async def _greet(self, ws: WsConnection) -> _Session:
        try:
            async with asyncio.timeout(self._open_timeout):
                first = wire.parse_message(await ws.recv())
                if isinstance(first, wire.ServerError):
                    raise AuthError(
                        f"Kraken Prime refused the sign-in ({first.code} {first.msg}); {_AUTH_HELP}.",
                        venue_error=first.msg,
                    )
                if not isinstance(first, wire.Hello):
                    raise MalformedReply("Kraken Prime did not greet with hello after the sign-in")
                session = _Session(ws, first.session_id)
                session.order_reqid = self._next_reqid()
                session.exec_reqid = self._next_reqid()
                await ws.send(wire.encode_subscribe(session.order_reqid, [wire.order_stream()]))
                await ws.send(wire.encode_subscribe(session.exec_reqid, [wire.exec_stream()]))
                session.tasks.append(
                    asyncio.create_task(self._read(session), name=f"prime-reader-{self.account_id}")
                )
                if self._ping_interval > 0:
                    session.tasks.append(
                        asyncio.create_task(self._keepalive(session), name=f"prime-ping-{self.account_id}")
                    )
                try:
                    await session.snapshot
                except BaseException:
                    await self._stop_session(session, "no snapshot")
                    raise
                return session
        except TimeoutError as e:
            raise VenueUnavailable("Kraken Prime did not send the open orders in time") from e
        except ConnectionClosed as e:
            raise VenueUnavailable(f"Kraken Prime closed the connection right after the sign-in ({e})") from e
        except (TransportError, MalformedReply) as e:
            # Nothing but the sign-in and subscriptions was sent: no cancel can have happened.
            raise VenueUnavailable(f"Kraken Prime session could not start: {e}") from e

    async def _stop_session(self, session: _Session, reason: str) -> None:
        session.mark_closed(reason)
        current = asyncio.current_task()
        for task in session.tasks:
            if task is not current:
                task.cancel()
        with contextlib.suppress(Exception):
            await session.ws.close()
        await asyncio.gather(*(t for t in session.tasks if t is not current), return_exceptions=True)

    async def _read(self, session: _Session) -> None:
        reason = "closed"
        try:
            while True:
                frame = await session.ws.recv()
                try:
                    message = wire.parse_message(frame)
                except MalformedReply as e:
                    log.warning("%s: %s", self.account_id, e)
                    continue
                self._dispatch(session, message)
        except ConnectionClosed as e:
            reason = f"connection lost ({e.rcvd.code if e.rcvd else 'no close frame'})"
        except asyncio.CancelledError:
            reason = "closed by the console"
            raise
        except Exception as e:  # a bug in dispatch must not leave waiters hanging
            reason = f"reader failed ({type(e).__name__})"
            log.exception("%s: Prime reader failed", self.account_id)
        finally:
            session.mark_closed(reason)
            if self._session is session:
                self._session = None
            log.info("%s: Prime session %s ended: %s", self.account_id, session.session_id, reason)

    async def _keepalive(self, session: _Session) -> None:
        # Prime does not need pings to keep a session (API-FACTS 9.2); we ping to notice a dead
        # link (half-open TCP) and reconnect instead of trusting a silent socket.
        while session.alive:
            await asyncio.sleep(self._ping_interval)
            try:
                await self._ping(session)
            except (TransportError, ConnectionClosed):
                return
            except TimeoutError:
                log.warning("%s: no Pong from Kraken Prime; reconnecting", self.account_id)
                session.mark_closed("no Pong in time")
                with contextlib.suppress(Exception):
                    await session.ws.close()
                return

    async def _ping(self, session: _Session) -> float:
        reqid = self._next_reqid()
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        session.pongs[reqid] = fut
        started = time.monotonic()
        ts = wire.iso_utc(self._clock())
        try:
            await session.ws.send(wire.encode_ping(reqid, [{"ts": ts}], ts))
            async with asyncio.timeout(self._pong_timeout):
                await fut
        finally:
            session.pongs.pop(reqid, None)
        return time.monotonic() - started

    async def ping(self) -> float:
        """Send a Ping (with the non-empty data Kraken requires) and wait for the Pong.

        Returns:
            The round trip in seconds.

        Raises:
            TransportError: no Pong in time or the connection dropped.
        """
        session = await self._ensure_session()
        try:
            return await self._ping(session)
        except TimeoutError as e:
            raise TransportError("no Pong from Kraken Prime in time") from e
        except ConnectionClosed as e:
            raise TransportError("the connection to Kraken Prime dropped") from e

    # ----------------------------------------------------------------------- dispatch

    def _dispatch(self, session: _Session, message: wire.Message) -> None:
        if not session.alive:
            return  # a link we gave up on (no Pong): its late frames must not touch the new view
        if isinstance(message, wire.StreamData):
            if message.reqid is not None and message.reqid in session.waiters:
                fut = session.waiters.pop(message.reqid)
                if not fut.done():
                    fut.set_result(message)
            elif message.reqid == session.order_reqid:
                self._on_orders(session, message)
            elif message.reqid == session.exec_reqid:
                self._on_reports(message)
            return
        if isinstance(message, wire.Pong):
            # Kraken documents that the Pong echoes the data, not that it echoes reqid: match by
            # reqid when it does, else any Pong proves the link is alive for every waiting Ping.
            exact = session.pongs.get(message.reqid) if message.reqid is not None else None
            for pong in [exact] if exact is not None else list(session.pongs.values()):
                if not pong.done():
                    pong.set_result(0.0)
            return
        if isinstance(message, wire.ServerPing):
            pong_text = wire.encode_pong(message.reqid, message.data, wire.iso_utc(self._clock()))
            task = asyncio.create_task(self._send_quietly(session, pong_text), name="prime-pong")
            session.tasks = [t for t in session.tasks if not t.done()]
            session.tasks.append(task)
            return
        if isinstance(message, wire.ServerError):
            self._on_error(session, message)
            return
        if not isinstance(message, wire.Hello):
            log.debug("%s: ignoring Prime message type %s", self.account_id, getattr(message, "type", "?"))

    async def _send_quietly(self, session: _Session, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await session.ws.send(text)

    def _on_error(self, session: _Session, err: wire.ServerError) -> None:
        words = f"{err.code} {err.msg}".strip()
        reqid = err.reqid
        if reqid is not None and reqid in session.waiters:
            refused = VenueRejected(f"Kraken Prime refused the request: {words}", venue_error=words)
            _fail(session.waiters.pop(reqid), refused)
        elif reqid is not None and reqid in session.batches:
            batch = session.batches[reqid]
            batch.error = words
            batch.wake.set()
        elif reqid is not None and reqid in (session.order_reqid, session.exec_reqid):
            if not session.snapshot.done():
                refused = VenueRejected(
                    f"Kraken Prime refused the order subscription: {words}", venue_error=words
                )
                _fail(session.snapshot, refused)
            else:
                log.warning("%s: Prime stream error: %s", self.account_id, words)
        elif reqid is not None and reqid in session.pongs:
            _fail(session.pongs.pop(reqid), TransportError(f"Kraken Prime refused the Ping: {words}"))
        else:
            log.warning("%s: Prime error (reqid %s): %s", self.account_id, reqid, words)

    def _emit(self, event: StreamEvent) -> None:
        if self._sink is not None:
            self._sink(event)

    def _remember_closed(self, order_id: str, outcome: Outcome) -> None:
        self._closed[order_id] = outcome
        self._closed.move_to_end(order_id)
        while len(self._closed) > _CLOSED_KEPT:
            self._closed.popitem(last=False)

    def _merge(self, entry: dict[str, Any], order_id: str) -> Order | None:
        update = dict(entry)
        # After a cancel request some servers put the request's ClOrdID on the order (FIX
        # semantics); keep the order's own client id instead of ours.
        if update.get("ClOrdID") in self._inflight:
            update.pop("ClOrdID")
        merged = {**self._raw.get(order_id, {}), **update}
        try:
            order = wire.parse_order(self.account_id, merged)
        except MalformedReply as e:
            log.warning("%s: skipping an Order entry: %s", self.account_id, e)
            return None
        self._raw[order_id] = merged
        self._orders[order_id] = order
        return order

    def _remove(self, order_id: str, entry: Mapping[str, Any]) -> None:
        outcome = wire.removal_outcome(entry)
        self._remember_closed(order_id, outcome)
        self._raw.pop(order_id, None)
        if self._orders.pop(order_id, None) is not None:
            self._emit(StreamEvent(StreamKind.REMOVED, order_id=order_id, outcome=outcome))

    def _on_orders(self, session: _Session, message: wire.StreamData) -> None:
        first_snapshot = message.initial and not session.snapshot_seen
        if first_snapshot:
            session.snapshot_seen = True
            self._raw.clear()
            self._orders.clear()
        upserts: list[Order] = []
        for entry in message.entries:
            self._match(entry)
            order_id = wire.entry_order_id(entry)
            if order_id is None:
                continue
            if message.action == "Remove" or wire.is_closed_entry(entry):
                self._remove(order_id, entry)
                continue
            order = self._merge(entry, order_id)
            if order is not None:
                upserts.append(order)
        if first_snapshot:
            if not session.snapshot.done():
                session.snapshot.set_result(None)
            if self._sink is not None:
                session.announced = True
                self._emit(StreamEvent(StreamKind.SNAPSHOT, tuple(self._orders.values())))
        elif upserts:
            self._emit(StreamEvent(StreamKind.UPSERT, tuple(upserts)))

    def _on_reports(self, message: wire.StreamData) -> None:
        for entry in message.entries:
            self._match(entry)
            order_id = wire.entry_order_id(entry)
            if order_id is None:
                continue
            if wire.is_closed_entry(entry) and entry.get("ExecType") != "CancelRejected":
                # A closed state on the report stream is a fact too: keep the view right even if the
                # Order stream's removal is late or missing.
                self._remove(order_id, entry)

    def _match(self, entry: Mapping[str, Any]) -> None:
        if not self._inflight:
            return
        cl_ord_id = entry.get("ClOrdID")
        pending = self._inflight.get(cl_ord_id) if isinstance(cl_ord_id, str) else None
        if pending is not None:
            pending.update(wire.cancel_outcome(entry))
            return
        order_id = wire.entry_order_id(entry)
        if order_id is None or order_id not in self._inflight_by_order:
            return
        # Matched by OrderID only: take state facts (Canceled, Filled, PendingCancel), not another
        # request's rejection.
        if entry.get("ExecType") in ("CancelRejected", "Rejected"):
            return
        outcome = wire.cancel_outcome(entry)
        for p in self._inflight_by_order[order_id]:
            p.update(outcome)

    # ----------------------------------------------------------------------- Venue protocol

    async def list_open_orders(self) -> list[Order]:
        """Every open order: the live view, from the initial snapshot of the current connection.

        Raises:
            AuthError: the sign-in was refused.
            VenueUnavailable: Kraken Prime could not be reached or sent no snapshot.
        """
        await self._ensure_session()
        return list(self._orders.values())

    async def execute(self, request: CancelRequest) -> CancelReply:
        """Send one OrderCancelRequest with a data entry per order and wait for the streams' word.

        Returns per order: cancelled, acknowledged never (it is not final: no final word in time
        gives unknown), already gone, filled, rejected (Kraken's reason) or unknown.

        Raises:
            ValueError: a cancel-all form, a userref, too many refs, or a ref without its order.
            AuthError: the sign-in was refused (nothing was sent).
            VenueUnavailable: Kraken Prime could not be reached (nothing was sent).
        """
        if request.form in (RequestForm.ALL, RequestForm.ALL_FOR_SYMBOL):
            raise ValueError("Kraken Prime has no cancel-all: plan per-order requests (cancel_all=False)")
        entries = wire.cancel_entries(request.refs, request.orders)
        if not entries:
            return CancelReply()
        if len(entries) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} orders per Prime cancel request")
        session = await self._ensure_session()
        reqid = self._next_reqid()
        batch = _Batch(reqid, [])
        for entry in entries:
            pending = _Pending(entry, batch)
            batch.pendings.append(pending)
            self._inflight[entry.cl_ord_id] = pending
            self._inflight_by_order.setdefault(entry.order_id, []).append(pending)
        session.batches[reqid] = batch
        timed_out = False
        try:
            text = wire.encode_cancel_request(reqid, entries, wire.iso_utc(self._clock()))
            try:
                await session.ws.send(text)
            except ConnectionClosed:
                session.mark_closed("connection lost while sending")
            else:
                try:
                    async with asyncio.timeout(self._cancel_timeout):
                        await batch.wake.wait()
                except TimeoutError:
                    timed_out = True
        finally:
            session.batches.pop(reqid, None)
            for p in batch.pendings:
                self._inflight.pop(p.entry.cl_ord_id, None)
                siblings = self._inflight_by_order.get(p.entry.order_id, [])
                if p in siblings:
                    siblings.remove(p)
                if not siblings:
                    self._inflight_by_order.pop(p.entry.order_id, None)
        return CancelReply(self._settle(batch, session, timed_out))

    def _settle(self, batch: _Batch, session: _Session, timed_out: bool) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for p in batch.pendings:
            if p.final and p.outcome is not None:
                out[p.entry.order_id] = p.outcome
                continue
            acked = " (Kraken acknowledged it: PendingCancel)" if p.outcome is not None else ""
            if batch.error is not None:
                out[p.entry.order_id] = Outcome(CancelState.REJECTED, f"Kraken Prime: {batch.error}")
            elif timed_out and session.alive:
                out[p.entry.order_id] = Outcome(
                    CancelState.UNKNOWN,
                    f"no final answer from Kraken Prime within {self._cancel_timeout:g} s{acked}; re-check",
                )
            else:
                out[p.entry.order_id] = Outcome(
                    CancelState.UNKNOWN,
                    f"the connection to Kraken Prime dropped before the final answer{acked}; re-check",
                )
        return out

    async def confirm(self, orders: Sequence[Order]) -> dict[str, Outcome]:
        """Find out what became of orders: closed facts seen on the streams, else a fresh query.

        The fresh query is a one-shot ``Order`` subscription filtered on the OrderID (its initial
        snapshot holds the order's current state), stopped right after with a stream cancel.
        Orders still pending cancel, or whose query got no answer, are left out (still unknown).

        Raises:
            AuthError: the sign-in was refused.
            VenueUnavailable: Kraken Prime could not be reached.
        """
        out: dict[str, Outcome] = {}
        to_query: list[Order] = []
        for order in orders:
            known = self._closed.get(order.order_id)
            # Only definite facts are reused; a bare removal is re-asked.
            if known is not None and known.state in (CancelState.CANCELLED, CancelState.FILLED):
                out[order.order_id] = known
            else:
                to_query.append(order)
        if not to_query:
            return out
        session = await self._ensure_session()
        gate = asyncio.Semaphore(CONFIRM_CONCURRENCY)

        async def one(order: Order) -> None:
            async with gate:
                outcome = await self._query_order(session, order.order_id)
            if outcome is not None:
                out[order.order_id] = outcome

        await asyncio.gather(*(one(o) for o in to_query))
        return out

    async def _query_order(self, session: _Session, order_id: str) -> Outcome | None:
        reqid = self._next_reqid()
        fut: asyncio.Future[wire.StreamData] = asyncio.get_running_loop().create_future()
        session.waiters[reqid] = fut
        try:
            await session.ws.send(
                wire.encode_subscribe(reqid, [wire.order_stream(statuses=None, order_id=order_id)])
            )
            async with asyncio.timeout(self._cancel_timeout):
                data = await fut
        except (TimeoutError, TransportError, VenueRejected, ConnectionClosed) as e:
            log.warning("%s: could not confirm %s: %s", self.account_id, order_id, type(e).__name__)
            return None
        finally:
            session.waiters.pop(reqid, None)
            if session.alive:
                with contextlib.suppress(ConnectionClosed):
                    await session.ws.send(wire.encode_stream_cancel(reqid))
        entry = next((e for e in data.entries if wire.entry_order_id(e) == order_id), None)
        if entry is None:
            return Outcome(CancelState.ALREADY_GONE, "Kraken Prime does not list the order")
        if not wire.is_closed_entry(entry):
            if entry.get("OrdStatus") in ("PendingCancel", "PendingNew", "PendingReplace"):
                return None  # still moving: leave it unknown rather than guess
            return Outcome(CancelState.FAILED, "still open at Kraken Prime after the cancel")
        outcome = wire.removal_outcome(entry)
        self._remember_closed(order_id, outcome)
        return outcome

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """Kraken Prime has no dead man's switch (``capabilities.deadman`` is False)."""
        raise NotImplementedError("Kraken Prime has no dead man's switch")

    async def run_stream(self, sink: StreamSink, link: LinkSink) -> None:
        """Stream the account's orders into ``sink`` until cancelled, reconnecting on drops.

        Every (re)connection signs in afresh, re-subscribes and sends a SNAPSHOT event.

        Raises:
            AuthError: the sign-in was refused (the link goes DOWN; retrying would not help).
        """
        self._sink = sink
        attempt = 0
        first = True
        try:
            while True:
                link(LinkState.CONNECTING if first else LinkState.RECONNECTING, "signing in to Kraken Prime")
                first = False
                try:
                    session = await self._ensure_session()
                except AuthError as e:
                    link(LinkState.DOWN, str(e))
                    raise
                except VenueError as e:
                    delay = self.backoff_delay(attempt)
                    attempt += 1
                    link(LinkState.RECONNECTING, f"{e}; retrying in {delay:.1f} s")
                    await asyncio.sleep(delay)
                    continue
                if not session.announced:
                    session.announced = True
                    sink(StreamEvent(StreamKind.SNAPSHOT, tuple(self._orders.values())))
                link(LinkState.LIVE, f"session {session.session_id}")
                await session.closed.wait()
                if time.monotonic() - session.opened_at > self._backoff_max:
                    attempt = 0  # the link was healthy for a while: start the backoff over
                delay = self.backoff_delay(attempt)
                attempt += 1
                link(LinkState.RECONNECTING, f"{session.close_reason}; reconnecting in {delay:.1f} s")
                await asyncio.sleep(delay)
        finally:
            self._sink = None

    async def check_key(self) -> KeyCheck:
        """Probe: sign in and get the Order snapshot (query), cancel an order id nobody has (cancel).

        The cancel probe names a fresh random UUID, so no real order can match it.
        """
        try:
            await self.list_open_orders()
            can_query: bool | None = True
        except VenueRejected as e:
            if isinstance(e, AuthError):
                raise
            can_query = False
        probe = Order(
            self.account_id,
            VenueKind.PRIME,
            str(uuid.uuid4()),
            PROBE_SYMBOL,
            Side.BUY,
            "limit",
            None,
            Decimal(0),
            Decimal(0),
            0.0,
        )
        request = CancelRequest(self.account_id, RequestForm.SINGLE, (CancelRef.of(probe),), (probe,))
        reply = await self.execute(request)
        outcome = reply.outcomes.get(probe.order_id)
        notes: list[str] = []
        can_cancel: bool | None = None
        if outcome is not None and outcome.state is CancelState.ALREADY_GONE:
            can_cancel = True
        elif outcome is not None and outcome.state is CancelState.REJECTED:
            words = (outcome.reason or "").lower()
            if any(
                w in words for w in ("permission", "denied", "not authorized", "unauthorized", "forbidden")
            ):
                can_cancel = False
                notes.append("This key cannot cancel orders: ask Kraken Prime for a key with trading rights.")
        return KeyCheck(can_query, can_cancel, True, tuple(notes))

    async def aclose(self) -> None:
        """Close the socket and stop its tasks."""
        session, self._session = self._session, None
        if session is not None:
            await self._stop_session(session, "closed by the console")


def build_prime_venue(spec: AccountSpec, creds: Credentials, *, url: str) -> PrimeWsVenue:
    """The registry's factory.

    Args:
        spec: the account.
        creds: its Prime key pair.
        url: the WebSocket URL.

    Returns:
        The venue.
    """
    return PrimeWsVenue(spec.account_id, url, creds)

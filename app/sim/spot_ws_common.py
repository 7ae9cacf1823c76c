"""What Spot WebSocket v1 and v2 share on one ``ws-auth`` port: connections, switches, tokens, cancels."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from app.sim.accounts import Account
from app.sim.deadman import DEADMAN_MAX_TIMEOUT_S
from app.sim.faults import BUSINESS_KINDS, WS_REPLY_KINDS, FaultKind, Faults
from app.sim.hostkit import (
    Connections,
    HostContext,
    Outbox,
    Refused,
    after_latency,
    close_connection,
    gone_error,
    read_json_object,
    spot_fault_text,
    take_drop,
)
from app.sim.orders import OrderEvent, SimOrder
from app.sim.truth import Actor, acting
from app.sim.wire import rfc3339

log = logging.getLogger("app.sim.spot_ws")

HOST_NAME = "spot_ws"
IDLE_TIMEOUT_S = 60.0  # Kraken closes connections idle (no request) for about a minute (API-FACTS 2.2)
HEARTBEAT_S = 1.0  # heartbeats about once a second when nothing else was sent
BATCH_MIN = 2  # batch_cancel: 2..50 ids (seed 004)
BATCH_MAX = 50
# A single reply held back by a ``reorder_replies`` fault goes out after the next request's
# replies, or after this long if no request follows.
REORDER_HOLD_S = 1.0
_MALFORMED = "not-a-number"
INVALID_SESSION = "ESession:Invalid session"
PERMISSION_DENIED = "EGeneral:Permission denied"
RATE_LIMITED = "EOrder:Rate limit exceeded"
UNAVAILABLE = "EService:Unavailable"
INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
CANCEL_PERMISSIONS = ("cancel", "trade")
_INT32 = range(-(2**31), 2**31)


Answer = dict[str, Any] | Refused  # one reply: a success result or an error


class Dropped(Exception):
    """The connection was dropped while handling a request (no reply goes out)."""


ReferenceGroup = tuple[list[SimOrder], bool, str]
"""The open orders one reference names, whether it was a userref (which may name many), and
the error Kraken gives when it names none (``gone_error``)."""


# --------------------------------------------------------------------------- connections


@dataclass(eq=False)
class WsConn:
    """One client connection and its subscription."""

    ws: web.WebSocketResponse
    request: web.Request
    connection_id: int
    outbox: Outbox = field(default_factory=Outbox)
    last_request: float = field(default_factory=time.monotonic)
    sequence: int = 0
    unsubscribe: Callable[[], None] | None = None
    order_status: bool = True
    ratecounter: bool = False
    dropped: bool = False
    last_status: str = ""
    unsubscribed_since: float = field(default_factory=time.monotonic)
    held: list[Any] = field(default_factory=list)
    version: SpotWsVersionHost | None = None

    def drop(self) -> None:
        """Close the TCP connection at once, without a closing handshake."""
        self.dropped = True
        close_connection(self.request)

    def stop_stream(self) -> None:
        """End the subscription (no more stream messages)."""
        if self.unsubscribe is not None:
            self.unsubscribe()
            self.unsubscribe = None
            self.unsubscribed_since = time.monotonic()


class SpotWsHost:
    """The ``ws-auth`` host as a whole: what v1 (at ``/``) and v2 (at ``/v2``) share on its port.

    Rules kept: one set of switches for both versions (``idle_timeout_s``, ``heartbeat_s``,
    ``drop_mid_batch``, ``mid_batch_after``, ``unsubscribed_close_s``), patched at ``/_sim/ws``
    or ``/_sim/hosts/spot_ws/settings``; one registry of open connections, so ``drop_all()``
    cuts v1 and v2 sockets alike; the host's faults are read per request and message; every
    connection hears the system status when it connects and whenever it changes.
    """

    def __init__(
        self,
        ctx: HostContext,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        """Bind to the server's shared state.

        Args:
            ctx: The host context from ``SimServer``.
            idle_timeout_s: Close a connection after this long without a request.
            heartbeat_s: Send a heartbeat after this long without any message.
        """
        self.ctx = ctx
        self.exchange = ctx.exchange
        self.idle_timeout_s = idle_timeout_s
        self.heartbeat_s = heartbeat_s
        self.drop_mid_batch = 0  # the next N multi-order cancels drop the socket half-way
        self.mid_batch_after: int | None = None  # orders cancelled before that drop (None: half)
        # Kraken's older docs: an auth connection needs a private subscription to stay open
        # (API-FACTS 11). None: never closed for that; N: closed N s without one.
        self.unsubscribed_close_s: float | None = None
        self.connections: Connections[WsConn] = Connections()
        ctx.server.watch_status(self.push_status)
        ctx.settings = self

    def push_status(self) -> None:
        """Send the status message to every connection that has not heard the status in force."""
        status = self.faults.system_status
        for conn in self.connections:
            if conn.version is not None and conn.last_status != status:
                conn.version.send_status(conn)

    @property
    def faults(self) -> Faults:
        """This host's current fault settings."""
        return self.ctx.faults(HOST_NAME)

    def drop_all(self) -> int:
        """Drop every open connection at once (no closing handshake).

        Returns:
            How many were dropped.
        """
        return self.connections.drop_all()

    def snapshot(self) -> dict[str, Any]:
        """The host's own switches (faults shared with other hosts live in ``Faults``)."""
        return {
            "idle_timeout_s": self.idle_timeout_s,
            "heartbeat_s": self.heartbeat_s,
            "drop_mid_batch": self.drop_mid_batch,
            "mid_batch_after": self.mid_batch_after,
            "unsubscribed_close_s": self.unsubscribed_close_s,
            "connections": len(self.connections),
        }

    def patch(self, changes: Mapping[str, Any]) -> None:
        """Change switches; ``{"drop_all": true}`` drops every socket.

        Raises:
            ValueError: an unknown switch or a bad value (nothing changes then).
        """
        unknown = set(changes) - {*self.snapshot(), "drop_all"} | ({"connections"} & set(changes))
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        updates: dict[str, Any] = {}
        for name in ("idle_timeout_s", "heartbeat_s"):
            if name in changes:
                updates[name] = _number(changes[name], name)
        if "drop_mid_batch" in changes:
            updates["drop_mid_batch"] = int(_number(changes["drop_mid_batch"], "drop_mid_batch"))
        for name in ("mid_batch_after", "unsubscribed_close_s"):
            if name in changes:
                value = changes[name]
                updates[name] = None if value is None else _number(value, name)
        if updates.get("mid_batch_after") is not None:
            updates["mid_batch_after"] = int(updates["mid_batch_after"])
        for name, value in updates.items():
            setattr(self, name, value)
        if changes.get("drop_all"):
            self.drop_all()

    async def control(self, request: web.Request) -> web.Response:
        """``GET|POST /_sim/ws``: read or patch the switches; ``{"drop_all": true}`` drops every socket."""
        if request.method == "POST":
            try:
                self.patch(await read_json_object(request))
            except (TypeError, ValueError) as e:
                raise web.HTTPBadRequest(text=str(e)) from None
        return web.json_response(self.snapshot())

    async def on_shutdown(self, app: web.Application) -> None:
        """End every stream and close every socket when the server stops."""
        for conn in self.connections:
            conn.stop_stream()
        await self.connections.close_all(b"server shutdown")


# --------------------------------------------------------------------------- one version


class SpotWsVersionHost(abc.ABC):
    """One version of the Spot WebSocket API on the shared ``ws-auth`` host.

    Rules kept (both versions): every private request carries a token issued by
    GetWebSocketsToken, unknown, expired (unused for 15 minutes) or invalidated tokens are
    answered ``ESession:Invalid session``; a subscription uses up the token's expiry; streams
    send a snapshot then sparse updates with a sequence; heartbeats go out when nothing else
    was sent for ``heartbeat_s``; a connection with no request for ``idle_timeout_s`` is closed;
    each request is recorded on arrival, then delayed by the host's latency; a
    ``drop_connection`` fault cuts the socket before the request is handled; multi-order
    cancels are charged as a batch and may drop the socket half-way (``drop_mid_batch``).
    """

    HEARTBEAT: ClassVar[dict[str, str]]
    """The heartbeat message of this version."""

    def __init__(self, host: SpotWsHost) -> None:
        """Serve one version on the shared host.

        Args:
            host: The ``ws-auth`` host (switches, connections, context).
        """
        self.host = host
        self.ctx = host.ctx
        self.exchange = host.exchange
        self.book = host.exchange.book
        self.tokens = host.exchange.tokens

    @property
    def faults(self) -> Faults:
        """The host's current fault settings."""
        return self.host.faults

    # ----------------------------------------------------------------------- what a version says

    @abc.abstractmethod
    def status_message(self, conn: WsConn) -> dict[str, Any]:
        """The first message on a new connection (system status).

        Args:
            conn: The new connection.

        Returns:
            The message.
        """

    def send_status(self, conn: WsConn) -> None:
        """Send the status message now (on connect, and on every change of the status)."""
        conn.last_status = self.faults.system_status
        self.send(conn, self.status_message(conn))

    @abc.abstractmethod
    def arrival_of(self, data: dict[str, Any]) -> tuple[str, Any]:
        """Name a decoded request for the arrivals log, and find its token.

        Args:
            data: The decoded request.

        Returns:
            ``(path, token)``; the token may be anything the client sent.
        """

    @abc.abstractmethod
    def handle(self, conn: WsConn, data: Any, received: float) -> None:
        """Answer one decoded request.

        Args:
            conn: The connection.
            data: The decoded request (None when it was not JSON).
            received: Unix time it came in.

        Raises:
            Dropped: the connection was dropped half-way.
        """

    @abc.abstractmethod
    def stream_event(self, conn: WsConn, event: OrderEvent) -> None:
        """Send an exchange event to a subscribed connection.

        Args:
            conn: The subscribed connection.
            event: The exchange event.
        """

    # ----------------------------------------------------------------------- connection loop

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """``GET``: one connection, from upgrade to close.

        Args:
            request: The upgrade request.

        Returns:
            The closed socket.
        """
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, max_msg_size=2**22)
        await ws.prepare(request)
        conn = WsConn(ws, request, self.ctx.rng.getrandbits(63), version=self)
        self.host.connections.add(conn)
        writer = asyncio.create_task(
            conn.outbox.run(ws, lambda: conn.dropped), name=f"sim-spot-ws-writer-{conn.connection_id}"
        )
        watchdog = asyncio.create_task(
            self._watchdog(conn), name=f"sim-spot-ws-watchdog-{conn.connection_id}"
        )
        self.send_status(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                conn.last_request = time.monotonic()
                received = time.time()
                data = self._arrived(conn, str(msg.data))
                after_latency(self.faults.delay_s(), self._handle_safely, conn, data, received)
        finally:
            conn.stop_stream()
            self.host.connections.discard(conn)
            conn.outbox.close()
            watchdog.cancel()
            for task in (writer, watchdog):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    def send(self, conn: WsConn, message: Any, *, delay: float = 0.0) -> None:
        """Queue a message for a connection (nothing once it is dropped or closed).

        Args:
            conn: The connection.
            message: A JSON-ready message.
            delay: Seconds of latency before it leaves.
        """
        if conn.dropped or conn.ws.closed:
            return
        conn.outbox.put(message, delay)

    async def _watchdog(self, conn: WsConn) -> None:
        host = self.host
        tick = max(0.02, min(host.heartbeat_s, host.idle_timeout_s, host.unsubscribed_close_s or 60.0) / 4)
        while not conn.ws.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - conn.last_request >= host.idle_timeout_s:
                log.info("closing idle connection %d", conn.connection_id)
                conn.stop_stream()
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1000, message=b"idle")
                return
            limit = host.unsubscribed_close_s
            if limit is not None and conn.unsubscribe is None and now - conn.unsubscribed_since >= limit:
                log.info("closing connection %d: no private subscription", conn.connection_id)
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1000, message=b"no private subscription")
                return
            if now - conn.outbox.last_sent >= host.heartbeat_s and conn.outbox.empty():
                self.send(conn, self.HEARTBEAT)
                conn.outbox.last_sent = now

    def _arrived(self, conn: WsConn, text: str) -> Any:
        """Decode a request and record its arrival first thing, before any injected latency."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return data
        path, token = self.arrival_of(data)
        known = self.tokens.validate(token) if isinstance(token, str) else None
        self.exchange.arrivals.record(HOST_NAME, path, known)
        return data

    def _handle_safely(self, conn: WsConn, data: Any, received: float) -> None:
        if conn.dropped or conn.ws.closed:
            return
        name = self.arrival_of(data)[0].split(":", 1)[-1] if isinstance(data, dict) else None
        try:
            with acting(Actor("request", HOST_NAME, name, conn.request.path)):
                self.handle(conn, data, received)
        except Dropped:
            log.info("dropped connection %d mid-request", conn.connection_id)
        except Exception:
            log.exception("spot ws request failed")

    def drop_fault(self, conn: WsConn, *, cancels: bool = False) -> None:
        """Cut the connection if a ``drop_connection`` fault is pending (before handling).

        Args:
            conn: The connection.
            cancels: The request changes orders (``scope: cancels`` faults hit only those).

        Raises:
            Dropped: it was cut.
        """
        if self.faults.applies_to(cancels) and take_drop(self.faults):
            conn.drop()
            raise Dropped()

    def business_fault(self) -> None:
        """Answer a request that changes orders with a pending business fault (nothing applied).

        Raises:
            Refused: ``EGeneral:Too many requests``, ``EService:Throttled``... (Spot's words).
        """
        kind = self.faults.take(*BUSINESS_KINDS)
        if kind is not None:
            raise Refused(spot_fault_text(kind, time.time()) or UNAVAILABLE)

    def deliver(self, conn: WsConn, replies: list[Any]) -> None:
        """Send the replies to a request that changed orders, through the reply faults.

        ``drop_after_apply`` cuts the socket, ``lost_reply`` sends nothing (the socket stays
        up), ``duplicate_reply`` sends each twice, ``reorder_replies`` reverses several
        replies or holds a single one until after the next request's replies (at most
        ``REORDER_HOLD_S``).

        Args:
            conn: The connection.
            replies: The messages, in order.
        """
        faults = self.faults
        fault = faults.take(*WS_REPLY_KINDS) if faults.applies_to(True) else None
        held, conn.held = conn.held, []
        if fault is not None:
            log.info("fault %s on connection %d", fault.value, conn.connection_id)
        if fault is FaultKind.DROP_AFTER:
            conn.drop()
            return
        if fault is FaultKind.LOST_REPLY:
            replies = []
        elif fault is FaultKind.DUPLICATE_REPLY:
            replies = [message for reply in replies for message in (reply, reply)]
        elif fault is FaultKind.REORDER_REPLIES:
            if len(replies) > 1:
                replies = replies[::-1]
            else:
                conn.held, replies = replies, []
                asyncio.get_running_loop().call_later(REORDER_HOLD_S, self._flush_held, conn, conn.held)
        for message in [*replies, *held]:
            self.send(conn, message)

    def _flush_held(self, conn: WsConn, held: list[Any]) -> None:
        if conn.held is held:
            conn.held = []
            for message in held:
                self.send(conn, message)

    def next_sequence(self, conn: WsConn) -> int | None:
        """The sequence of the next stream update, through the stream faults.

        Returns:
            The sequence, or None when the update is lost (``lost_delta``: it still uses its
            number, so the next one carries the right sequence); ``skip_sequence`` skips a
            number without losing anything.
        """
        faults = self.faults
        if faults.take(FaultKind.LOST_DELTA):
            conn.sequence += 1
            log.info("fault lost_delta on connection %d", conn.connection_id)
            return None
        if faults.take(FaultKind.SKIP_SEQUENCE):
            conn.sequence += 1
        conn.sequence += 1
        return conn.sequence

    def malformed(self, orders: list[dict[str, Any]], field_name: str) -> None:
        """Spoil one order of a snapshot when a ``malformed_order`` fault is pending.

        Args:
            orders: The snapshot's order objects (the first is spoiled, the rest stay fine).
            field_name: The numeric field made non-numeric.
        """
        if orders and self.faults.take(FaultKind.MALFORMED_ORDER):
            orders[0][field_name] = _MALFORMED

    def rate_count(self, order: SimOrder) -> int:
        """The pair's trading counter now, as ``ratecount`` shows it (API-FACTS 7.2)."""
        return round(self.exchange.limits.spot_rate_count(order.account, order.symbol))

    # ----------------------------------------------------------------------- shared logic

    def account_for(self, token: Any) -> Account:
        """The account a request's token names.

        Raises:
            Refused: ``ESession:Invalid session`` for a token that is not good, or when an
                ``invalid_session`` fault is pending.
        """
        if self.faults.take(FaultKind.INVALID_SESSION):
            raise Refused(INVALID_SESSION)
        name = self.tokens.validate(token) if isinstance(token, str) else None
        if name is None:
            raise Refused(INVALID_SESSION)
        return self.exchange.accounts.account(name)

    def check_cancel(self, account: Account) -> None:
        """Refuse a cancel the key may not make, or that maintenance stops.

        Raises:
            Refused: permission denied, or the service is unavailable.
        """
        if not account.can(*CANCEL_PERMISSIONS):
            raise Refused(PERMISSION_DENIED)
        if self.faults.system_status == "maintenance":
            raise Refused(UNAVAILABLE)

    def charge_cancels(self, name: str, targets: list[SimOrder], *, batch: bool) -> None:
        """Charge the pair counters for cancelling ``targets``.

        Raises:
            Refused: ``EOrder:Rate limit exceeded`` (nothing is charged).
        """
        if not self.exchange.limits.charge_spot_cancels(name, targets, batch=batch):
            raise Refused(RATE_LIMITED)

    def drop_mid_batch(self, conn: WsConn, name: str, order_ids: list[str]) -> None:
        """When the ``drop_mid_batch`` switch is on, cancel part of a batch, then cut the socket.

        Raises:
            Dropped: it did.
        """
        host = self.host
        if host.drop_mid_batch > 0 and len(order_ids) >= 2:
            host.drop_mid_batch -= 1
            keep = host.mid_batch_after if host.mid_batch_after is not None else len(order_ids) // 2
            self.book.cancel_many(name, order_ids[:keep])
            conn.drop()
            raise Dropped()

    def cancel_targets(
        self, conn: WsConn, account: Account, targets: list[SimOrder], *, batch: bool
    ) -> list[SimOrder]:
        """Cancel ``targets`` (charging the rate counter); a batch may drop the socket half-way.

        Returns:
            The orders cancelled.
        """
        name = account.name
        self.charge_cancels(name, targets, batch=batch)
        ids_ = [o.order_id for o in targets]
        if batch:
            self.drop_mid_batch(conn, name, ids_)
        return self.book.cancel_many(name, ids_)

    def reference_groups(
        self, name: str, *, order_ids: list[str], userrefs: list[int], cl_ord_ids: list[str]
    ) -> tuple[list[ReferenceGroup], list[ReferenceGroup], list[ReferenceGroup]]:
        """Resolve each reference on its own (each version answers per reference).

        Args:
            name: Account name.
            order_ids: Order ids.
            userrefs: User references.
            cl_ord_ids: Client order ids.

        Returns:
            The groups of the order ids, of the userrefs and of the client order ids.
        """
        find = self.book.find_open
        exchange, faults = self.exchange, self.faults
        return (
            [
                (find(name, order_ids=[i]), False, gone_error(exchange, faults, name, order_id=i))
                for i in order_ids
            ],
            [(find(name, userrefs=[u]), True, gone_error(exchange, faults, name)) for u in userrefs],
            [
                (find(name, cl_ord_ids=[c]), False, gone_error(exchange, faults, name, cl_ord_id=c))
                for c in cl_ord_ids
            ],
        )

    def subscribe_stream(self, conn: WsConn, token: str, *, ratecounter: bool = False) -> None:
        """Take a subscription (the stream starts with ``start_stream``, after the ack)."""
        conn.stop_stream()
        conn.sequence = 0
        conn.ratecounter = ratecounter
        self.tokens.mark_used(token)
        conn.unsubscribe = _pending

    def start_stream(self, conn: WsConn, account: Account, snapshot: Callable[[], None]) -> None:
        """Send the snapshot and start the updates, in one tick (no event falls between).

        With ``snapshot_delay_ms`` set, both happen that much after the subscribe ack.

        Args:
            conn: The connection (subscribed by ``subscribe_stream``).
            account: The account streamed.
            snapshot: Sends the snapshot.
        """

        def start() -> None:
            if conn.dropped or conn.ws.closed or conn.unsubscribe is not _pending:
                return

            def on_event(event: OrderEvent) -> None:
                self.stream_event(conn, event)

            conn.unsubscribe = self.book.subscribe(account.name, on_event)
            snapshot()

        delay = self.faults.snapshot_delay_ms / 1000.0
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, start)
        else:
            start()

    def arm_deadman(self, account: Account, timeout: Any) -> tuple[str, str]:
        """Arm or disarm the dead man's switch (cancelAllOrdersAfter / cancel_all_orders_after).

        Returns:
            ``(currentTime, triggerTime)`` as Kraken writes them (``"0"`` when disarmed).

        Raises:
            Refused: a bad timeout, or a key that may not cancel.
        """
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int)
            or not 0 <= timeout < DEADMAN_MAX_TIMEOUT_S
        ):
            raise Refused(f"{INVALID_ARGUMENTS}:timeout")
        if not account.can(*CANCEL_PERMISSIONS):
            raise Refused(PERMISSION_DENIED)
        now, trigger = self.exchange.deadman.arm(account.name, timeout)
        return rfc3339(now), rfc3339(trigger) if trigger else "0"


# --------------------------------------------------------------------------- request fields


def _pending() -> None:
    """The subscription of a connection whose stream has not started yet."""


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a non-negative number")
    return float(value)


def any_list(value: Any, name: str) -> list[Any]:
    """A list field (absent is empty).

    Raises:
        Refused: it is not a list.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise Refused(f"{INVALID_ARGUMENTS}:{name}")
    return value


def str_list(value: Any, name: str) -> list[str]:
    """A list of non-empty strings (absent is empty).

    Raises:
        Refused: it is anything else.
    """
    items = any_list(value, name)
    if not all(isinstance(v, str) and v for v in items):
        raise Refused(f"{INVALID_ARGUMENTS}:{name}")
    return [str(v) for v in items]


def int_list(value: Any, name: str) -> list[int]:
    """A list of 32-bit integers, or of their decimal texts (absent is empty).

    Raises:
        Refused: it is anything else.
    """
    items = any_list(value, name)
    out = []
    for v in items:
        if isinstance(v, bool):
            raise Refused(f"{INVALID_ARGUMENTS}:{name}")
        try:
            ref = int(v)
        except (TypeError, ValueError):
            raise Refused(f"{INVALID_ARGUMENTS}:{name}") from None
        if ref not in _INT32:
            raise Refused(f"{INVALID_ARGUMENTS}:{name}")
        out.append(ref)
    return out


def split_refs(values: list[Any]) -> tuple[list[str], list[int]]:
    """Split ``orders``/``txid`` items into Kraken order ids and userrefs (digits or ints).

    Raises:
        Refused: an item is neither.
    """
    txids: list[str] = []
    userrefs: list[int] = []
    for v in values:
        if isinstance(v, bool):
            raise Refused(f"{INVALID_ARGUMENTS}:orders")
        if isinstance(v, int) or (isinstance(v, str) and v.strip().lstrip("-").isdigit()):
            ref = int(v)
            if ref not in _INT32:
                raise Refused(f"{INVALID_ARGUMENTS}:orders")
            userrefs.append(ref)
        elif isinstance(v, str) and v:
            # Any other text is a Kraken id; ids that do not exist are unknown orders.
            txids.append(v)
        else:
            raise Refused(f"{INVALID_ARGUMENTS}:orders")
    return txids, userrefs

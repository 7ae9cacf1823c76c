"""What Spot WebSocket v1 and v2 share on one ``ws-auth`` port: connections, switches, tokens, cancels."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from app.sim.accounts import Account
from app.sim.deadman import DEADMAN_MAX_TIMEOUT_S
from app.sim.faults import Faults
from app.sim.hostkit import (
    Connections,
    HostContext,
    Outbox,
    Refused,
    after_latency,
    close_connection,
    read_json_object,
    take_drop,
)
from app.sim.orders import OrderEvent, SimOrder
from app.sim.wire import rfc3339

log = logging.getLogger("app.sim.spot_ws")

HOST_NAME = "spot_ws"
IDLE_TIMEOUT_S = 60.0  # Kraken closes connections idle (no request) for about a minute (API-FACTS 2.2)
HEARTBEAT_S = 1.0  # heartbeats about once a second when nothing else was sent
BATCH_MIN = 2  # batch_cancel: 2..50 ids (seed 004)
BATCH_MAX = 50
UNKNOWN_ORDER = "EOrder:Unknown order"
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


ReferenceGroup = tuple[list[SimOrder], bool]
"""The open orders one reference names, and whether it was a userref (which may name many)."""


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
    dropped: bool = False

    def drop(self) -> None:
        """Close the TCP connection at once, without a closing handshake."""
        self.dropped = True
        close_connection(self.request)

    def stop_stream(self) -> None:
        """End the subscription (no more stream messages)."""
        if self.unsubscribe is not None:
            self.unsubscribe()
            self.unsubscribe = None


class SpotWsHost:
    """The ``ws-auth`` host as a whole: what v1 (at ``/``) and v2 (at ``/v2``) share on its port.

    Rules kept: one set of switches for both versions (``idle_timeout_s``, ``heartbeat_s``,
    ``drop_mid_batch``, ``mid_batch_after``), patched at ``/_sim/ws``; one registry of open
    connections, so ``drop_all()`` cuts v1 and v2 sockets alike; the host's faults are read per
    request and message.
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
        self.connections: Connections[WsConn] = Connections()

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

    def settings(self) -> dict[str, Any]:
        """The host's own switches (faults shared with other hosts live in ``Faults``)."""
        return {
            "idle_timeout_s": self.idle_timeout_s,
            "heartbeat_s": self.heartbeat_s,
            "drop_mid_batch": self.drop_mid_batch,
            "mid_batch_after": self.mid_batch_after,
            "connections": len(self.connections),
        }

    async def control(self, request: web.Request) -> web.Response:
        """``GET|POST /_sim/ws``: read or patch the switches; ``{"drop_all": true}`` drops every socket."""
        if request.method == "POST":
            data = await read_json_object(request)
            try:
                for name in ("idle_timeout_s", "heartbeat_s"):
                    if name in data:
                        setattr(self, name, float(data[name]))
                if "drop_mid_batch" in data:
                    self.drop_mid_batch = int(data["drop_mid_batch"])
                if "mid_batch_after" in data:
                    after = data["mid_batch_after"]
                    self.mid_batch_after = None if after is None else int(after)
            except (TypeError, ValueError) as e:
                raise web.HTTPBadRequest(text=str(e)) from None
            if data.get("drop_all"):
                self.drop_all()
        return web.json_response(self.settings())

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
        conn = WsConn(ws, request, self.ctx.rng.getrandbits(63))
        self.host.connections.add(conn)
        writer = asyncio.create_task(
            conn.outbox.run(ws, lambda: conn.dropped), name=f"sim-spot-ws-writer-{conn.connection_id}"
        )
        watchdog = asyncio.create_task(
            self._watchdog(conn), name=f"sim-spot-ws-watchdog-{conn.connection_id}"
        )
        self.send(conn, self.status_message(conn))
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
        tick = max(0.02, min(host.heartbeat_s, host.idle_timeout_s) / 4)
        while not conn.ws.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - conn.last_request >= host.idle_timeout_s:
                log.info("closing idle connection %d", conn.connection_id)
                conn.stop_stream()
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1000, message=b"idle")
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
        try:
            self.handle(conn, data, received)
        except Dropped:
            log.info("dropped connection %d mid-request", conn.connection_id)
        except Exception:
            log.exception("spot ws request failed")

    def drop_fault(self, conn: WsConn) -> None:
        """Cut the connection if a ``drop_connection`` fault is pending.

        Raises:
            Dropped: it was cut.
        """
        if take_drop(self.faults):
            conn.drop()
            raise Dropped()

    # ----------------------------------------------------------------------- shared logic

    def account_for(self, token: Any) -> Account:
        """The account a request's token names.

        Raises:
            Refused: ``ESession:Invalid session`` for a token that is not good.
        """
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
        return (
            [(find(name, order_ids=[i]), False) for i in order_ids],
            [(find(name, userrefs=[u]), True) for u in userrefs],
            [(find(name, cl_ord_ids=[c]), False) for c in cl_ord_ids],
        )

    def subscribe_stream(self, conn: WsConn, account: Account, token: str) -> None:
        """Start (or restart) a connection's stream of the account's order events."""
        conn.stop_stream()
        conn.sequence = 0
        self.tokens.mark_used(token)

        def on_event(event: OrderEvent) -> None:
            self.stream_event(conn, event)

        conn.unsubscribe = self.book.subscribe(account.name, on_event)

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

"""The simulated Spot WebSocket host (``ws-auth.kraken.com``): v1 at ``/``, v2 at ``/v2``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from app.sim import ids
from app.sim.faults import FaultKind, Faults
from app.sim.hostkit import HostContext, is_loopback, read_json_object
from app.sim.state import (
    DEADMAN_MAX_TIMEOUT_S,
    STOP_ORDER_TYPES,
    Account,
    Exchange,
    OrderEvent,
    SimOrder,
    fmt_decimal,
    spot_instrument,
)
from app.sim.wire import rfc3339

log = logging.getLogger("app.sim.spot_ws")
_TRADE_RNG = random.Random("spot_ws:trades")  # trade ids only; never affects order state

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
_CANCEL_PERMISSIONS = ("cancel", "trade")
_INT32 = range(-(2**31), 2**31)


class _Refused(Exception):
    """A request the venue answers with an error string."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_Answer = dict[str, Any] | _Refused  # one reply: a success result or an error


class _Dropped(Exception):
    """The connection was dropped while handling a request (no reply goes out)."""


def rfc3339_us(ts: float) -> str:
    """Format unix seconds as v2's RFC3339 with microseconds (``2022-12-25T09:30:59.123456Z``).

    Args:
        ts: Unix seconds.

    Returns:
        The UTC timestamp text.
    """
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _num(text: str | None) -> float:
    """A decimal string as the JSON number v2 sends."""
    return float(Decimal(text)) if text not in (None, "") else 0.0


# --------------------------------------------------------------------------- order rendering


def v2_symbol(order: SimOrder) -> str:
    """The v2 pair name (``BTC/USD``: v2 says BTC, not XBT)."""
    inst = spot_instrument(order.symbol)
    return inst.v2_symbol if inst is not None and inst.v2_symbol else order.symbol


def v1_pair(order: SimOrder) -> str:
    """The v1 pair name (``XBT/USD``)."""
    inst = spot_instrument(order.symbol)
    return inst.symbol if inst is not None else order.symbol


def _ids_of(order: SimOrder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if order.userref is not None:
        out["order_userref"] = order.userref
    if order.cl_ord_id is not None:
        out["cl_ord_id"] = order.cl_ord_id
    return out


def v2_full_report(order: SimOrder, exec_type: str, order_status: str, ts: float) -> dict[str, Any]:
    """A complete v2 execution report (snapshot entries and the first report of a new order).

    Args:
        order: The order.
        exec_type: ``new``, ``pending_new``...
        order_status: ``new``, ``pending_new``, ``partially_filled``...
        ts: The event time.

    Returns:
        The JSON-ready report (numbers as JSON numbers, as v2 sends them).
    """
    filled = Decimal(order.filled)
    report: dict[str, Any] = {
        "order_id": order.order_id,
        "symbol": v2_symbol(order),
        "order_qty": _num(order.qty),
        "cum_qty": _num(order.filled),
        "cum_cost": float(filled * order.fill_price),
        "time_in_force": "GTC",
        "exec_type": exec_type,
        "side": order.side,
        "order_type": order.order_type,
        "order_status": order_status,
        "fee_usd_equiv": 0.0,
        "fee_ccy_pref": "fciq",
        "timestamp": rfc3339_us(ts),
    }
    if Decimal(order.price) > 0:
        report["limit_price_type"] = "static"
        report["limit_price"] = _num(order.price)
    if order.order_type in STOP_ORDER_TYPES and order.stop_price is not None:
        report["triggers"] = {
            "reference": "last",
            "price": _num(order.stop_price),
            "price_type": "static",
            "status": "untriggered",
        }
    report.update(_ids_of(order))
    return report


def v2_event_reports(event: OrderEvent, *, order_status: bool) -> list[dict[str, Any]]:
    """The executions reports (one per message) an exchange event produces.

    New orders come as ``pending_new`` (full) then ``new`` (sparse); a fill is a ``trade``
    (which says ``partially_filled`` even when it completes the order, as Kraken documents)
    followed by ``filled``; cancels and expiries are sparse with the reason. Without
    ``order_status`` only new/filled/canceled/expired transitions (and trades) are sent.

    Args:
        event: The exchange event.
        order_status: The subscription's ``order_status`` flag.

    Returns:
        The reports, each sent as its own update message.
    """
    order, ts = event.order, event.time
    ids_ = _ids_of(order)
    head = {"order_id": order.order_id}
    if event.kind == "new":
        if not order_status:
            return [v2_full_report(order, "new", "new", ts)]
        return [
            v2_full_report(order, "pending_new", "pending_new", ts),
            {**head, "exec_type": "new", "order_status": "new", "timestamp": rfc3339_us(ts), **ids_},
        ]
    if event.kind == "fill":
        price = order.fill_price
        last_qty = Decimal(event.last_qty or "0")
        trade = {
            **head,
            "exec_type": "trade",
            "order_status": "partially_filled",
            "exec_id": ids.new_spot_txid(_TRADE_RNG).replace("O", "T", 1),
            "last_qty": float(last_qty),
            "last_price": float(price),
            "liquidity_ind": "m",
            "cost": float(last_qty * price),
            "cum_qty": _num(order.filled),
            "cum_cost": float(Decimal(order.filled) * price),
            "avg_price": float(price),
            "fees": [{"asset": "USD", "qty": 0.0}],
            "timestamp": rfc3339_us(ts),
            **ids_,
        }
        if order.status != "closed":
            return [trade]
        done = {
            **head,
            "exec_type": "filled",
            "order_status": "filled",
            "cum_qty": _num(order.filled),
            "timestamp": rfc3339_us(ts),
            **ids_,
        }
        return [trade, done]
    if event.kind in ("canceled", "expired"):
        status = event.kind
        report = {
            **head,
            "exec_type": status,
            "order_status": status,
            "cum_qty": _num(order.filled),
            "timestamp": rfc3339_us(ts),
            **ids_,
        }
        if event.reason:
            report["reason"] = event.reason
        return [report]
    if event.kind == "update" and order_status:
        return [
            {
                **head,
                "exec_type": "amended",
                "order_status": "partially_filled" if Decimal(order.filled) > 0 else "new",
                "order_qty": _num(order.qty),
                "limit_price": _num(order.price),
                "reason": "User requested",
                "timestamp": rfc3339_us(ts),
                **ids_,
            }
        ]
    return []


def _v1_descr(order: SimOrder) -> dict[str, Any]:
    inst = spot_instrument(order.symbol)
    pdec = inst.price_decimals if inst is not None else 8
    pair = v1_pair(order)
    if order.order_type in STOP_ORDER_TYPES and order.stop_price is not None:
        # Kraken: for triggered orders descr.price is the trigger and price2 the limit.
        price = fmt_decimal(Decimal(order.stop_price), pdec)
        limit = order.order_type.endswith("-limit")
        price2 = fmt_decimal(Decimal(order.price), pdec) if limit else fmt_decimal(Decimal(0), pdec)
    else:
        price = fmt_decimal(Decimal(order.price), pdec)
        price2 = fmt_decimal(Decimal(0), pdec)
    text = f"{order.side} {fmt_decimal(Decimal(order.qty), 8)} {pair} @ {order.order_type} {price}"
    return {
        "close": "",
        "leverage": "none",
        "order": text,
        "ordertype": order.order_type,
        "pair": pair,
        "price": price,
        "price2": price2,
        "type": order.side,
    }


def v1_entry(order: SimOrder, status: str) -> dict[str, Any]:
    """A complete v1 openOrders entry (numbers and times as strings, as v1 sends them).

    Args:
        order: The order.
        status: ``pending`` or ``open``.

    Returns:
        The JSON-ready fields (the caller wraps them as ``{txid: fields}``).
    """
    filled = Decimal(order.filled)
    price = order.fill_price
    zero = "0.00000000"
    entry: dict[str, Any] = {
        "avg_price": fmt_decimal(price, 8) if filled else zero,
        "cost": fmt_decimal(filled * price, 8) if filled else zero,
        "descr": _v1_descr(order),
        "expiretm": "0.000000",
        "fee": zero,
        "limitprice": zero,
        "misc": "",
        "oflags": "fciq",
        "opentm": f"{order.opened_at:.6f}",
        "refid": None,
        "starttm": "0.000000",
        "status": status,
        "stopprice": zero,
        "timeinforce": "GTC",
        "userref": order.userref or 0,
        "vol": fmt_decimal(Decimal(order.qty), 8),
        "vol_exec": fmt_decimal(filled, 8),
    }
    if order.cl_ord_id is not None:
        entry["cl_ord_id"] = order.cl_ord_id
    return entry


def v1_event_entries(event: OrderEvent) -> list[dict[str, Any]]:
    """The openOrders updates (``{txid: fields}``, one per message) an exchange event produces.

    Args:
        event: The exchange event.

    Returns:
        The entries; each is sent as its own message.
    """
    order, ts = event.order, event.time
    txid = order.order_id
    updated = f"{ts:.6f}"
    if event.kind == "new":
        return [{txid: v1_entry(order, "pending")}, {txid: {"status": "open", "userref": order.userref or 0}}]
    if event.kind == "fill":
        filled = Decimal(order.filled)
        price = order.fill_price
        fields: dict[str, Any] = {
            "vol_exec": fmt_decimal(filled, 8),
            "cost": fmt_decimal(filled * price, 8),
            "fee": "0.00000000",
            "avg_price": fmt_decimal(price, 8),
            "userref": order.userref or 0,
        }
        if order.status == "closed":
            fields.update({"status": "closed", "lastupdated": updated})
        return [{txid: fields}]
    if event.kind in ("canceled", "expired"):
        fields = {"status": event.kind, "lastupdated": updated, "userref": order.userref or 0}
        if event.reason:
            fields["cancel_reason"] = event.reason
        return [{txid: fields}]
    if event.kind == "update":
        return [{txid: {"vol": fmt_decimal(Decimal(order.qty), 8), "descr": _v1_descr(order)}}]
    return []


# --------------------------------------------------------------------------- connections


@dataclass(eq=False)
class _Conn:
    """One client connection and its subscription."""

    ws: web.WebSocketResponse
    request: web.Request
    version: int
    connection_id: int
    outbox: asyncio.Queue[tuple[float, str] | None] = field(default_factory=asyncio.Queue)
    last_request: float = field(default_factory=time.monotonic)
    last_sent: float = field(default_factory=time.monotonic)
    sequence: int = 0
    unsubscribe: Callable[[], None] | None = None
    order_status: bool = True
    dropped: bool = False

    def drop(self) -> None:
        """Close the TCP connection at once, without a closing handshake."""
        self.dropped = True
        transport = self.request.transport
        if transport is not None:
            transport.close()

    def stop_stream(self) -> None:
        """End the subscription (no more stream messages)."""
        if self.unsubscribe is not None:
            self.unsubscribe()
            self.unsubscribe = None


class SpotWsHost:
    """The ``ws-auth`` host: Spot WebSocket v1 and v2 on the shared exchange.

    Rules kept: every private request carries a token issued by GetWebSocketsToken, unknown,
    expired (unused for 15 minutes) or invalidated tokens are answered ``ESession:Invalid
    session``; a subscription uses up the token's expiry; replies echo ``req_id``/``reqid``;
    v2 replies carry ``time_in``/``time_out``; ``cancel_order`` answers once per order it
    cancelled, ``batch_cancel`` once with a count, v1 ``cancelOrder`` once per id or order
    without naming it; streams send a snapshot then sparse updates with a sequence; heartbeats
    go out when nothing else was sent for a second; a connection with no request for
    ``idle_timeout_s`` is closed; faults: latency (requests in, stream messages out), drops
    (``drop_connection``), ``system_status``, plus ``drop_all()`` and ``drop_mid_batch``.
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
        self.exchange: Exchange = ctx.exchange
        self.idle_timeout_s = idle_timeout_s
        self.heartbeat_s = heartbeat_s
        self.drop_mid_batch = 0  # the next N multi-order cancels drop the socket half-way
        self.mid_batch_after: int | None = None  # orders cancelled before that drop (None: half)
        self.connections: set[_Conn] = set()

    @property
    def faults(self) -> Faults:
        """This host's current fault settings."""
        return self.ctx.faults(HOST_NAME)

    def drop_all(self) -> int:
        """Drop every open connection at once (no closing handshake).

        Returns:
            How many were dropped.
        """
        conns = list(self.connections)
        for conn in conns:
            conn.drop()
        return len(conns)

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

    # ----------------------------------------------------------------------- connection loop

    async def serve_v1(self, request: web.Request) -> web.StreamResponse:
        """``GET /``: a v1 connection."""
        return await self._serve(request, 1)

    async def serve_v2(self, request: web.Request) -> web.StreamResponse:
        """``GET /v2``: a v2 connection."""
        return await self._serve(request, 2)

    async def _serve(self, request: web.Request, version: int) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, max_msg_size=2**22)
        await ws.prepare(request)
        conn = _Conn(ws, request, version, self.ctx.rng.getrandbits(63))
        self.connections.add(conn)
        writer = asyncio.create_task(self._writer(conn), name=f"sim-spot-ws-writer-{conn.connection_id}")
        watchdog = asyncio.create_task(
            self._watchdog(conn), name=f"sim-spot-ws-watchdog-{conn.connection_id}"
        )
        self._send(conn, self._status_message(conn))
        loop = asyncio.get_running_loop()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                conn.last_request = time.monotonic()
                received = time.time()
                data = self._arrived(conn, str(msg.data))
                delay = self.faults.delay_s()
                if delay:
                    # Equal delays keep requests in order (the loop's timers are FIFO).
                    loop.call_later(delay, self._handle_safely, conn, data, received)
                else:
                    self._handle_safely(conn, data, received)
        finally:
            conn.stop_stream()
            self.connections.discard(conn)
            conn.outbox.put_nowait(None)
            watchdog.cancel()
            for task in (writer, watchdog):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    def _status_message(self, conn: _Conn) -> dict[str, Any]:
        system = self.faults.system_status
        if conn.version == 2:
            data = {
                "api_version": "v2",
                "connection_id": conn.connection_id,
                "system": system,
                "version": "2.0.10",
            }
            return {"channel": "status", "type": "update", "data": [data]}
        return {
            "connectionID": conn.connection_id,
            "event": "systemStatus",
            "status": system,
            "version": "1.9.5",
        }

    def _send(self, conn: _Conn, message: Any, *, delay: float = 0.0) -> None:
        if conn.dropped or conn.ws.closed:
            return
        conn.outbox.put_nowait((time.monotonic() + delay, json.dumps(message, separators=(",", ":"))))

    async def _writer(self, conn: _Conn) -> None:
        while True:
            item = await conn.outbox.get()
            if item is None:
                return
            due, text = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if conn.dropped or conn.ws.closed:
                continue
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            conn.last_sent = time.monotonic()

    async def _watchdog(self, conn: _Conn) -> None:
        tick = max(0.02, min(self.heartbeat_s, self.idle_timeout_s) / 4)
        while not conn.ws.closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - conn.last_request >= self.idle_timeout_s:
                log.info("closing idle connection %d", conn.connection_id)
                conn.stop_stream()
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1000, message=b"idle")
                return
            if now - conn.last_sent >= self.heartbeat_s and conn.outbox.empty():
                self._send(conn, {"channel": "heartbeat"} if conn.version == 2 else {"event": "heartbeat"})
                conn.last_sent = now

    def _arrived(self, conn: _Conn, text: str) -> Any:
        """Decode a request and record its arrival first thing, before any injected latency."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return data
        if conn.version == 2:
            params = data.get("params")
            token = params.get("token") if isinstance(params, dict) else None
            path = f"v2:{data.get('method')}"
        else:
            sub = data.get("subscription")
            token = data.get("token", sub.get("token") if isinstance(sub, dict) else None)
            path = f"v1:{data.get('event')}"
        known = self.exchange.validate_token(token) if isinstance(token, str) else None
        self.exchange.record_arrival(HOST_NAME, path, known)
        return data

    def _handle_safely(self, conn: _Conn, data: Any, received: float) -> None:
        if conn.dropped or conn.ws.closed:
            return
        try:
            if conn.version == 2:
                self._handle_v2(conn, data, received)
            else:
                self._handle_v1(conn, data, received)
        except _Dropped:
            log.info("dropped connection %d mid-request", conn.connection_id)
        except Exception:
            log.exception("spot ws request failed")

    def _drop_fault(self, conn: _Conn) -> None:
        if self.faults.take(FaultKind.DROP) is FaultKind.DROP:
            conn.drop()
            raise _Dropped()

    # ----------------------------------------------------------------------- shared logic

    def _account_for(self, token: Any) -> Account:
        name = self.exchange.validate_token(token) if isinstance(token, str) else None
        if name is None:
            raise _Refused(INVALID_SESSION)
        return self.exchange.account(name)

    def _check_cancel(self, account: Account) -> None:
        if not account.can(*_CANCEL_PERMISSIONS):
            raise _Refused(PERMISSION_DENIED)
        if self.faults.system_status == "maintenance":
            raise _Refused(UNAVAILABLE)

    def _cancel_targets(
        self, conn: _Conn, account: Account, targets: list[SimOrder], *, batch: bool
    ) -> list[SimOrder]:
        """Cancel ``targets`` (charging the rate counter); may drop the socket half-way."""
        name = account.name
        if not self.exchange.charge_spot_cancels(name, targets, batch=batch):
            raise _Refused(RATE_LIMITED)
        ids_ = [o.order_id for o in targets]
        if batch and self.drop_mid_batch > 0 and len(ids_) >= 2:
            self.drop_mid_batch -= 1
            keep = self.mid_batch_after if self.mid_batch_after is not None else len(ids_) // 2
            self.exchange.cancel_many(name, ids_[:keep])
            conn.drop()
            raise _Dropped()
        return self.exchange.cancel_many(name, ids_)

    def _subscribe_stream(self, conn: _Conn, account: Account, token: str) -> None:
        conn.stop_stream()
        conn.sequence = 0
        self.exchange.mark_token_used(token)

        def on_event(event: OrderEvent) -> None:
            self._stream_event(conn, event)

        conn.unsubscribe = self.exchange.subscribe(account.name, on_event)

    def _stream_event(self, conn: _Conn, event: OrderEvent) -> None:
        delay = self.faults.delay_s()
        if conn.version == 2:
            for report in v2_event_reports(event, order_status=conn.order_status):
                conn.sequence += 1
                msg = {"channel": "executions", "type": "update", "data": [report], "sequence": conn.sequence}
                self._send(conn, msg, delay=delay)
        else:
            for entry in v1_event_entries(event):
                conn.sequence += 1
                self._send(conn, [[entry], "openOrders", {"sequence": conn.sequence}], delay=delay)

    def _deadman(self, account: Account, timeout: Any) -> tuple[str, str]:
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int)
            or not 0 <= timeout < DEADMAN_MAX_TIMEOUT_S
        ):
            raise _Refused(f"{INVALID_ARGUMENTS}:timeout")
        if not account.can(*_CANCEL_PERMISSIONS):
            raise _Refused(PERMISSION_DENIED)
        now, trigger = self.exchange.arm_deadman(account.name, timeout)
        return rfc3339(now), rfc3339(trigger) if trigger else "0"

    # ----------------------------------------------------------------------- v2

    def _handle_v2(self, conn: _Conn, data: Any, received: float) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            self._send(conn, {"error": "Malformed request", "success": False, **self._times(received)})
            return
        method: str = data["method"]
        req_id = data.get("req_id")
        raw_params = data.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        self._drop_fault(conn)
        head: dict[str, Any] = {"method": method}
        if req_id is not None:
            head["req_id"] = req_id
        if method == "ping":
            self._send(conn, {"method": "pong", **head_rest(head), **self._times(received)})
            return
        handler = _V2_METHODS.get(method)
        answers: list[_Answer]
        try:
            if handler is None:
                raise _Refused("EGeneral:Unknown method")
            answers = handler(self, conn, params)
        except _Refused as e:
            answers = [e]
        for answer in answers:
            if isinstance(answer, _Refused):
                self._send(conn, {"error": answer.message, **head, "success": False, **self._times(received)})
                continue
            self._send(conn, {**head, "result": answer, "success": True, **self._times(received)})
            if method == "subscribe" and answer.get("channel") == "executions":
                self._v2_snapshot(conn, params)

    @staticmethod
    def _times(received: float) -> dict[str, str]:
        return {"time_in": rfc3339_us(received), "time_out": rfc3339_us(time.time())}

    def _v2_subscribe(self, conn: _Conn, params: dict[str, Any]) -> list[_Answer]:
        channel = params.get("channel")
        if channel != "executions":
            raise _Refused("Subscription Not Found" if channel else f"{INVALID_ARGUMENTS}:channel")
        account = self._account_for(params.get("token"))
        if not account.can("query", "trade"):
            raise _Refused(PERMISSION_DENIED)
        self._subscribe_stream(conn, account, str(params["token"]))
        conn.order_status = params.get("order_status", True) is not False
        result: dict[str, Any] = {
            "channel": "executions",
            "maxratecount": int(self.exchange.spot_tier(account.name).trading_threshold),
            "snapshot": params.get("snap_orders", True) is not False,
        }
        return [result]

    def _v2_snapshot(self, conn: _Conn, params: dict[str, Any]) -> None:
        if params.get("snap_orders", True) is False:
            return
        name = self.exchange.validate_token(params.get("token", ""))
        if name is None:
            return
        reports = []
        for order in self.exchange.open_orders(name):
            status = "partially_filled" if Decimal(order.filled) > 0 else "new"
            reports.append(v2_full_report(order, "new", status, order.opened_at))
        conn.sequence += 1
        self._send(
            conn, {"channel": "executions", "type": "snapshot", "data": reports, "sequence": conn.sequence}
        )

    def _v2_unsubscribe(self, conn: _Conn, params: dict[str, Any]) -> list[_Answer]:
        if params.get("channel") != "executions" or conn.unsubscribe is None:
            raise _Refused("Subscription Not Found")
        self._account_for(params.get("token"))
        conn.stop_stream()
        return [{"channel": "executions"}]

    def _v2_cancel_order(self, conn: _Conn, params: dict[str, Any]) -> list[_Answer]:
        account = self._account_for(params.get("token"))
        self._check_cancel(account)
        order_ids = _str_list(params.get("order_id"), "order_id")
        cl_ord_ids = _str_list(params.get("cl_ord_id"), "cl_ord_id")
        userrefs = _int_list(params.get("order_userref"), "order_userref")
        if not (order_ids or cl_ord_ids or userrefs):
            raise _Refused(f"{INVALID_ARGUMENTS}:order_id")
        name = account.name
        groups: list[tuple[list[SimOrder], bool]] = []
        groups += [(self.exchange.find_open(name, order_ids=[i]), False) for i in order_ids]
        groups += [(self.exchange.find_open(name, cl_ord_ids=[c]), False) for c in cl_ord_ids]
        groups += [(self.exchange.find_open(name, userrefs=[u]), True) for u in userrefs]
        # One answer per order cancelled (docs "cancel_order"); an id naming nothing open gets
        # an error answer of its own, which does not say which id it was about.
        answers: list[_Answer] = []
        for targets, multi in groups:
            if not targets:
                answers.append(_Refused(UNKNOWN_ORDER))
                continue
            try:
                done = self._cancel_targets(conn, account, targets, batch=multi)
            except _Refused as e:
                answers.append(e)
                continue
            for order in done:
                result: dict[str, Any] = {"order_id": order.order_id}
                if order.cl_ord_id is not None:
                    result["cl_ord_id"] = order.cl_ord_id
                answers.append(result)
        return answers

    def _v2_batch_cancel(self, conn: _Conn, params: dict[str, Any]) -> list[_Answer]:
        account = self._account_for(params.get("token"))
        self._check_cancel(account)
        orders = params.get("orders")
        if not isinstance(orders, list):
            raise _Refused(f"{INVALID_ARGUMENTS}:orders")
        cl_ord_ids = _str_list(params.get("cl_ord_id"), "cl_ord_id")
        txids, userrefs = _split_refs(orders)
        total = len(orders) + len(cl_ord_ids)
        if not BATCH_MIN <= total <= BATCH_MAX:
            raise _Refused(f"{INVALID_ARGUMENTS}:orders")
        name = account.name
        targets = self.exchange.find_open(name, order_ids=txids, userrefs=userrefs, cl_ord_ids=cl_ord_ids)
        # Like CancelOrderBatch: refs naming nothing open are skipped; count is what was cancelled.
        done = self._cancel_targets(conn, account, targets, batch=True)
        return [{"count": len(done)}]

    def _v2_cancel_all(self, conn: _Conn, params: dict[str, Any]) -> list[_Answer]:
        account = self._account_for(params.get("token"))
        self._check_cancel(account)
        targets = self.exchange.open_orders(account.name)
        return [{"count": len(self._cancel_targets(conn, account, targets, batch=True))}]

    def _v2_cancel_after(self, conn: _Conn, params: dict[str, Any]) -> list[_Answer]:
        account = self._account_for(params.get("token"))
        current, trigger = self._deadman(account, params.get("timeout"))
        return [{"currentTime": current, "triggerTime": trigger}]

    # ----------------------------------------------------------------------- v1

    def _handle_v1(self, conn: _Conn, data: Any, received: float) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            self._send(conn, {"errorMessage": "Malformed request", "event": "error", "status": "error"})
            return
        event: str = data["event"]
        reqid = data.get("reqid")
        raw_sub = data.get("subscription")
        sub: dict[str, Any] = raw_sub if isinstance(raw_sub, dict) else {}
        token = data.get("token", sub.get("token"))
        self._drop_fault(conn)
        tail = {} if reqid is None else {"reqid": reqid}
        if event == "ping":
            self._send(conn, {"event": "pong", **tail})
            return
        if event in ("subscribe", "unsubscribe"):
            self._v1_subscription(conn, event, sub, tail)
            return
        status_event = _V1_STATUS.get(event)
        if status_event is None:
            self._send(
                conn, {"errorMessage": "Unsupported event", "event": "error", "status": "error", **tail}
            )
            return
        try:
            account = self._account_for(token)
            if event == "cancelOrder":
                self._v1_cancel_order(conn, account, data, tail)
                return
            if event == "cancelAll":
                self._check_cancel(account)
                targets = self.exchange.open_orders(account.name)
                count = len(self._cancel_targets(conn, account, targets, batch=True))
                self._send(conn, {"count": count, "event": status_event, "status": "ok", **tail})
                return
            current, trigger = self._deadman(account, data.get("timeout"))
            msg = {
                "currentTime": current,
                "event": status_event,
                "status": "ok",
                "triggerTime": trigger,
                **tail,
            }
            self._send(conn, msg)
        except _Refused as e:
            self._send(conn, {"errorMessage": e.message, "event": status_event, "status": "error", **tail})

    def _v1_subscription(self, conn: _Conn, event: str, sub: dict[str, Any], tail: dict[str, Any]) -> None:
        name = sub.get("name")
        reply: dict[str, Any] = {"channelName": name, "event": "subscriptionStatus", **tail}
        reply["subscription"] = {"name": name}
        try:
            if name != "openOrders":
                raise _Refused("Subscription name invalid")
            account = self._account_for(sub.get("token"))
            if event == "unsubscribe":
                if conn.unsubscribe is None:
                    raise _Refused("Subscription Not Found")
                conn.stop_stream()
                self._send(conn, {**reply, "status": "unsubscribed"})
                return
            if not account.can("query", "trade"):
                raise _Refused(PERMISSION_DENIED)
            self._subscribe_stream(conn, account, str(sub["token"]))
            self._send(conn, {**reply, "status": "subscribed"})
            entries = [{o.order_id: v1_entry(o, "open")} for o in self.exchange.open_orders(account.name)]
            conn.sequence += 1
            self._send(conn, [entries, "openOrders", {"sequence": conn.sequence}])
        except _Refused as e:
            self._send(conn, {**reply, "errorMessage": e.message, "status": "error"})

    def _v1_cancel_order(
        self, conn: _Conn, account: Account, data: dict[str, Any], tail: dict[str, Any]
    ) -> None:
        self._check_cancel(account)
        txids, userrefs = _split_refs(_list(data.get("txid"), "txid"))
        cl_ord_ids = _str_list(data.get("cl_ord_id"), "cl_ord_id")
        if not (txids or userrefs or cl_ord_ids):
            raise _Refused(f"{INVALID_ARGUMENTS}:txid")
        name = account.name
        groups: list[tuple[list[SimOrder], bool]] = []
        groups += [(self.exchange.find_open(name, order_ids=[t]), False) for t in txids]
        groups += [(self.exchange.find_open(name, userrefs=[u]), True) for u in userrefs]
        groups += [(self.exchange.find_open(name, cl_ord_ids=[c]), False) for c in cl_ord_ids]
        everything = [o for targets, _ in groups for o in targets]
        many = len(groups) > 1 or any(multi for _, multi in groups)
        # A list is charged as one batch (it is accepted even if it overflows the counter).
        if many and not self.exchange.charge_spot_cancels(name, everything, batch=True):
            raise _Refused(RATE_LIMITED)
        if many and self.drop_mid_batch > 0 and len(everything) >= 2:
            self.drop_mid_batch -= 1
            keep = self.mid_batch_after if self.mid_batch_after is not None else len(everything) // 2
            self.exchange.cancel_many(name, [o.order_id for o in everything[:keep]])
            conn.drop()
            raise _Dropped()
        statuses: list[dict[str, Any]] = []
        for targets, _ in groups:
            if not targets:
                statuses.append(
                    {"errorMessage": UNKNOWN_ORDER, "event": "cancelOrderStatus", "status": "error"}
                )
                continue
            if not many and not self.exchange.charge_spot_cancels(name, targets, batch=False):
                statuses.append(
                    {"errorMessage": RATE_LIMITED, "event": "cancelOrderStatus", "status": "error"}
                )
                continue
            done = self.exchange.cancel_many(name, [o.order_id for o in targets])
            statuses.extend({"event": "cancelOrderStatus", "status": "ok"} for _ in done)
        for status in statuses:
            self._send(conn, {**status, **tail})


def head_rest(head: dict[str, Any]) -> dict[str, Any]:
    """The request's fields echoed by ``pong`` (everything but ``method``)."""
    return {k: v for k, v in head.items() if k != "method"}


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Refused(f"{INVALID_ARGUMENTS}:{name}")
    return value


def _str_list(value: Any, name: str) -> list[str]:
    items = _list(value, name)
    if not all(isinstance(v, str) and v for v in items):
        raise _Refused(f"{INVALID_ARGUMENTS}:{name}")
    return [str(v) for v in items]


def _int_list(value: Any, name: str) -> list[int]:
    items = _list(value, name)
    out = []
    for v in items:
        if isinstance(v, bool):
            raise _Refused(f"{INVALID_ARGUMENTS}:{name}")
        try:
            ref = int(v)
        except (TypeError, ValueError):
            raise _Refused(f"{INVALID_ARGUMENTS}:{name}") from None
        if ref not in _INT32:
            raise _Refused(f"{INVALID_ARGUMENTS}:{name}")
        out.append(ref)
    return out


def _split_refs(values: list[Any]) -> tuple[list[str], list[int]]:
    """Split ``orders``/``txid`` items into Kraken order ids and userrefs (digits or ints)."""
    txids: list[str] = []
    userrefs: list[int] = []
    for v in values:
        if isinstance(v, bool):
            raise _Refused(f"{INVALID_ARGUMENTS}:orders")
        if isinstance(v, int) or (isinstance(v, str) and v.strip().lstrip("-").isdigit()):
            ref = int(v)
            if ref not in _INT32:
                raise _Refused(f"{INVALID_ARGUMENTS}:orders")
            userrefs.append(ref)
        elif isinstance(v, str) and v:
            # Any other text is a Kraken id; ids that do not exist are unknown orders.
            txids.append(v)
        else:
            raise _Refused(f"{INVALID_ARGUMENTS}:orders")
    return txids, userrefs


_V2Handler = Callable[[SpotWsHost, _Conn, dict[str, Any]], list[_Answer]]
_V2_METHODS: dict[str, _V2Handler] = {
    "subscribe": SpotWsHost._v2_subscribe,
    "unsubscribe": SpotWsHost._v2_unsubscribe,
    "cancel_order": SpotWsHost._v2_cancel_order,
    "batch_cancel": SpotWsHost._v2_batch_cancel,
    "cancel_all": SpotWsHost._v2_cancel_all,
    "cancel_all_orders_after": SpotWsHost._v2_cancel_after,
}
_V1_STATUS = {
    "cancelOrder": "cancelOrderStatus",
    "cancelAll": "cancelAllStatus",
    "cancelAllOrdersAfter": "cancelAllOrdersAfterStatus",
}

HOST_KEY = web.AppKey("spot_ws_host", SpotWsHost)
# Endpoint names and URL templates for the server's host registry (v1 at "/", v2 at "/v2").
SPOT_WS_URLS = (("spot_ws_v1", "ws://{addr}/"), ("spot_ws_v2", "ws://{addr}/v2"))


def build_spot_ws_app(
    ctx: HostContext, *, idle_timeout_s: float = IDLE_TIMEOUT_S, heartbeat_s: float = HEARTBEAT_S
) -> web.Application:
    """Build the aiohttp application of the Spot WebSocket host.

    Args:
        ctx: The host context from ``SimServer``.
        idle_timeout_s: Close connections idle this long.
        heartbeat_s: Heartbeat period on quiet connections.

    Returns:
        The application (the host object is ``app[HOST_KEY]``).
    """
    host = SpotWsHost(ctx, idle_timeout_s=idle_timeout_s, heartbeat_s=heartbeat_s)
    app = web.Application()
    app[HOST_KEY] = host
    app.router.add_get("/", host.serve_v1)
    app.router.add_get("/v2", host.serve_v2)
    if is_loopback(ctx.bind_host):
        app.router.add_route("*", "/_sim/ws", host.control)

    async def close_all(app: web.Application) -> None:
        for conn in list(host.connections):
            conn.stop_stream()
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutdown")

    app.on_shutdown.append(close_all)
    return app

"""The simulated Kraken Prime WebSocket host (``wss.prime.kraken.com/ws/v1``) on the shared Exchange."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from app.sim.accounts import Account
from app.sim.auth import verify_prime_ws
from app.sim.faults import FaultKind
from app.sim.hostkit import (
    Connections,
    HostContext,
    Outbox,
    abort_connection,
    add_controls,
    after_latency,
    refuse_remote,
    take_drop,
)
from app.sim.orders import REASON_USER, OrderEvent, SimOrder
from app.sim.truth import Actor, acting
from app.sim.wire import rfc3339_us

log = logging.getLogger("app.sim.prime")

HOST_NAME = "prime"
WS_PATH = "/ws/v1"
PRIME_URLS = (("prime_ws", "ws://{addr}" + WS_PATH),)
# Kraken does not document its clock-skew tolerance for ApiTimestamp (API-FACTS 9.1, UNCERTAIN);
# the simulator refuses a timestamp more than 30 s away from its clock, either way.
TIMESTAMP_TOLERANCE_S = 30.0
STREAMS = ("Order", "ExecutionReport")

# Error codes of the simulator's error messages (Kraken's codes are not documented, API-FACTS 9.2).
E_BAD_REQUEST = 400
E_UNAUTHORIZED = 401
E_FORBIDDEN = 403
E_NOT_FOUND = 404

_ORD_TYPES = {
    "limit": "Limit",
    "market": "Market",
    "stop-loss": "Stop",
    "stop-loss-limit": "StopLimit",
    "take-profit": "TakeProfit",
    "take-profit-limit": "TakeProfitLimit",
}
_EXEC_TYPES = {
    "new": "New",
    "update": "Replaced",
    "fill": "Trade",
    "canceled": "Canceled",
    "expired": "Expired",
}


def parse_iso(text: str | None) -> float | None:
    """Prime's ISO-8601 UTC text -> unix seconds.

    Args:
        text: The header or field value.

    Returns:
        Unix seconds, or None if it is not an ISO-8601 timestamp with a UTC zone.
    """
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() != UTC.utcoffset(None):
        return None
    return parsed.timestamp()


def ord_status(order: SimOrder, pending_cancel: bool = False) -> str:
    """The OrdStatus Prime would show for a simulator order.

    Args:
        order: The order.
        pending_cancel: A cancel request is being processed for it.

    Returns:
        ``New``, ``PartiallyFilled``, ``PendingCancel``, ``Filled``, ``Canceled`` or ``Expired``.
    """
    if order.status == "closed":
        return "Filled"
    if order.status == "canceled":
        return "Canceled"
    if order.status == "expired":
        return "Expired"
    if pending_cancel:
        return "PendingCancel"
    return "PartiallyFilled" if Decimal(order.filled) > 0 else "New"


def order_entry(order: SimOrder, account: str, now: float, exec_type: str, status: str) -> dict[str, Any]:
    """One ``data`` entry of the Order stream for ``order`` (fields of API-FACTS 9.2).

    Args:
        order: The order.
        account: The account name (``User``).
        now: Unix time of the message.
        exec_type: Prime ExecType.
        status: Prime OrdStatus.

    Returns:
        The entry, numbers as decimal strings.
    """
    remaining = order.remaining if order.is_open else Decimal(0)
    entry: dict[str, Any] = {
        "Timestamp": rfc3339_us(now),
        "Symbol": order.symbol,
        "OrderID": order.order_id,
        "ClOrdID": order.cl_ord_id or "",
        "Side": "Buy" if order.side == "buy" else "Sell",
        "ExecType": exec_type,
        "OrdStatus": status,
        "OrderQty": order.qty,
        "CumQty": order.filled,
        "LeavesQty": f"{remaining:f}",
        "OrdType": _ORD_TYPES.get(order.order_type, order.order_type),
        "Currency": order.symbol.split("-")[0],
        "User": account,
        "SubmitTime": rfc3339_us(order.opened_at),
    }
    if Decimal(order.price) != 0:
        entry["Price"] = order.price
    if order.stop_price is not None:
        entry["StopPrice"] = order.stop_price
    return entry


@dataclass
class _Sub:
    """One stream of one subscribe request, with its filters."""

    reqid: int
    name: str
    statuses: frozenset[str] | None = None
    order_id: str | None = None
    symbol: str | None = None
    start: float | None = None
    end: float | None = None
    seq_num: int = 0
    visible: set[str] = field(default_factory=set)  # Order ids this stream currently shows

    def matches(self, order: SimOrder) -> bool:
        """Whether the order passes the id/symbol/date filters (not Statuses)."""
        if self.order_id is not None and order.order_id != self.order_id:
            return False
        if self.symbol is not None and order.symbol != self.symbol:
            return False
        if self.start is not None and order.opened_at < self.start:
            return False
        return not (self.end is not None and order.opened_at > self.end)

    def next_seq(self) -> int:
        self.seq_num += 1
        return self.seq_num


class _ProtocolError(Exception):
    """A request the host answers with an error message."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class _Conn:
    """One signed-in socket: its subscriptions and its ordered, delayed outbound queue."""

    def __init__(
        self, host: PrimeHost, ws: web.WebSocketResponse, request: web.Request, account: Account
    ) -> None:
        self.host = host
        self.ws = ws
        self.request = request
        self.account = account
        self.subs: dict[int, list[_Sub]] = {}
        self.seq = 0
        self.outbox = Outbox()

    def send(self, message: dict[str, Any]) -> None:
        """Queue a message; it leaves after the host's latency, in order."""
        self.outbox.put(message, self.host.ctx.faults().delay_s())

    def error(self, reqid: Any, code: int, msg: str) -> None:
        """Queue an error message (``seq`` and ``error{code,msg}``, API-FACTS 9.2)."""
        self.seq += 1
        now = self.host.exchange.clock()
        self.send(
            {
                "reqid": reqid,
                "type": "error",
                "ts": rfc3339_us(now),
                "seq": self.seq,
                "error": {"code": code, "msg": msg},
            }
        )

    def drop(self) -> None:
        """Close the TCP connection at once, without a close frame (a network failure)."""
        abort_connection(self.request)


class PrimeHost:
    """The Prime WebSocket host.

    Rules kept: sign-in is checked at the upgrade (ApiKey/ApiSign/ApiTimestamp with
    ``auth.verify_prime_ws``; a bad signature or a timestamp off by more than 30 s gets HTTP 401);
    ``reqid`` 0 is refused; Order/ExecutionReport streams send an ``initial`` snapshot then
    updates from Exchange events; OrderCancelRequest answers only on the streams (PendingCancel,
    then Canceled, or CancelRejected for unknown/closed orders); a Ping needs non-empty data;
    ``type: cancel`` stops a stream, never an order. Faults: latency on every message in and out,
    ``drop_connection`` aborts the socket on the next message (after applying a cancel request when
    ``drop_after_apply``), ``drop_all()`` aborts every socket.
    """

    def __init__(self, ctx: HostContext, *, tolerance_s: float = TIMESTAMP_TOLERANCE_S) -> None:
        """Bind to the server's shared state.

        Args:
            ctx: The host context from ``SimServer``.
            tolerance_s: How far ApiTimestamp may be from the exchange clock.
        """
        self.ctx = ctx
        self.exchange = ctx.exchange
        self.tolerance_s = tolerance_s
        self.conns: Connections[_Conn] = Connections()
        self.pending_cancel_s = 0.0  # how long an order stays PendingCancel before it is cancelled
        self.drop_after_apply = True  # a dropped OrderCancelRequest still takes effect
        ctx.settings = self
        self._pending: dict[tuple[str, str], str] = {}  # (account, order id) -> request ClOrdID
        self._cancel_ctx: dict[str, tuple[str, str]] = {}  # order id -> (request ClOrdID, OrigClOrdID)
        self._timers: set[asyncio.TimerHandle] = set()
        self.requests: Counter[str] = Counter()  # message types received (tests count round trips)

    # ----------------------------------------------------------------------- app

    def snapshot(self) -> dict[str, Any]:
        """The host's own switches (``/_sim/hosts/prime/settings``)."""
        return {"pending_cancel_s": self.pending_cancel_s, "drop_after_apply": self.drop_after_apply}

    def patch(self, changes: Mapping[str, Any]) -> None:
        """Change switches.

        Raises:
            ValueError: an unknown switch or a bad value (nothing changes then).
        """
        unknown = set(changes) - set(self.snapshot())
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        pending = changes.get("pending_cancel_s", self.pending_cancel_s)
        drop = changes.get("drop_after_apply", self.drop_after_apply)
        if isinstance(pending, bool) or not isinstance(pending, int | float) or pending < 0:
            raise ValueError("pending_cancel_s must be a non-negative number")
        if not isinstance(drop, bool):
            raise ValueError("drop_after_apply must be true or false")
        self.pending_cancel_s, self.drop_after_apply = float(pending), drop

    def app(self) -> web.Application:
        """Build the aiohttp application: the socket at ``/ws/v1`` and ``POST /_sim/drop``.

        Returns:
            The application.
        """
        # Unlike the other hosts' control APIs, /_sim/drop is mounted on any bind address and
        # refused to remote peers only.
        app = web.Application(middlewares=[refuse_remote()])
        app.router.add_get(WS_PATH, self.handle)
        app.router.add_post("/_sim/drop", self.control_drop)
        add_controls(app, self.ctx, [])
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await self.conns.close_all(b"server shutting down")

    async def control_drop(self, request: web.Request) -> web.Response:
        """``POST /_sim/drop``: abort every open socket (loopback peers only)."""
        return web.json_response({"dropped": self.drop_all()})

    def drop_all(self) -> int:
        """Abort every open socket without a close frame.

        Returns:
            How many were dropped.
        """
        return self.conns.drop_all()

    # ----------------------------------------------------------------------- sign-in

    def _authenticate(self, request: web.Request) -> Account | str:
        key = request.headers.get("ApiKey", "")
        sign = request.headers.get("ApiSign", "")
        stamp = request.headers.get("ApiTimestamp", "")
        account = self.exchange.accounts.by_key(key)
        self.exchange.arrivals.record(HOST_NAME, request.path, account.name if account else None)
        if account is None or account.kind != "prime":
            return "Invalid API key"
        when = parse_iso(stamp)
        if when is None:
            return "Invalid ApiTimestamp: expected ISO-8601 UTC such as 2019-02-13T05:17:32.000000Z"
        if abs(self.exchange.clock() - when) > self.tolerance_s:
            return f"ApiTimestamp is more than {self.tolerance_s:g} s from the server clock"
        # The signed host is the bare host name, without port (Kraken's example signs the host).
        host = request.url.host or ""
        if not verify_prime_ws(stamp, host, request.path, account.secret, sign):
            return "Invalid signature"
        return account

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The upgrade: sign-in check, ``hello``, then messages until the socket closes."""
        who = self._authenticate(request)
        if isinstance(who, str):
            return _refused(E_UNAUTHORIZED, who)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=2**22)
        if not ws.can_prepare(request).ok:
            return _refused(E_BAD_REQUEST, "WebSocket upgrade expected")
        await ws.prepare(request)
        conn = _Conn(self, ws, request, who)
        self.conns.add(conn)
        unsubscribe = self.exchange.book.subscribe(who.name, lambda event: self._on_event(who, event))
        writer = asyncio.create_task(conn.outbox.run(ws), name="sim-prime-writer")
        conn.send(
            {
                "type": "hello",
                "ts": rfc3339_us(self.exchange.clock()),
                "session_id": str(uuid.UUID(int=self.ctx.rng.getrandbits(128), version=4)),
            }
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    after_latency(self.ctx.faults().delay_s(), self._on_text_if_open, conn, msg.data)
        finally:
            unsubscribe()
            self.conns.discard(conn)
            # Let the writer end on its own (it skips what is left once the socket is closed):
            # cancelled mid-send, aiohttp's shielded send of a large compressed frame fails
            # later in a task nobody awaits ("Task exception was never retrieved").
            # (asyncio.wait, not await: a cancel of this handler must not reach the writer.)
            conn.outbox.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([writer])
        return ws

    # ----------------------------------------------------------------------- requests

    def _on_text_if_open(self, conn: _Conn, text: str) -> None:
        if conn in self.conns:
            try:
                self._on_text(conn, text)
            except Exception:
                log.exception("prime request failed")

    def _on_text(self, conn: _Conn, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            conn.error(None, E_BAD_REQUEST, "Invalid JSON")
            return
        if not isinstance(message, dict):
            conn.error(None, E_BAD_REQUEST, "Invalid message: expected an object")
            return
        reqid = message.get("reqid")
        kind = message.get("type")
        self.exchange.arrivals.record(HOST_NAME, f"ws:{kind}", conn.account.name)
        self.requests[str(kind)] += 1
        drop = take_drop(self.ctx.faults())
        if drop and not (self.drop_after_apply and kind == "OrderCancelRequest"):
            conn.drop()
            return
        try:
            if not isinstance(reqid, int) or isinstance(reqid, bool) or reqid == 0:
                raise _ProtocolError(E_BAD_REQUEST, "reqid must be a non-zero integer")
            handler = self._handlers().get(str(kind))
            if handler is None:
                raise _ProtocolError(E_BAD_REQUEST, f"Unknown request type: {kind}")
            with acting(Actor("request", HOST_NAME, str(kind), conn.request.path)):
                handler(conn, reqid, message)
        except _ProtocolError as e:
            conn.error(reqid, e.code, e.msg)
        if drop:
            conn.drop()

    def _handlers(self) -> dict[str, Callable[[_Conn, int, dict[str, Any]], None]]:
        return {
            "subscribe": self._subscribe,
            "cancel": self._stream_cancel,
            "Ping": self._ping,
            "OrderCancelRequest": self._order_cancel_request,
        }

    def _ping(self, conn: _Conn, reqid: int, message: dict[str, Any]) -> None:
        data = message.get("data")
        if not isinstance(data, list) or not data:
            raise _ProtocolError(E_BAD_REQUEST, "missing Ping data")
        conn.send({"reqid": reqid, "type": "Pong", "ts": rfc3339_us(self.exchange.clock()), "data": data})

    def _stream_cancel(self, conn: _Conn, reqid: int, message: dict[str, Any]) -> None:
        if conn.subs.pop(reqid, None) is None:
            raise _ProtocolError(E_NOT_FOUND, f"No subscription with reqid {reqid}")

    def _subscribe(self, conn: _Conn, reqid: int, message: dict[str, Any]) -> None:
        streams = message.get("streams")
        if not isinstance(streams, list) or not streams or not all(isinstance(s, dict) for s in streams):
            raise _ProtocolError(E_BAD_REQUEST, "streams must be a non-empty array")
        if reqid in conn.subs:
            raise _ProtocolError(E_BAD_REQUEST, f"reqid {reqid} is already in use")
        if not conn.account.can("query", "trade"):
            raise _ProtocolError(E_FORBIDDEN, "Permission denied")
        subs = [self._parse_sub(reqid, spec) for spec in streams]
        conn.subs[reqid] = subs
        for sub in subs:
            self._send_initial(conn, sub)

    def _parse_sub(self, reqid: int, spec: dict[str, Any]) -> _Sub:
        name = spec.get("name")
        if name not in STREAMS:
            raise _ProtocolError(E_NOT_FOUND, f"Unknown stream: {name}")
        statuses = spec.get("Statuses")
        wanted: frozenset[str] | None = None
        if statuses is not None:
            if not isinstance(statuses, str):
                raise _ProtocolError(E_BAD_REQUEST, "Statuses must be a comma-separated string")
            wanted = frozenset(s.strip() for s in statuses.split(",") if s.strip())
        start, end = spec.get("StartDate"), spec.get("EndDate")
        start_t = parse_iso(start) if start is not None else None
        end_t = parse_iso(end) if end is not None else None
        if (start is not None and start_t is None) or (end is not None and end_t is None):
            raise _ProtocolError(E_BAD_REQUEST, "StartDate/EndDate must be ISO-8601 UTC")
        order_id, symbol = spec.get("OrderID"), spec.get("Symbol")
        return _Sub(
            reqid,
            str(name),
            wanted,
            order_id if isinstance(order_id, str) else None,
            symbol if isinstance(symbol, str) else None,
            start_t,
            end_t,
        )

    def _send_initial(self, conn: _Conn, sub: _Sub) -> None:
        name = conn.account.name
        now = self.exchange.clock()
        data: list[dict[str, Any]] = []
        if sub.name == "Order":
            if sub.order_id is not None:
                found = self.exchange.book.get_order(name, sub.order_id)
                candidates: Iterable[SimOrder] = [found] if found is not None else []
            else:
                # Closed orders are reachable by OrderID only; a plain snapshot lists open ones.
                candidates = self.exchange.book.open_orders(name)
            for order in candidates:
                status = ord_status(order, (name, order.order_id) in self._pending)
                if sub.matches(order) and (sub.statuses is None or status in sub.statuses):
                    data.append(order_entry(order, name, now, "New" if order.is_open else status, status))
                    sub.visible.add(order.order_id)
        if data and self.ctx.faults().take(FaultKind.MALFORMED_ORDER):
            data[0]["OrderQty"] = "not-a-number"
        message = self._stream_message(sub, data, now, initial=True, action="Update")
        delay = self.ctx.faults().snapshot_delay_ms / 1000.0
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, conn.send, message)
        else:
            conn.send(message)

    def _update(self, conn: _Conn, sub: _Sub, data: list[dict[str, Any]], now: float, action: str) -> None:
        """Send a stream update through the stream faults.

        ``lost_delta``: never sent, its seqNum used up (the next one carries the right seqNum);
        ``skip_sequence``: a seqNum skipped, nothing lost.
        """
        faults = self.ctx.faults()
        if faults.take(FaultKind.LOST_DELTA):
            sub.next_seq()
            log.info("fault lost_delta on %s", sub.name)
            return
        if faults.take(FaultKind.SKIP_SEQUENCE):
            sub.next_seq()
        conn.send(self._stream_message(sub, data, now, initial=False, action=action))

    @staticmethod
    def _stream_message(
        sub: _Sub, data: list[dict[str, Any]], now: float, *, initial: bool, action: str
    ) -> dict[str, Any]:
        return {
            "reqid": sub.reqid,
            "type": sub.name,
            "ts": rfc3339_us(now),
            "initial": initial,
            "seqNum": sub.next_seq(),
            "action": action,
            "data": data,
        }

    # ----------------------------------------------------------------------- cancels

    def _order_cancel_request(self, conn: _Conn, reqid: int, message: dict[str, Any]) -> None:
        data = message.get("data")
        if not isinstance(data, list) or not data:
            raise _ProtocolError(E_BAD_REQUEST, "data must be a non-empty array")
        for entry in data:
            if not isinstance(entry, dict):
                raise _ProtocolError(E_BAD_REQUEST, "data entries must be objects")
            for key in ("Symbol", "ClOrdID", "TransactTime"):
                if not isinstance(entry.get(key), str) or not entry[key]:
                    raise _ProtocolError(E_BAD_REQUEST, f"missing {key}")
            if not entry.get("OrderID") and not entry.get("OrigClOrdID"):
                raise _ProtocolError(E_BAD_REQUEST, "one of OrderID, OrigClOrdID is required")
            if parse_iso(entry["TransactTime"]) is None:
                raise _ProtocolError(E_BAD_REQUEST, "TransactTime must be ISO-8601 UTC")
        for entry in data:
            self._cancel_one(conn.account, entry)

    def _find(self, account: str, entry: dict[str, Any]) -> SimOrder | None:
        order_id = entry.get("OrderID")
        if isinstance(order_id, str) and order_id:
            return self.exchange.book.get_order(account, order_id)
        found = self.exchange.book.find_open(account, cl_ord_ids=[str(entry.get("OrigClOrdID"))])
        return found[0] if found else None

    def _cancel_one(self, account: Account, entry: dict[str, Any]) -> None:
        name = account.name
        request_id = str(entry["ClOrdID"])
        orig = str(entry.get("OrigClOrdID") or "")
        order = self._find(name, entry)
        if not account.can("cancel", "trade"):
            status = ord_status(order, (name, order.order_id) in self._pending) if order else "Rejected"
            self._reject(name, entry, order, status, "Permission denied", "Other")
            return
        if order is None or order.symbol != entry["Symbol"]:
            self._reject(name, entry, None, "Rejected", "Unknown order", "UnknownOrder")
            return
        if not order.is_open:
            status = ord_status(order)
            text = (
                "Too late to cancel: the order is filled"
                if status == "Filled"
                else "Too late to cancel: the order is closed"
            )
            self._reject(name, entry, order, status, text, "TooLateToCancel")
            return
        if (name, order.order_id) in self._pending:
            self._reject(
                name, entry, order, "PendingCancel", "Order already in Pending Cancel", "AlreadyPendingCancel"
            )
            return
        self._pending[(name, order.order_id)] = request_id
        self._publish(order, "PendingCancel", "PendingCancel", request_id, orig or order.cl_ord_id)
        if self.pending_cancel_s > 0:
            loop = asyncio.get_running_loop()
            holder: list[asyncio.TimerHandle] = []

            def later() -> None:
                self._timers.difference_update(holder)
                self._finish_cancel(name, order.order_id, request_id, orig)

            handle = loop.call_later(self.pending_cancel_s, later)
            holder.append(handle)
            self._timers.add(handle)
        else:
            self._finish_cancel(name, order.order_id, request_id, orig)

    def _finish_cancel(self, account: str, order_id: str, request_id: str, orig: str) -> None:
        self._pending.pop((account, order_id), None)
        order = self.exchange.book.get_order(account, order_id)
        if order is None:
            return
        if not order.is_open:
            # Filled (or closed otherwise) while the cancel was pending: too late.
            status = ord_status(order)
            entry = {"ClOrdID": request_id, "OrigClOrdID": orig, "OrderID": order_id, "Symbol": order.symbol}
            self._reject(
                account,
                entry,
                order,
                status,
                f"Too late to cancel: the order is {status.lower()}",
                "TooLateToCancel",
            )
            return
        self._cancel_ctx[order_id] = (request_id, orig or order.cl_ord_id or "")
        try:
            self.exchange.book.cancel(account, order_id, REASON_USER)
        finally:
            self._cancel_ctx.pop(order_id, None)

    def _reject(
        self, account: str, entry: dict[str, Any], order: SimOrder | None, status: str, text: str, code: str
    ) -> None:
        now = self.exchange.clock()
        if order is not None:
            report = order_entry(order, account, now, "CancelRejected", status)
        else:
            report = {
                "Timestamp": rfc3339_us(now),
                "Symbol": entry.get("Symbol", ""),
                "OrderID": "NONE",
                "ExecType": "CancelRejected",
                "OrdStatus": status,
            }
        report.update(
            {
                "ClOrdID": entry.get("ClOrdID", ""),
                "OrigClOrdID": entry.get("OrigClOrdID") or (order.cl_ord_id if order else "") or "",
                "CxlRejReason": code,
                "Text": text,
                "ExecID": self._exec_id(),
                "TransactTime": rfc3339_us(now),
            }
        )
        if order is None and entry.get("OrderID") and code != "UnknownOrder":
            report["OrderID"] = entry["OrderID"]  # FIX: OrderID is "NONE" only for an unknown order
        self._to_conns(account, order=None, report=report, status=status)

    def _exec_id(self) -> str:
        return str(uuid.UUID(int=self.ctx.rng.getrandbits(128), version=4))

    # ----------------------------------------------------------------------- events

    def _on_event(self, account: Account, event: OrderEvent) -> None:
        order = event.order
        key = (account.name, order.order_id)
        status = ord_status(order, key in self._pending)
        exec_type = _EXEC_TYPES.get(event.kind, "Restated")
        request_id, orig = self._cancel_ctx.get(order.order_id, ("", ""))
        self._publish(order, exec_type, status, request_id or None, orig or None, now=event.time)

    def _publish(
        self,
        order: SimOrder,
        exec_type: str,
        status: str,
        request_id: str | None,
        orig: str | None,
        now: float | None = None,
    ) -> None:
        when = self.exchange.clock() if now is None else now
        report = order_entry(order, order.account, when, exec_type, status)
        if request_id:
            report["ClOrdID"] = request_id
            report["OrigClOrdID"] = orig or ""
        report["ExecID"] = self._exec_id()
        report["TransactTime"] = rfc3339_us(when)
        # The Order stream keeps the order's own ClOrdID; the report carries the request's.
        self._to_conns(
            order.account, order=order, report=report, status=status, exec_type=exec_type, when=when
        )

    def _to_conns(
        self,
        account: str,
        *,
        order: SimOrder | None,
        report: dict[str, Any],
        status: str,
        exec_type: str = "CancelRejected",
        when: float | None = None,
    ) -> None:
        now = self.exchange.clock() if when is None else when
        for conn in list(self.conns):
            if conn.account.name != account:
                continue
            for subs in conn.subs.values():
                for sub in subs:
                    if sub.name == "ExecutionReport":
                        self._update(conn, sub, [report], now, "Update")
                    elif order is not None and sub.matches(order):
                        self._order_update(conn, sub, order, exec_type, status, now)

    def _order_update(
        self, conn: _Conn, sub: _Sub, order: SimOrder, exec_type: str, status: str, now: float
    ) -> None:
        entry = order_entry(order, conn.account.name, now, exec_type, status)
        if sub.statuses is None or status in sub.statuses:
            sub.visible.add(order.order_id)
            self._update(conn, sub, [entry], now, "Update")
        elif order.order_id in sub.visible:
            # The order left the filtered view (e.g. Canceled under an open-states filter).
            sub.visible.discard(order.order_id)
            self._update(conn, sub, [entry], now, "Remove")


def _refused(code: int, msg: str) -> web.Response:
    """Refuse the upgrade with Prime's error body, ``{"error": {"code", "msg"}}``."""
    return web.json_response({"error": {"code": code, "msg": msg}}, status=code)


def build_prime_app(ctx: HostContext) -> web.Application:
    """Build the aiohttp application of the Prime WebSocket host.

    Args:
        ctx: The host context from ``SimServer``.

    Returns:
        The application.
    """
    return PrimeHost(ctx).app()

"""Spot WebSocket v2 on the simulated ``ws-auth`` host (``/v2``): methods, replies and executions."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from app.sim import ids
from app.sim.accounts import Account
from app.sim.hostkit import Refused
from app.sim.instruments import spot_instrument
from app.sim.orders import STOP_ORDER_TYPES, OrderEvent, SimOrder
from app.sim.spot_ws_common import (
    BATCH_MAX,
    BATCH_MIN,
    INVALID_ARGUMENTS,
    PERMISSION_DENIED,
    Answer,
    SpotWsVersionHost,
    WsConn,
    int_list,
    split_refs,
    str_list,
)
from app.sim.truth import cancelling_all
from app.sim.wire import rfc3339_us

_TRADE_RNG = random.Random("spot_ws:trades")  # trade ids only; never affects order state


def _num(text: str | None) -> float:
    """A decimal string as the JSON number v2 sends."""
    return float(Decimal(text)) if text not in (None, "") else 0.0


# --------------------------------------------------------------------------- order rendering


def v2_symbol(order: SimOrder) -> str:
    """The v2 pair name (``BTC/USD``: v2 says BTC, not XBT)."""
    inst = spot_instrument(order.symbol)
    return inst.v2_symbol if inst is not None and inst.v2_symbol else order.symbol


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
    if event.kind in ("canceled", "expired", "replaced"):
        # An edited order ends as canceled with reason "Order replaced", not as filled.
        status = "expired" if event.kind == "expired" else "canceled"
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


def head_rest(head: dict[str, Any]) -> dict[str, Any]:
    """The request's fields echoed by ``pong`` (everything but ``method``)."""
    return {k: v for k, v in head.items() if k != "method"}


def _times(received: float) -> dict[str, str]:
    return {"time_in": rfc3339_us(received), "time_out": rfc3339_us(time.time())}


# --------------------------------------------------------------------------- the host


class SpotWsV2Host(SpotWsVersionHost):
    """Spot WebSocket v2 (``wss://ws-auth.kraken.com/v2``) on the shared exchange.

    Rules kept (besides ``SpotWsVersionHost``'s): replies echo ``req_id`` and carry
    ``time_in``/``time_out``; ``cancel_order`` answers once per order it cancelled, and once
    with an error for each reference naming nothing open (without saying which);
    ``batch_cancel`` takes 2 to 50 references and answers once with the count cancelled;
    ``executions`` sends a snapshot (unless ``snap_orders`` is false) then one report per
    message, ``order_status`` false leaving out the intermediate states.
    """

    HEARTBEAT: ClassVar[dict[str, str]] = {"channel": "heartbeat"}

    def status_message(self, conn: WsConn) -> dict[str, Any]:
        """The ``status`` channel's first update."""
        data = {
            "api_version": "v2",
            "connection_id": conn.connection_id,
            "system": self.faults.system_status,
            "version": "2.0.10",
        }
        return {"channel": "status", "type": "update", "data": [data]}

    def arrival_of(self, data: dict[str, Any]) -> tuple[str, Any]:
        """Name a request ``v2:<method>``; its token is in ``params``."""
        params = data.get("params")
        token = params.get("token") if isinstance(params, dict) else None
        return f"v2:{data.get('method')}", token

    def stream_event(self, conn: WsConn, event: OrderEvent) -> None:
        """Send an event's executions reports, one update message each (``ratecount`` when asked)."""
        delay = self.faults.delay_s()
        for report in v2_event_reports(event, order_status=conn.order_status):
            if conn.ratecounter:
                report["ratecount"] = self.rate_count(event.order)
            sequence = self.next_sequence(conn)
            if sequence is None:
                continue
            msg = {"channel": "executions", "type": "update", "data": [report], "sequence": sequence}
            self.send(conn, msg, delay=delay)

    def handle(self, conn: WsConn, data: Any, received: float) -> None:
        """Answer one request: ``ping`` or one of the methods."""
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            self.send(conn, {"error": "Malformed request", "success": False, **_times(received)})
            return
        method: str = data["method"]
        req_id = data.get("req_id")
        raw_params = data.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        cancels = method in _CANCEL_METHODS
        self.drop_fault(conn, cancels=cancels)
        head: dict[str, Any] = {"method": method}
        if req_id is not None:
            head["req_id"] = req_id
        if method == "ping":
            self.send(conn, {"method": "pong", **head_rest(head), **_times(received)})
            return
        handler = _METHODS.get(method)
        answers: list[Answer]
        try:
            if handler is None:
                raise Refused("EGeneral:Unknown method")
            answers = handler(self, conn, params)
        except Refused as e:
            answers = [e]
        replies = []
        for answer in answers:
            if isinstance(answer, Refused):
                replies.append({"error": answer.message, **head, "success": False, **_times(received)})
            else:
                replies.append({**head, "result": answer, "success": True, **_times(received)})
        applied = cancels and any(not isinstance(a, Refused) or a.applied for a in answers)
        if applied:
            self.deliver(conn, replies)
        else:
            for reply in replies:
                self.send(conn, reply)
        if method == "subscribe" and replies and replies[0]["success"]:
            account = self.account_for_stream(params)
            if account is not None:
                self.start_stream(conn, account, lambda: self._snapshot(conn, account, params))

    def account_for_stream(self, params: dict[str, Any]) -> Account | None:
        name = self.tokens.validate(params.get("token", ""))
        return None if name is None else self.exchange.accounts.account(name)

    def _subscribe(self, conn: WsConn, params: dict[str, Any]) -> list[Answer]:
        channel = params.get("channel")
        if channel != "executions":
            raise Refused("Subscription Not Found" if channel else f"{INVALID_ARGUMENTS}:channel")
        account = self.account_for(params.get("token"))
        if not account.can("query", "trade"):
            raise Refused(PERMISSION_DENIED)
        self.subscribe_stream(conn, str(params["token"]), ratecounter=params.get("ratecounter") is True)
        conn.order_status = params.get("order_status", True) is not False
        result: dict[str, Any] = {
            "channel": "executions",
            "maxratecount": int(self.exchange.limits.spot_tier(account.name).trading_threshold),
            "snapshot": params.get("snap_orders", True) is not False,
        }
        return [result]

    def _snapshot(self, conn: WsConn, account: Account, params: dict[str, Any]) -> None:
        if params.get("snap_orders", True) is False:
            return
        reports = []
        for order in self.book.open_orders(account.name):
            status = "partially_filled" if Decimal(order.filled) > 0 else "new"
            report = v2_full_report(order, "new", status, order.opened_at)
            if conn.ratecounter:
                report["ratecount"] = self.rate_count(order)
            reports.append(report)
        self.malformed(reports, "order_qty")
        conn.sequence += 1
        self.send(
            conn, {"channel": "executions", "type": "snapshot", "data": reports, "sequence": conn.sequence}
        )

    def _unsubscribe(self, conn: WsConn, params: dict[str, Any]) -> list[Answer]:
        if params.get("channel") != "executions" or conn.unsubscribe is None:
            raise Refused("Subscription Not Found")
        self.account_for(params.get("token"))
        conn.stop_stream()
        return [{"channel": "executions"}]

    def _cancel_order(self, conn: WsConn, params: dict[str, Any]) -> list[Answer]:
        account = self.account_for(params.get("token"))
        self.check_cancel(account)
        self.business_fault()
        order_ids = str_list(params.get("order_id"), "order_id")
        cl_ord_ids = str_list(params.get("cl_ord_id"), "cl_ord_id")
        userrefs = int_list(params.get("order_userref"), "order_userref")
        kinds = [bool(order_ids), bool(cl_ord_ids), bool(userrefs)]
        if not any(kinds):
            raise Refused(f"{INVALID_ARGUMENTS}:order_id")
        if sum(kinds) > 1:
            # Each list "cannot be combined with" the others in one request (docs "cancel_order").
            raise Refused(INVALID_ARGUMENTS)
        by_id, by_ref, by_cl = self.reference_groups(
            account.name, order_ids=order_ids, userrefs=userrefs, cl_ord_ids=cl_ord_ids
        )
        # One answer per order cancelled (docs "cancel_order"); a reference naming nothing
        # open gets an error answer of its own, which does not say which one it was about.
        answers: list[Answer] = []
        for targets, multi, error in [*by_id, *by_cl, *by_ref]:
            if not targets:
                answers.append(Refused(error))
                continue
            try:
                done = self.cancel_targets(conn, account, targets, batch=multi)
            except Refused as e:
                answers.append(e)
                continue
            for order in done:
                # A cancel by client id is answered with the client id only (API-FACTS 11).
                result: dict[str, Any] = (
                    {"cl_ord_id": order.cl_ord_id} if cl_ord_ids else {"order_id": order.order_id}
                )
                if not cl_ord_ids and order.cl_ord_id is not None:
                    result["cl_ord_id"] = order.cl_ord_id
                answers.append(result)
        return answers

    def _batch_cancel(self, conn: WsConn, params: dict[str, Any]) -> list[Answer]:
        account = self.account_for(params.get("token"))
        self.check_cancel(account)
        self.business_fault()
        orders = params.get("orders")
        if not isinstance(orders, list):
            raise Refused(f"{INVALID_ARGUMENTS}:orders")
        cl_ord_ids = str_list(params.get("cl_ord_id"), "cl_ord_id")
        txids, userrefs = split_refs(orders)
        total = len(orders) + len(cl_ord_ids)
        if not BATCH_MIN <= total <= BATCH_MAX:
            raise Refused(f"{INVALID_ARGUMENTS}:orders")
        name = account.name
        groups = self.reference_groups(name, order_ids=txids, userrefs=userrefs, cl_ord_ids=cl_ord_ids)
        missing = [error for group in groups for targets, _, error in group if not targets]
        mode = self.faults.batch_unknown_id
        if missing and mode == "refuse_all":
            raise Refused(missing[0])
        targets = self.book.find_open(name, order_ids=txids, userrefs=userrefs, cl_ord_ids=cl_ord_ids)
        # Like CancelOrderBatch: refs naming nothing open are skipped; count is what was cancelled.
        done = self.cancel_targets(conn, account, targets, batch=True)
        if missing and mode == "refuse_after_apply":
            return [Refused(missing[0], applied=bool(done))]
        return [{"count": len(done)}]

    def _cancel_all(self, conn: WsConn, params: dict[str, Any]) -> list[Answer]:
        account = self.account_for(params.get("token"))
        self.check_cancel(account)
        self.business_fault()
        targets = self.book.open_orders(account.name)
        with cancelling_all():
            return [{"count": len(self.cancel_targets(conn, account, targets, batch=True))}]

    def _cancel_after(self, conn: WsConn, params: dict[str, Any]) -> list[Answer]:
        account = self.account_for(params.get("token"))
        self.business_fault()
        current, trigger = self.arm_deadman(account, params.get("timeout"))
        return [{"currentTime": current, "triggerTime": trigger}]


_Method = Callable[[SpotWsV2Host, WsConn, dict[str, Any]], list[Answer]]
# The methods whose replies go through the reply faults (they change orders).
_CANCEL_METHODS = frozenset({"cancel_order", "batch_cancel", "cancel_all", "cancel_all_orders_after"})
_METHODS: dict[str, _Method] = {
    "subscribe": SpotWsV2Host._subscribe,
    "unsubscribe": SpotWsV2Host._unsubscribe,
    "cancel_order": SpotWsV2Host._cancel_order,
    "batch_cancel": SpotWsV2Host._batch_cancel,
    "cancel_all": SpotWsV2Host._cancel_all,
    "cancel_all_orders_after": SpotWsV2Host._cancel_after,
}

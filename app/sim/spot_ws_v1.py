"""Spot WebSocket v1 on the simulated ``ws-auth`` host (``/``): events, statuses and openOrders."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from app.sim.accounts import Account
from app.sim.hostkit import Refused
from app.sim.instruments import fmt_decimal, spot_instrument
from app.sim.orders import REASON_REPLACED, REASON_USER, STOP_ORDER_TYPES, OrderEvent, SimOrder
from app.sim.spot_ws_common import (
    INVALID_ARGUMENTS,
    PERMISSION_DENIED,
    RATE_LIMITED,
    SpotWsVersionHost,
    WsConn,
    any_list,
    split_refs,
    str_list,
)
from app.sim.truth import cancelling_all

# The status event answering each private event.
_STATUS_EVENTS = {
    "cancelOrder": "cancelOrderStatus",
    "cancelAll": "cancelAllStatus",
    "cancelAllOrdersAfter": "cancelAllOrdersAfterStatus",
}


# --------------------------------------------------------------------------- order rendering


def v1_pair(order: SimOrder) -> str:
    """The v1 pair name (``XBT/USD``)."""
    inst = spot_instrument(order.symbol)
    return inst.symbol if inst is not None else order.symbol


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


# Events that end an order: (v1 status, cancel reason when the event names none). Every
# canceled update carries its reason, and an edited order is closed with one: "Order replaced"
# is not a fill (API-FACTS 11).
_ENDED: dict[str, tuple[str, str | None]] = {
    "canceled": ("canceled", REASON_USER),
    "expired": ("expired", None),
    "replaced": ("closed", REASON_REPLACED),
}


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
    if event.kind in _ENDED:
        status, default_reason = _ENDED[event.kind]
        fields = {"status": status, "lastupdated": updated, "userref": order.userref or 0}
        reason = event.reason or default_reason
        if reason:
            fields["cancel_reason"] = reason
        return [{txid: fields}]
    if event.kind == "update":
        return [{txid: {"vol": fmt_decimal(Decimal(order.qty), 8), "descr": _v1_descr(order)}}]
    return []


# --------------------------------------------------------------------------- the host


class SpotWsV1Host(SpotWsVersionHost):
    """Spot WebSocket v1 (``wss://ws-auth.kraken.com``) on the shared exchange.

    Rules kept (besides ``SpotWsVersionHost``'s): replies echo ``reqid``; each private event
    is answered by its status event; ``cancelOrder`` answers once per order cancelled (or per
    reference naming nothing open) without naming it, a list of references being charged as
    one batch; ``openOrders`` sends the open orders as a snapshot, then one entry per message.
    """

    HEARTBEAT: ClassVar[dict[str, str]] = {"event": "heartbeat"}

    def status_message(self, conn: WsConn) -> dict[str, Any]:
        """The ``systemStatus`` event."""
        return {
            "connectionID": conn.connection_id,
            "event": "systemStatus",
            "status": self.faults.system_status,
            "version": "1.9.5",
        }

    def arrival_of(self, data: dict[str, Any]) -> tuple[str, Any]:
        """Name a request ``v1:<event>``; its token is top-level or in ``subscription``."""
        sub = data.get("subscription")
        token = data.get("token", sub.get("token") if isinstance(sub, dict) else None)
        return f"v1:{data.get('event')}", token

    def stream_event(self, conn: WsConn, event: OrderEvent) -> None:
        """Send an event's openOrders entries, one message each (``ratecount`` when asked)."""
        delay = self.faults.delay_s()
        for entry in v1_event_entries(event):
            if conn.ratecounter:
                entry[event.order.order_id]["ratecount"] = self.rate_count(event.order)
            sequence = self.next_sequence(conn)
            if sequence is not None:
                self.send(conn, [[entry], "openOrders", {"sequence": sequence}], delay=delay)

    def handle(self, conn: WsConn, data: Any, received: float) -> None:
        """Answer one event: ``ping``, a subscription, or a private event."""
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            self.send(conn, {"errorMessage": "Malformed request", "event": "error", "status": "error"})
            return
        event: str = data["event"]
        reqid = data.get("reqid")
        raw_sub = data.get("subscription")
        sub: dict[str, Any] = raw_sub if isinstance(raw_sub, dict) else {}
        token = data.get("token", sub.get("token"))
        status_event = _STATUS_EVENTS.get(event)
        self.drop_fault(conn, cancels=status_event is not None)
        tail = {} if reqid is None else {"reqid": reqid}
        if event == "ping":
            self.send(conn, {"event": "pong", **tail})
            return
        if event in ("subscribe", "unsubscribe"):
            self._subscription(conn, event, sub, tail)
            return
        if status_event is None:
            self.send(
                conn, {"errorMessage": "Unsupported event", "event": "error", "status": "error", **tail}
            )
            return
        try:
            account = self.account_for(token)
            self.business_fault()
            if event == "cancelOrder":
                replies = self._cancel_order(conn, account, data)
            elif event == "cancelAll":
                self.check_cancel(account)
                targets = self.book.open_orders(account.name)
                with cancelling_all():
                    count = len(self.cancel_targets(conn, account, targets, batch=True))
                replies = [{"count": count, "event": status_event, "status": "ok"}]
            else:
                current, trigger = self.arm_deadman(account, data.get("timeout"))
                replies = [
                    {"currentTime": current, "event": status_event, "status": "ok", "triggerTime": trigger}
                ]
        except Refused as e:
            self.send(conn, {"errorMessage": e.message, "event": status_event, "status": "error", **tail})
            return
        replies = [{**reply, **tail} for reply in replies]
        if any(reply["status"] == "ok" for reply in replies):
            self.deliver(conn, replies)  # applied: the reply faults may spoil what comes back
        else:
            for reply in replies:
                self.send(conn, reply)

    def _subscription(self, conn: WsConn, event: str, sub: dict[str, Any], tail: dict[str, Any]) -> None:
        name = sub.get("name")
        reply: dict[str, Any] = {"channelName": name, "event": "subscriptionStatus", **tail}
        reply["subscription"] = {"name": name}
        try:
            if name != "openOrders":
                raise Refused("Subscription name invalid")
            account = self.account_for(sub.get("token"))
            if event == "unsubscribe":
                if conn.unsubscribe is None:
                    raise Refused("Subscription Not Found")
                conn.stop_stream()
                self.send(conn, {**reply, "status": "unsubscribed"})
                return
            if not account.can("query", "trade"):
                raise Refused(PERMISSION_DENIED)
            # The docs' example sends "ratecounter": "true" (a string) where the schema says boolean.
            ratecounter = sub.get("ratecounter") in (True, "true")
            self.subscribe_stream(conn, str(sub["token"]), ratecounter=ratecounter)
            if ratecounter:
                threshold = self.exchange.limits.spot_tier(account.name).trading_threshold
                reply["subscription"] = {"name": name, "maxratecount": int(threshold)}
            self.send(conn, {**reply, "status": "subscribed"})
            self.start_stream(conn, account, lambda: self._snapshot(conn, account))
        except Refused as e:
            self.send(conn, {**reply, "errorMessage": e.message, "status": "error"})

    def _snapshot(self, conn: WsConn, account: Account) -> None:
        orders = self.book.open_orders(account.name)
        entries = [{o.order_id: v1_entry(o, "open")} for o in orders]
        if conn.ratecounter:
            for order, entry in zip(orders, entries, strict=True):
                entry[order.order_id]["ratecount"] = self.rate_count(order)
        self.malformed([entry[o.order_id] for o, entry in zip(orders, entries, strict=True)], "vol")
        conn.sequence += 1
        self.send(conn, [entries, "openOrders", {"sequence": conn.sequence}])

    def _cancel_order(self, conn: WsConn, account: Account, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.check_cancel(account)
        if self.faults.v1_txid_required and not isinstance(data.get("txid"), list):
            # seed 000: txid is required (API-FACTS 11), even when orders are named by client ids.
            raise Refused(f"{INVALID_ARGUMENTS}:txid")
        txids, userrefs = split_refs(any_list(data.get("txid"), "txid"))
        cl_ord_ids = str_list(data.get("cl_ord_id"), "cl_ord_id")
        if not (txids or userrefs or cl_ord_ids):
            raise Refused(f"{INVALID_ARGUMENTS}:txid")
        name = account.name
        by_id, by_ref, by_cl = self.reference_groups(
            name, order_ids=txids, userrefs=userrefs, cl_ord_ids=cl_ord_ids
        )
        groups = [*by_id, *by_ref, *by_cl]
        everything = [o for targets, _, _ in groups for o in targets]
        many = len(groups) > 1 or any(multi for _, multi, _ in groups)
        if many:
            # A list is charged as one batch (it is accepted even if it overflows the counter).
            self.charge_cancels(name, everything, batch=True)
            self.drop_mid_batch(conn, name, [o.order_id for o in everything])
        statuses: list[dict[str, Any]] = []
        for targets, _, error in groups:
            if not targets:
                statuses.append({"errorMessage": error, "event": "cancelOrderStatus", "status": "error"})
                continue
            if not many and not self.exchange.limits.charge_spot_cancels(name, targets, batch=False):
                statuses.append(
                    {"errorMessage": RATE_LIMITED, "event": "cancelOrderStatus", "status": "error"}
                )
                continue
            done = self.book.cancel_many(name, [o.order_id for o in targets])
            statuses.extend({"event": "cancelOrderStatus", "status": "ok"} for _ in done)
        return statuses

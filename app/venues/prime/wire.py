"""Kraken Prime WebSocket wire format, pure: requests out, decoded messages and cancel outcomes in."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.core.errors import MalformedReply
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order, Side, VenueKind

ORDER_STREAM = "Order"
EXEC_STREAM = "ExecutionReport"

# OrdStatus values of an order that still rests (Prime FIX "Execution Report" / "Order Cancel
# Reject" list New, Partially filled, Pending Cancel, Pending New, Pending Replace as live states;
# the WS streams spell them without spaces, e.g. "PartiallyFilled", API-FACTS 9.2).
OPEN_STATUSES: tuple[str, ...] = ("PendingNew", "New", "PartiallyFilled", "PendingCancel", "PendingReplace")

# FIX OrderCancelReject (Prime FIX, tag 102) code 1 = "Unknown order"; in that case OrderID is "NONE".
_NO_ORDER_ID = "NONE"
_REASON_KEYS = ("Text", "RejectText", "OrdRejReason", "RejectReason", "Reason", "CxlRejReason")
_TERMINAL_GONE = ("Expired", "DoneForDay", "Rejected")
# OrdStatus values after which the order no longer rests. Anything else (incl. states the console
# does not know, e.g. a paused order) is treated as still open: it may still need cancelling.
CLOSED_STATUSES: tuple[str, ...] = ("Canceled", "Filled", *_TERMINAL_GONE)


def iso_utc(unix_s: float) -> str:
    """Unix seconds -> Prime's timestamp text, e.g. ``2019-02-13T05:17:32.000000Z`` (API-FACTS 9.1)."""
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: Any) -> float | None:
    """Prime's ISO-8601 UTC text -> unix seconds, or None when absent or not a timestamp."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def new_cl_ord_id() -> str:
    """A fresh ClOrdID for one cancel entry ("usually a UUID", seed 002)."""
    return str(uuid.uuid4())


def _dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


# --------------------------------------------------------------------------- requests


def order_stream(
    *, statuses: Sequence[str] | None = OPEN_STATUSES, order_id: str | None = None
) -> dict[str, Any]:
    """The ``Order`` stream spec: by default every order in an open state (API-FACTS 9.3).

    Args:
        statuses: OrdStatus values to include (sent as Kraken's comma list); None for all.
        order_id: only this order (its current state, open or not: used to confirm).

    Returns:
        One entry of a subscribe request's ``streams``.
    """
    spec: dict[str, Any] = {"name": ORDER_STREAM}
    if statuses:
        spec["Statuses"] = ",".join(statuses)
    if order_id is not None:
        spec["OrderID"] = order_id
    return spec


def exec_stream() -> dict[str, Any]:
    """The ``ExecutionReport`` stream spec (cancel results, incl. CancelRejected)."""
    return {"name": EXEC_STREAM}


def encode_subscribe(reqid: int, streams: Sequence[Mapping[str, Any]]) -> str:
    """``{"reqid":N,"type":"subscribe","streams":[...]}``; reqid must not be 0 (API-FACTS 9.2).

    Raises:
        ValueError: reqid is not positive or no stream is given.
    """
    _check_reqid(reqid)
    if not streams:
        raise ValueError("a subscribe request needs at least one stream")
    return _dumps({"reqid": reqid, "type": "subscribe", "streams": [dict(s) for s in streams]})


def encode_stream_cancel(reqid: int) -> str:
    """Stop the stream(s) subscribed with ``reqid`` (not an order cancel): ``{"reqid":N,"type":"cancel"}``."""
    _check_reqid(reqid)
    return _dumps({"reqid": reqid, "type": "cancel"})


def encode_ping(reqid: int, data: Sequence[Mapping[str, Any]], ts: str) -> str:
    """A Ping; Kraken answers "missing Ping data" unless ``data`` is a non-empty array (API-FACTS 9.2).

    Raises:
        ValueError: ``data`` is empty or reqid is not positive.
    """
    _check_reqid(reqid)
    if not data:
        raise ValueError("Prime needs a non-empty data array in a Ping")
    return _dumps({"reqid": reqid, "type": "Ping", "ts": ts, "data": [dict(d) for d in data]})


def encode_pong(reqid: int | None, data: Sequence[Any], ts: str) -> str:
    """The answer to a Ping from the server: echoes its data."""
    return _dumps({"reqid": reqid, "type": "Pong", "ts": ts, "data": list(data)})


@dataclass(frozen=True, slots=True)
class CancelEntry:
    """One ``data`` entry of an OrderCancelRequest, with the order it is meant for.

    ``cl_ord_id`` is new for this request (seed 002: "Unique Client Order ID for this request");
    results on the streams echo it, which is how they are matched when OrderID is "NONE".
    """

    order_id: str  # our venue order id (the Order this entry should cancel)
    symbol: str
    cl_ord_id: str
    by: IdKind  # ORDER_ID -> sent as OrderID, CLIENT_ID -> sent as OrigClOrdID
    ref: str

    def to_wire(self, transact_time: str) -> dict[str, str]:
        """The entry as Kraken's field names (seed 002)."""
        entry = {"Symbol": self.symbol, "ClOrdID": self.cl_ord_id}
        entry["OrderID" if self.by is IdKind.ORDER_ID else "OrigClOrdID"] = self.ref
        entry["TransactTime"] = transact_time
        return entry


def cancel_entries(refs: Iterable[CancelRef], orders: Sequence[Order]) -> list[CancelEntry]:
    """Build one cancel entry per reference, each with a fresh ClOrdID.

    Args:
        refs: what to cancel: order ids (sent as OrderID) or client ids (sent as OrigClOrdID).
        orders: the orders the refs name (their symbols are required by Kraken).

    Returns:
        The entries, in the refs' order, duplicates dropped.

    Raises:
        ValueError: a userref (Prime has none) or a ref whose order is not given.
    """
    by_id = {o.order_id: o for o in orders}
    by_client = {o.client_id: o for o in orders if o.client_id}
    out: list[CancelEntry] = []
    seen: set[str] = set()
    for ref in refs:
        if ref.kind is IdKind.ORDER_ID:
            order = by_id.get(ref.value)
        elif ref.kind is IdKind.CLIENT_ID:
            order = by_client.get(ref.value)
        else:
            raise ValueError("Kraken Prime has no userref: cancel by OrderID or ClOrdID")
        if order is None:
            raise ValueError(f"no order given for {ref.kind.value} {ref.value!r} (its Symbol is required)")
        if order.order_id in seen:
            continue
        seen.add(order.order_id)
        out.append(CancelEntry(order.order_id, order.symbol, new_cl_ord_id(), ref.kind, ref.value))
    return out


def encode_cancel_request(reqid: int, entries: Sequence[CancelEntry], transact_time: str) -> str:
    """``OrderCancelRequest`` with one data entry per order (seed 002).

    Raises:
        ValueError: no entries or reqid not positive.
    """
    _check_reqid(reqid)
    if not entries:
        raise ValueError("an OrderCancelRequest needs at least one entry")
    data = [e.to_wire(transact_time) for e in entries]
    return _dumps({"reqid": reqid, "type": "OrderCancelRequest", "data": data})


def _check_reqid(reqid: int) -> None:
    if not isinstance(reqid, int) or reqid <= 0:
        raise ValueError("Prime request ids must be positive integers (0 is not allowed)")


# --------------------------------------------------------------------------- messages in


@dataclass(frozen=True, slots=True)
class Hello:
    """The greeting after a successful sign-in."""

    session_id: str
    ts: str | None


@dataclass(frozen=True, slots=True)
class StreamData:
    """One message of the Order or ExecutionReport stream.

    ``initial`` marks the snapshot sent right after subscribing; ``action`` is Update or Remove.
    """

    reqid: int | None
    stream: str
    initial: bool
    action: str
    entries: tuple[dict[str, Any], ...]
    seq_num: int | None = None


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to our Ping."""

    reqid: int | None
    data: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ServerPing:
    """A Ping from the server (we answer with a Pong echoing its data)."""

    reqid: int | None
    data: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ServerError:
    """An error message: ``seq`` and ``error{code,msg}`` (rest of the shape UNCERTAIN, API-FACTS 9.2)."""

    reqid: int | None
    code: str
    msg: str
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """Any message type the console does not use (kept for logging)."""

    type: str
    raw: dict[str, Any] = field(repr=False)


Message = Hello | StreamData | Pong | ServerPing | ServerError | OtherMessage


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_message(text: str | bytes) -> Message:
    """Decode one frame from the Prime socket.

    Raises:
        MalformedReply: not JSON, not an object, or a stream message without a data array.
    """
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedReply(f"Kraken Prime sent a frame that is not JSON ({len(text)} bytes)") from e
    if not isinstance(raw, dict):
        raise MalformedReply("Kraken Prime sent a JSON frame that is not an object")
    reqid = _int_or_none(raw.get("reqid"))
    err = raw.get("error")
    if isinstance(err, dict) or raw.get("type") == "error":
        detail = err if isinstance(err, dict) else {}
        return ServerError(
            reqid,
            str(detail.get("code", "")),
            str(detail.get("msg", detail.get("message", err if isinstance(err, str) else ""))),
            _int_or_none(raw.get("seq")),
        )
    kind = raw.get("type")
    if kind == "hello":
        return Hello(str(raw.get("session_id", "")), raw.get("ts"))
    if kind in (ORDER_STREAM, EXEC_STREAM):
        data = raw.get("data")
        if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
            raise MalformedReply(f"Kraken Prime {kind} message has no data array of objects")
        return StreamData(
            reqid,
            str(kind),
            bool(raw.get("initial", False)),
            str(raw.get("action") or "Update"),
            tuple(data),
            _int_or_none(raw.get("seqNum")),
        )
    if kind in ("Pong", "Ping"):
        data = raw.get("data")
        items = tuple(data) if isinstance(data, list) else ()
        return Pong(reqid, items) if kind == "Pong" else ServerPing(reqid, items)
    return OtherMessage(str(kind), raw)


# --------------------------------------------------------------------------- orders and outcomes


def _dec(value: Any, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        out = Decimal(str(value))
    except InvalidOperation as e:
        raise MalformedReply(f"Prime {what} is not a number: {value!r}"[:120]) from e
    if not out.is_finite():
        raise MalformedReply(f"Prime {what} is not a finite number")
    return out


def entry_order_id(entry: Mapping[str, Any]) -> str | None:
    """The entry's OrderID, or None when absent or "NONE" (unknown order)."""
    value = entry.get("OrderID")
    if not isinstance(value, str) or not value or value.upper() == _NO_ORDER_ID:
        return None
    return value


def is_closed_entry(entry: Mapping[str, Any]) -> bool:
    """Whether an entry says the order no longer rests (OrdStatus in CLOSED_STATUSES)."""
    return str(entry.get("OrdStatus", "")) in CLOSED_STATUSES


_STATUS_TEXT = {
    "PendingNew": "pending",
    "New": "open",
    "PartiallyFilled": "open",
    "PendingCancel": "pending cancel",
    "PendingReplace": "pending replace",
}


def parse_order(account_id: str, entry: Mapping[str, Any]) -> Order:
    """One Order stream entry -> Order.

    Filled is CumQty, else OrderQty - LeavesQty, else 0; opened_at is SubmitTime, else the
    entry's Timestamp.

    Raises:
        MalformedReply: OrderID, Symbol, Side or OrderQty missing or bad.
    """
    order_id = entry_order_id(entry)
    symbol = entry.get("Symbol")
    if order_id is None or not isinstance(symbol, str) or not symbol:
        raise MalformedReply("Prime Order entry has no OrderID or Symbol")
    side_text = str(entry.get("Side", "")).lower()
    if side_text not in ("buy", "sell"):
        raise MalformedReply(f"Prime Order entry {order_id} has an unknown Side {entry.get('Side')!r}"[:160])
    qty = _dec(entry.get("OrderQty"), "OrderQty")
    if qty is None:
        raise MalformedReply(f"Prime Order entry {order_id} has no OrderQty")
    cum = _dec(entry.get("CumQty"), "CumQty")
    leaves = _dec(entry.get("LeavesQty"), "LeavesQty")
    if cum is not None:
        filled = cum
    elif leaves is not None:
        filled = max(Decimal(0), qty - leaves)
    else:
        filled = Decimal(0)
    price = _dec(entry.get("Price"), "Price")
    stop = _dec(entry.get("StopPrice"), "StopPrice")
    opened = parse_iso(entry.get("SubmitTime")) or parse_iso(entry.get("Timestamp")) or 0.0
    status = str(entry.get("OrdStatus", ""))
    client_id = entry.get("ClOrdID")
    return Order(
        account_id=account_id,
        venue=VenueKind.PRIME,
        order_id=order_id,
        symbol=symbol,
        side=Side(side_text),
        order_type=str(entry.get("OrdType", "")).lower(),
        price=price if price else None,
        quantity=qty,
        filled=filled,
        opened_at=opened,
        client_id=client_id if isinstance(client_id, str) and client_id else None,
        stop_price=stop if stop else None,
        status=_STATUS_TEXT.get(status, status.lower() or "open"),
    )


def reject_reason(entry: Mapping[str, Any]) -> str | None:
    """The venue's words for a rejection: the first reason-like field present.

    The field name is UNCERTAIN for the WebSocket (API-FACTS 9.2); Prime FIX uses Text (free text)
    and CxlRejReason (a code), so we prefer the text and fall back to the code.
    """
    for key in _REASON_KEYS:
        value = entry.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def _norm(text: str | None) -> str:
    return "".join(ch for ch in (text or "").lower() if ch.isalnum())


def is_unknown_order(entry: Mapping[str, Any]) -> bool:
    """Whether a rejection says Kraken does not know the order (Prime FIX CxlRejReason 1)."""
    code = entry.get("CxlRejReason")
    if code in (1, "1"):
        return True
    # Only the reason says so: OrderID "NONE" alone also comes with other rejections.
    texts = (entry.get(k) for k in _REASON_KEYS)
    return any("unknownorder" in _norm(str(t)) for t in texts if t not in (None, ""))


def cancel_outcome(entry: Mapping[str, Any]) -> Outcome | None:
    """What an Order/ExecutionReport entry says about an order we asked to cancel.

    PendingCancel -> acknowledged; Canceled -> cancelled (the venue said so for this order);
    CancelRejected -> filled if the order filled, already gone if Kraken does not know it or it
    was already closed, else rejected with Kraken's reason; Filled -> filled; other closed states
    -> already gone. None when the entry does not settle anything (e.g. a partial fill).
    """
    exec_type = str(entry.get("ExecType", ""))
    status = str(entry.get("OrdStatus", ""))
    reason = reject_reason(entry)
    if exec_type == "CancelRejected":
        if "pendingcancel" in _norm(reason):
            # "Order already in Pending Cancel": an earlier cancel is under way; its Canceled
            # (or a fill) will come on the streams. Not a refusal: wait for that word.
            return Outcome(CancelState.ACKNOWLEDGED, reason)
        if status == "Filled":
            return Outcome(CancelState.FILLED, reason or "filled before the cancel")
        if is_unknown_order(entry):
            return Outcome(
                CancelState.ALREADY_GONE, f"unknown order: {reason}" if reason else "unknown order"
            )
        # OrdStatus "Rejected" on a CancelRejected may describe the request, not the order: only
        # states that say the order closed make it gone.
        if status in ("Canceled", "Expired", "DoneForDay"):
            return Outcome(CancelState.ALREADY_GONE, reason or f"already {status.lower()}")
        return Outcome(CancelState.REJECTED, reason or "cancel rejected")
    if exec_type == "Canceled" or status == "Canceled":
        return Outcome(CancelState.CANCELLED, reason)
    if status == "Filled" or exec_type == "Filled":
        return Outcome(CancelState.FILLED, "filled before the cancel")
    if exec_type == "Rejected":
        return Outcome(CancelState.REJECTED, reason or "rejected")
    if exec_type == "PendingCancel" or status == "PendingCancel":
        return Outcome(CancelState.ACKNOWLEDGED)
    if status in _TERMINAL_GONE:
        return Outcome(CancelState.ALREADY_GONE, status)
    return None


def removal_outcome(entry: Mapping[str, Any]) -> Outcome:
    """What the removal of an order from the open-orders stream proves (StreamEvent rules).

    Cancelled only when Kraken says Canceled, filled when Filled, else already gone.
    """
    status = str(entry.get("OrdStatus", ""))
    exec_type = str(entry.get("ExecType", ""))
    if status == "Canceled" or exec_type == "Canceled":
        return Outcome(CancelState.CANCELLED, reject_reason(entry))
    if status == "Filled":
        return Outcome(CancelState.FILLED, "filled")
    return Outcome(CancelState.ALREADY_GONE, status or "removed from the open orders")

"""Spot WebSocket v2 wire format, pure: request frames, replies, the executions channel."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.core.errors import MalformedReply, VenueError
from app.core.ledger import Outcome
from app.core.orders import CancelRef, IdKind, Order, Side, VenueKind
from app.venues.base import StreamEvent, StreamKind
from app.venues.spot.ws_common import (
    DEADMAN_MAX_S,
    Heartbeat,
    Ignored,
    Reply,
    SystemStatus,
    decimal_or_none,
    dumps,
    error_for,
    loads,
    one_kind,
    removal_outcome,
    rfc3339_to_unix,
    userref_or_none,
)

log = logging.getLogger("app.venues.spot.ws_v2_wire")

# batch_cancel takes 2..50 ids per request (seed 004, docs "Batch Cancel").
BATCH_MIN = 2
BATCH_MAX = 50

# Statuses that take an order off the book (API-FACTS 4: exec_type / order_status values).
_TERMINAL = ("canceled", "filled", "expired")


# --------------------------------------------------------------------------- requests


def _request(method: str, params: Mapping[str, Any] | None, req_id: int) -> str:
    message: dict[str, Any] = {"method": method}
    if params is not None:
        message["params"] = dict(params)
    message["req_id"] = req_id
    return dumps(message)


def _userref(value: str) -> int:
    try:
        return int(value)
    except ValueError as e:
        raise ValueError(f"a userref must be an integer, not {value!r}") from e


def encode_subscribe_executions(
    token: str,
    req_id: int,
    *,
    snap_orders: bool = True,
    snap_trades: bool = False,
    order_status: bool = True,
    ratecounter: bool = False,
) -> str:
    """Subscribe to the ``executions`` channel (API-FACTS 4).

    Args:
        token: A token from GetWebSocketsToken.
        req_id: Echoed in the ack.
        snap_orders: Send the open orders as a snapshot first.
        snap_trades: Add the last 50 fills to the snapshot.
        order_status: Stream every status transition (False: only new/filled/canceled/expired).
        ratecounter: Include the per-pair trading rate counter.

    Returns:
        The frame text.
    """
    params = {
        "channel": "executions",
        "token": token,
        "snap_orders": snap_orders,
        "snap_trades": snap_trades,
        "order_status": order_status,
        "ratecounter": ratecounter,
    }
    return _request("subscribe", params, req_id)


def encode_unsubscribe_executions(token: str, req_id: int) -> str:
    """Unsubscribe from ``executions``."""
    return _request("unsubscribe", {"channel": "executions", "token": token}, req_id)


def encode_cancel_order(token: str, req_id: int, refs: Sequence[CancelRef]) -> str:
    """``cancel_order`` by Kraken order ids, client ids or userrefs (one kind per request).

    Kraken answers one reply per order cancelled (a userref may name many).

    Args:
        token: WS token.
        req_id: Echoed in every reply.
        refs: The ids, all of one kind.

    Returns:
        The frame text.

    Raises:
        ValueError: no refs, mixed kinds, or a userref that is not an integer.
    """
    kind = one_kind(refs)
    params: dict[str, Any]
    if kind is IdKind.ORDER_ID:
        params = {"order_id": [r.value for r in refs]}
    elif kind is IdKind.CLIENT_ID:
        params = {"cl_ord_id": [r.value for r in refs]}
    else:
        params = {"order_userref": [_userref(r.value) for r in refs]}
    params["token"] = token
    return _request("cancel_order", params, req_id)


def encode_batch_cancel(token: str, req_id: int, refs: Sequence[CancelRef]) -> str:
    """``batch_cancel``: 2 to 50 ids of one kind (seed 004).

    Kraken order ids and userrefs go in ``orders`` (as strings, as in the seed's example);
    client ids in ``cl_ord_id``. ``orders`` is required by the schema, so it is sent (empty)
    even for a batch of client ids.

    Args:
        token: WS token.
        req_id: Echoed in the reply.
        refs: 2..50 ids, all of one kind.

    Returns:
        The frame text.

    Raises:
        ValueError: fewer than 2 or more than 50 ids, mixed kinds, duplicate ids.
    """
    kind = one_kind(refs)
    values = [r.value for r in refs]
    if not BATCH_MIN <= len(values) <= BATCH_MAX:
        raise ValueError(f"batch_cancel takes {BATCH_MIN}..{BATCH_MAX} ids, not {len(values)}")
    if len(set(values)) != len(values):
        raise ValueError("batch_cancel ids must be unique")
    params: dict[str, Any]
    if kind is IdKind.CLIENT_ID:
        params = {"orders": [], "cl_ord_id": values}
    else:
        if kind is IdKind.USERREF:
            values = [str(_userref(v)) for v in values]
        params = {"orders": values}
    params["token"] = token
    return _request("batch_cancel", params, req_id)


def encode_cancel_all(token: str, req_id: int) -> str:
    """``cancel_all``: every resting and untriggered order of the account."""
    return _request("cancel_all", {"token": token}, req_id)


def encode_cancel_after(token: str, req_id: int, timeout_s: int) -> str:
    """``cancel_all_orders_after`` (the dead man's switch); 0 disarms.

    Raises:
        ValueError: timeout outside 0..86399.
    """
    if not 0 <= timeout_s < DEADMAN_MAX_S:
        raise ValueError(f"timeout must be 0..{DEADMAN_MAX_S - 1} s, not {timeout_s}")
    return _request("cancel_all_orders_after", {"timeout": int(timeout_s), "token": token}, req_id)


def encode_ping(req_id: int) -> str:
    """Application ping; the venue answers ``pong`` and resets its idle timer."""
    return _request("ping", None, req_id)


# --------------------------------------------------------------------------- replies and streams


@dataclass(frozen=True, slots=True)
class Executions:
    """One ``executions`` channel message.

    Attributes:
        snapshot: True for the snapshot (replace everything), False for an update.
        reports: The execution reports, sparse for updates (merge by ``order_id``).
        sequence: The channel's message sequence number, if given.
    """

    snapshot: bool
    reports: tuple[Mapping[str, Any], ...]
    sequence: int | None
    skipped: int = 0  # reports without an order id (one bad report is one skipped report)


Message = Reply | Executions | Heartbeat | SystemStatus | Ignored


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _req_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_message(text: str | bytes) -> Message:
    """Decode one v2 frame.

    Args:
        text: The frame.

    Returns:
        A Reply (``method`` present), Executions, Heartbeat, SystemStatus, or Ignored.

    Raises:
        MalformedReply: not JSON, or a known message in a shape we cannot read.
    """
    data = loads(text)
    if not isinstance(data, dict):
        return Ignored(type(data).__name__)
    if "method" in data:
        result = data.get("result")
        if not isinstance(result, dict):
            result = {}
        warnings = data.get("warnings") or result.get("warnings") or ()
        error = data.get("error")
        # ``pong`` carries no ``success``; every other reply says it explicitly.
        success = bool(data.get("success", error is None))
        return Reply(
            method=str(data["method"]),
            req_id=_req_id(data.get("req_id")),
            success=success,
            result=result,
            error=None if error is None else str(error),
            time_in=_opt_str(data.get("time_in")),
            time_out=_opt_str(data.get("time_out")),
            warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
        )
    channel = data.get("channel")
    if channel == "heartbeat":
        return Heartbeat()
    if channel == "status":
        items = data.get("data")
        first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        system = first.get("system")
        if not isinstance(system, str):
            raise MalformedReply("status message without a system status")
        return SystemStatus(system, _opt_str(first.get("api_version")), _opt_str(first.get("connection_id")))
    if channel == "executions":
        kind = data.get("type")
        reports = data.get("data")
        if kind not in ("snapshot", "update") or not isinstance(reports, list):
            raise MalformedReply(f"executions message of type {kind!r} without a data list")
        good = tuple(r for r in reports if isinstance(r, dict) and isinstance(r.get("order_id"), str))
        seq = data.get("sequence")
        return Executions(
            kind == "snapshot", good, seq if isinstance(seq, int) else None, len(reports) - len(good)
        )
    return Ignored(str(channel))


def reply_outcome_error(reply: Reply) -> VenueError:
    """The exception for a failed reply (not raised here)."""
    return error_for(reply.error or f"{reply.method} failed without an error text")


# --------------------------------------------------------------------------- orders


def report_removal(report: Mapping[str, Any]) -> Outcome | None:
    """The removal outcome of one v2 execution report, if it ends the order.

    A ``trade`` may say ``partially_filled`` even when it fills the whole order; completion
    comes as ``exec_type: filled`` (docs "executions", Spot), so both fields are read.
    """
    reason = report.get("reason") or report.get("cancel_reason")
    for key in ("order_status", "exec_type"):
        status = report.get(key)
        if status in _TERMINAL:
            return removal_outcome(str(status), reason)
    return None


_SIDES = {s.value: s for s in Side}  # a dict look-up: the enum's call is slow over 10,000 orders


def order_from_report(account_id: str, raw: Mapping[str, Any], opened_at: float) -> Order | None:
    """A merged v2 execution report -> Order, or None if it lacks a required field yet.

    Args:
        account_id: The desk's account id.
        raw: Every field known for the order (the snapshot entry merged with updates).
        opened_at: Unix time the order was first seen (v2 reports carry the event time only).

    Raises:
        MalformedReply: a field is present but not understood.
    """
    try:
        symbol, side, qty = raw["symbol"], raw["side"], raw["order_qty"]
    except KeyError:
        return None
    side_v = _SIDES.get(side) if isinstance(side, str) else None
    if side_v is None:
        raise MalformedReply(f"executions side not understood: {side!r}")
    triggers = raw.get("triggers")
    stop = decimal_or_none(triggers.get("price")) if isinstance(triggers, dict) else None
    trigger_status = triggers.get("status") if isinstance(triggers, dict) else None
    tif, post_only, reduce_only = raw.get("time_in_force"), raw.get("post_only"), raw.get("reduce_only")
    if stop is None:
        stop = decimal_or_none(raw.get("stop_price")) or None
    userref = raw.get("order_userref")
    cl_ord_id = raw.get("cl_ord_id")
    return Order(
        account_id=account_id,
        venue=VenueKind.SPOT,
        order_id=str(raw["order_id"]),
        symbol=str(symbol),
        side=side_v,
        order_type=str(raw.get("order_type", "")),
        price=decimal_or_none(raw.get("limit_price")),
        quantity=decimal_or_none(qty) or Decimal(0),
        filled=decimal_or_none(raw.get("cum_qty")) or Decimal(0),
        opened_at=opened_at,
        client_id=str(cl_ord_id) if cl_ord_id else None,
        userref=userref_or_none(userref),
        stop_price=stop,
        status=str(raw.get("order_status", "new")),
        time_in_force=str(tif).upper() if tif else None,
        post_only=post_only if isinstance(post_only, bool) else None,
        reduce_only=reduce_only if isinstance(reduce_only, bool) else None,
        triggered=None if trigger_status is None else trigger_status == "triggered",
    )


@dataclass(slots=True)
class _Entry:
    raw: dict[str, Any]
    opened_at: float
    order: Order | None = None  # ``raw`` read, once per change (None: not fully known yet)


class ExecutionsBook:
    """The account's open orders as the ``executions`` channel tells them.

    Rules: a snapshot replaces everything; updates are sparse and merged by ``order_id``
    (API-FACTS 4); canceled/filled/expired take the order off and yield REMOVED with what the
    venue said; an update naming an order we never saw in full is kept (merged) but not shown
    until its symbol, side and quantity are known. ``gap`` is set when an update's sequence
    is not the previous one + 1 (the stream lost something: resubscribe for a fresh snapshot).
    """

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._entries: dict[str, _Entry] = {}
        self.snapshot_seen = False
        self.gap = False
        self._sequence: int | None = None

    def orders(self) -> list[Order]:
        """Every open order fully known."""
        return [e.order for e in self._entries.values() if e.order is not None]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._entries

    def _check_sequence(self, seq: int | None, snapshot: bool) -> None:
        if seq is None:
            return
        if not snapshot and self._sequence is not None and seq != self._sequence + 1:
            log.warning("executions sequence jumped from %d to %d", self._sequence, seq)
            self.gap = True
        self._sequence = seq

    def apply(self, message: Executions) -> list[StreamEvent]:
        """Apply one executions message.

        Args:
            message: A decoded snapshot or update.

        Returns:
            The stream events it means, in order (consecutive upserts grouped).

        Raises:
            MalformedReply: a report has a field we cannot read.
        """
        self._check_sequence(message.sequence, message.snapshot)
        if message.snapshot:
            self.snapshot_seen = True
            self._entries = {}
            problems: list[StreamEvent] = []
            if message.skipped:
                text = f"skipped {message.skipped} execution report(s) without an order id in the snapshot"
                problems.append(StreamEvent(StreamKind.PROBLEM, detail=text))
            for report in message.reports:
                if report_removal(report) is not None:
                    continue
                when = rfc3339_to_unix(report.get("timestamp")) or 0.0
                order_id = str(report["order_id"])
                try:
                    order = order_from_report(self.account_id, report, when)
                except MalformedReply as e:
                    # One bad order is one skipped row: the rest of the account still streams.
                    problems.append(StreamEvent(StreamKind.PROBLEM, detail=f"skipped order {order_id}: {e}"))
                    continue
                self._entries[order_id] = _Entry(dict(report), when, order)
            return [*problems, StreamEvent(StreamKind.SNAPSHOT, tuple(self.orders()))]
        if message.skipped:
            raise MalformedReply("executions update without an order_id")
        events: list[StreamEvent] = []
        upserts: list[Order] = []

        def flush() -> None:
            if upserts:
                events.append(StreamEvent(StreamKind.UPSERT, tuple(upserts)))
                upserts.clear()

        for report in message.reports:
            order_id = str(report["order_id"])
            outcome = report_removal(report)
            if outcome is not None:
                self._entries.pop(order_id, None)
                flush()
                events.append(StreamEvent(StreamKind.REMOVED, order_id=order_id, outcome=outcome))
                continue
            entry = self._entries.get(order_id)
            if entry is None:
                when = rfc3339_to_unix(report.get("timestamp")) or 0.0
                entry = self._entries[order_id] = _Entry({}, when)
            entry.raw.update(report)
            order = entry.order = order_from_report(self.account_id, entry.raw, entry.opened_at)
            if order is None:
                log.debug("executions update for %s is not complete yet", order_id)
                continue
            upserts.append(order)
        flush()
        return events

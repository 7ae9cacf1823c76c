"""Spot WebSocket v1 (legacy) wire format, pure: event frames, status replies, openOrders."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.errors import MalformedReply
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order
from app.venues.base import StreamEvent, StreamKind
from app.venues.spot import rest_wire as spot_rest_wire
from app.venues.spot.ws_common import (
    DEADMAN_MAX_S,
    Heartbeat,
    Ignored,
    Reply,
    SystemStatus,
    dumps,
    loads,
    one_kind,
    removal_outcome,
)

log = logging.getLogger("app.venues.spot.ws_v1_wire")

# v1 documents no size limit for cancelOrder lists; the console sends at most 50 ids, the cap of
# REST CancelOrderBatch and v2 batch_cancel, which share the same engine counter (API-FACTS 7.2).
LIST_MAX = 50

# Replies to cancel requests: "status" is "ok" or "error" (with errorMessage), seed 000.
_STATUS_EVENTS = ("cancelOrderStatus", "cancelAllStatus", "cancelAllOrdersAfterStatus")
_REMOVED_STATUSES = ("canceled", "closed", "expired")


def _event(event: str, fields: Mapping[str, Any], reqid: int) -> str:
    return dumps({"event": event, **fields, "reqid": reqid})


def encode_subscribe_open_orders(token: str, reqid: int, *, ratecounter: bool = False) -> str:
    """Subscribe to ``openOrders`` (API-FACTS 3): a snapshot of open orders, then updates."""
    sub = {"name": "openOrders", "token": token, "ratecounter": ratecounter}
    return dumps({"event": "subscribe", "reqid": reqid, "subscription": sub})


def encode_unsubscribe_open_orders(token: str, reqid: int) -> str:
    """Unsubscribe from ``openOrders``."""
    return dumps(
        {"event": "unsubscribe", "reqid": reqid, "subscription": {"name": "openOrders", "token": token}}
    )


def encode_cancel_order(token: str, reqid: int, refs: Sequence[CancelRef]) -> str:
    """``cancelOrder`` (seed 000): ``txid`` = Kraken ids or userrefs, or ``cl_ord_id`` list.

    One kind per request. ``txid`` is required by the schema (seed 000, API-FACTS 11), so a cancel
    by client ids sends it empty beside the ``cl_ord_id`` list.

    Args:
        token: WS token.
        reqid: Echoed in every ``cancelOrderStatus``.
        refs: 1..50 ids of one kind.

    Returns:
        The frame text.

    Raises:
        ValueError: no refs, mixed kinds, too many, duplicates, or a non-integer userref.
    """
    kind = one_kind(refs)
    values = [r.value for r in refs]
    if len(values) > LIST_MAX:
        raise ValueError(f"cancelOrder takes at most {LIST_MAX} ids here, not {len(values)}")
    if len(set(values)) != len(values):
        raise ValueError("cancelOrder ids must be unique")
    if kind is IdKind.USERREF:
        for v in values:
            if not v.lstrip("-").isdigit():
                raise ValueError(f"a userref must be an integer, not {v!r}")
    fields: dict[str, Any] = {"token": token}
    if kind is IdKind.CLIENT_ID:
        fields["txid"] = []
        fields["cl_ord_id"] = values
    else:
        fields["txid"] = values
    return _event("cancelOrder", fields, reqid)


def encode_cancel_all(token: str, reqid: int) -> str:
    """``cancelAll``: every open order of the account."""
    return _event("cancelAll", {"token": token}, reqid)


def encode_cancel_after(token: str, reqid: int, timeout_s: int) -> str:
    """``cancelAllOrdersAfter`` (the dead man's switch); 0 disarms.

    Raises:
        ValueError: timeout outside 0..86399.
    """
    if not 0 <= timeout_s < DEADMAN_MAX_S:
        raise ValueError(f"timeout must be 0..{DEADMAN_MAX_S - 1} s, not {timeout_s}")
    return _event("cancelAllOrdersAfter", {"token": token, "timeout": int(timeout_s)}, reqid)


def encode_ping(reqid: int) -> str:
    """``ping``; the venue answers ``pong`` with the same reqid."""
    return dumps({"event": "ping", "reqid": reqid})


@dataclass(frozen=True, slots=True)
class OpenOrders:
    """One ``openOrders`` message: ``[[{txid: fields}, ...], "openOrders", {"sequence": n}]``.

    Attributes:
        entries: (txid, fields) pairs in message order; fields are sparse in updates.
        sequence: The channel sequence number, if given.
    """

    entries: tuple[tuple[str, Mapping[str, Any]], ...]
    sequence: int | None


Message = Reply | OpenOrders | Heartbeat | SystemStatus | Ignored


def _reqid(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _parse_open_orders(data: list[Any]) -> OpenOrders:
    items = data[0]
    if not isinstance(items, list):
        raise MalformedReply("openOrders message without an order list")
    entries: list[tuple[str, Mapping[str, Any]]] = []
    for item in items:
        if not isinstance(item, dict):
            raise MalformedReply("openOrders entry is not an object")
        for txid, fields in item.items():
            if not isinstance(fields, dict):
                raise MalformedReply(f"openOrders entry {txid!r} is not an object")
            entries.append((str(txid), fields))
    seq = None
    if len(data) > 2 and isinstance(data[2], dict):
        raw = data[2].get("sequence")
        seq = raw if isinstance(raw, int) else None
    return OpenOrders(tuple(entries), seq)


def parse_message(text: str | bytes) -> Message:
    """Decode one v1 frame.

    Args:
        text: The frame.

    Returns:
        Reply (status events, pong, subscriptionStatus, error), OpenOrders, Heartbeat,
        SystemStatus, or Ignored.

    Raises:
        MalformedReply: not JSON, or a known message in a shape we cannot read.
    """
    data = loads(text)
    if isinstance(data, list):
        if len(data) >= 2 and data[1] == "openOrders":
            return _parse_open_orders(data)
        return Ignored(str(data[1]) if len(data) > 1 else "list")
    if not isinstance(data, dict):
        return Ignored(type(data).__name__)
    event = data.get("event")
    reqid = _reqid(data.get("reqid"))
    error = data.get("errorMessage")
    if event == "heartbeat":
        return Heartbeat()
    if event == "systemStatus":
        status = data.get("status")
        if not isinstance(status, str):
            raise MalformedReply("systemStatus without a status")
        conn = data.get("connectionID")
        return SystemStatus(status, _str(data.get("version")), _str(conn))
    if event == "pong":
        return Reply("pong", reqid, True)
    if event in _STATUS_EVENTS:
        ok = data.get("status") == "ok"
        result = {k: v for k, v in data.items() if k not in ("event", "status", "reqid", "errorMessage")}
        return Reply(str(event), reqid, ok, result, None if ok else _str(error) or "error")
    if event == "subscriptionStatus":
        status = data.get("status")
        ok = status in ("subscribed", "unsubscribed")
        sub = data.get("subscription")
        result = {"status": status, "subscription": sub if isinstance(sub, dict) else {}}
        return Reply("subscriptionStatus", reqid, ok, result, None if ok else _str(error) or "error")
    if event == "error":
        return Reply("error", reqid, False, {}, _str(error) or "error")
    return Ignored(str(event))


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def count_of(reply: Reply) -> int:
    """The ``count`` of a ``cancelAllStatus`` (documented as a string, shown as a number).

    Raises:
        MalformedReply: no integer count.
    """
    raw = reply.result.get("count")
    try:
        return int(str(raw))
    except ValueError as e:
        raise MalformedReply(f"cancelAllStatus without an integer count: {raw!r}") from e


def _complete(fields: Mapping[str, Any]) -> bool:
    descr = fields.get("descr")
    return isinstance(descr, dict) and "pair" in descr and "type" in descr and "vol" in fields


def entry_removal(fields: Mapping[str, Any]) -> Outcome | None:
    """The removal outcome of one openOrders entry, if its status ends the order."""
    status = fields.get("status")
    reason = fields.get("cancel_reason") or fields.get("reason")
    if status == "closed" and reason:
        # Closed with a cancel reason is not a fill (e.g. "Order replaced", API-FACTS 11).
        return Outcome(CancelState.ALREADY_GONE, str(reason))
    if status in _REMOVED_STATUSES:
        return removal_outcome(str(status), reason)
    return None


class OpenOrdersBook:
    """The account's open orders as ``openOrders`` tells them.

    Rules: the first message after subscribing is the snapshot (replace everything); later
    ones are sparse updates merged by txid (API-FACTS 3); ``canceled``/``closed``/``expired``
    take the order off with what the venue said (``closed`` = filled). ``gap`` is set when a
    sequence number is skipped.
    """

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._entries: dict[str, dict[str, Any]] = {}
        self.snapshot_seen = False
        self.gap = False
        self._sequence: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._entries

    def _order(self, txid: str, fields: Mapping[str, Any]) -> Order | None:
        if not _complete(fields):
            return None
        return spot_rest_wire.parse_order(self.account_id, txid, fields)

    def orders(self) -> list[Order]:
        """Every open order fully known."""
        out = []
        for txid, fields in self._entries.items():
            order = self._order(txid, fields)
            if order is not None:
                out.append(order)
        return out

    def apply(self, message: OpenOrders) -> list[StreamEvent]:
        """Apply one openOrders message.

        Args:
            message: A decoded openOrders message.

        Returns:
            The stream events it means (a SNAPSHOT first time, then UPSERT/REMOVED).

        Raises:
            MalformedReply: an entry has a field we cannot read.
        """
        seq = message.sequence
        if seq is not None:
            if self.snapshot_seen and self._sequence is not None and seq != self._sequence + 1:
                log.warning("openOrders sequence jumped from %d to %d", self._sequence, seq)
                self.gap = True
            self._sequence = seq
        if not self.snapshot_seen:
            self.snapshot_seen = True
            self._entries = {}
            problems: list[StreamEvent] = []
            for txid, fields in message.entries:
                if entry_removal(fields) is not None:
                    continue
                merged = {**self._entries.get(txid, {}), **fields}
                try:
                    self._order(txid, merged)
                except MalformedReply as e:
                    # One bad order is one skipped row: the rest of the account still streams.
                    problems.append(StreamEvent(StreamKind.PROBLEM, detail=f"skipped order {txid}: {e}"))
                    continue
                self._entries[txid] = merged
            return [*problems, StreamEvent(StreamKind.SNAPSHOT, tuple(self.orders()))]
        events: list[StreamEvent] = []
        upserts: list[Order] = []

        def flush() -> None:
            if upserts:
                events.append(StreamEvent(StreamKind.UPSERT, tuple(upserts)))
                upserts.clear()

        for txid, fields in message.entries:
            outcome = entry_removal(fields)
            if outcome is not None:
                self._entries.pop(txid, None)
                flush()
                events.append(StreamEvent(StreamKind.REMOVED, order_id=txid, outcome=outcome))
                continue
            merged = self._entries.setdefault(txid, {})
            descr = fields.get("descr")
            if isinstance(descr, dict) and isinstance(merged.get("descr"), dict):
                fields = {**fields, "descr": {**merged["descr"], **descr}}
            merged.update(fields)
            order = self._order(txid, merged)
            if order is None:
                log.debug("openOrders update for %s is not complete yet", txid)
                continue
            upserts.append(order)
        flush()
        return events

"""Kraken Prime WebSocket, sans I/O: the Order and ExecutionReport streams, cancels and their outcomes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import VenueRejected
from app.core.ledger import CancelState, Outcome
from app.core.orders import Order
from app.venues.base import StreamEvent, StreamKind
from app.venues.prime import wire
from app.venues.sansio import SessionProtocol, Ticket

log = logging.getLogger("app.venues.prime")

AUTH_HELP = (
    "check that the API key and secret are this environment's (Prime production and sandbox keys "
    "differ), that the secret was pasted whole, and that this computer's clock is right (the "
    "signature carries a timestamp)"
)

CancelOutcomes = dict[str, Outcome]
"""What one OrderCancelRequest settled, per venue order id."""


@dataclass(eq=False, slots=True)
class _Pending:
    """One entry of a cancel request: the latest thing the streams said about its order."""

    entry: wire.CancelEntry
    batch: _Batch
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
        if self.final:
            self.batch.finals += 1
            self.batch.check()
        else:
            self.batch.ticket.advance()


@dataclass(eq=False, slots=True)
class _Batch:
    """One OrderCancelRequest: its entries, its ticket, and Kraken's refusal if it was refused."""

    reqid: int
    ticket: Ticket[CancelOutcomes]
    pendings: list[_Pending] = field(default_factory=list)
    on_done: Callable[[_Batch], None] = lambda batch: None
    finals: int = 0  # pendings with a final word (counted: a batch of 100 is not re-scanned 100 times)

    def check(self) -> None:
        if self.finals >= len(self.pendings):
            self.on_done(self)


class PrimeProtocol(SessionProtocol):
    """One signed-in Kraken Prime connection (``wss://wss.prime.kraken.com/ws/v1``), sans I/O.

    The sign-in itself is at the HTTP upgrade (the venue signs the headers); after ``hello`` this
    subscribes to the Order stream (open states) and the ExecutionReport stream, and is live once
    the Order stream's initial snapshot is in.

    Rules kept:
    - a cancel's outcome comes only from the streams, matched by the request's new ClOrdID (or
      by the order's OrderID for state facts, never for another request's rejection):
      Canceled -> cancelled, PendingCancel -> acknowledged, CancelRejected -> already gone /
      filled / rejected; an error answering the request rejects what is not final yet;
    - no final word when the wait is over, or a dropped socket -> unknown, never cancelled;
    - the Order stream's removals (and closed states on the report stream) leave the book as
      REMOVED events with what they prove;
    - Kraken's Pings are answered with a Pong echoing their data; our Ping carries the
      non-empty data Kraken requires.

    Events: SNAPSHOT at the initial snapshot, UPSERT for new or changed orders, REMOVED when an
    order leaves the open states.
    """

    def __init__(self, account_id: str, *, reqids: Iterator[int], clock: Callable[[], float]) -> None:
        """Make the protocol for one connection.

        Args:
            account_id: the desk's account id (stamped on orders).
            reqids: request ids, shared by every connection of the venue (Kraken: never 0).
            clock: wall clock for TransactTime and Ping timestamps.
        """
        super().__init__()
        self.account_id = account_id
        self.session_id: str | None = None
        self._reqids = reqids
        self._clock = clock
        self._greeted = False
        self._order_reqid = 0
        self._exec_reqid = 0
        self._raw: dict[str, dict[str, Any]] = {}  # open orders as Kraken sent them (merged)
        self._orders: dict[str, Order] = {}
        self._batches: dict[int, _Batch] = {}
        self._inflight: dict[str, _Pending] = {}  # by the cancel entry's ClOrdID
        self._inflight_by_order: dict[str, list[_Pending]] = {}
        self._queries: dict[int, tuple[str, Ticket[Outcome | None]]] = {}

    def __repr__(self) -> str:
        return f"PrimeProtocol({self.account_id!r}, session={self.session_id!r}, live={self.live})"

    def _next_reqid(self) -> int:
        return next(self._reqids)

    def _now(self) -> str:
        return wire.iso_utc(self._clock())

    # ----------------------------------------------------------------------- sign-in

    def connection_made(self) -> None:
        """Nothing to send: Kraken greets first (``hello``) once the upgrade's signature passed."""

    def _greet(self, message: wire.Message) -> None:
        if isinstance(message, wire.ServerError):
            self._fail_connection(
                f"Kraken Prime refused the sign-in ({message.code} {message.msg}); {AUTH_HELP}.", auth=True
            )
            return
        if not isinstance(message, wire.Hello):
            self._fail_connection("Kraken Prime did not greet with hello after the sign-in")
            return
        self._greeted = True
        self.session_id = message.session_id
        self._order_reqid, self._exec_reqid = self._next_reqid(), self._next_reqid()
        self._send(wire.encode_subscribe(self._order_reqid, [wire.order_stream()]))
        self._send(wire.encode_subscribe(self._exec_reqid, [wire.exec_stream()]))

    # ----------------------------------------------------------------------- frames in

    def receive(self, frame: str | bytes) -> None:
        """Take one frame: hello, stream data, Ping/Pong or an error."""
        try:
            message = wire.parse_message(frame)
        except Exception as e:  # MalformedReply: one unreadable frame is skipped, not fatal
            log.warning("%s: %s", self.account_id, e)
            return
        if not self._greeted:
            self._greet(message)
        elif isinstance(message, wire.StreamData):
            self._on_stream(message)
        elif isinstance(message, wire.ServerPing):
            self._send(wire.encode_pong(message.reqid, message.data, self._now()))
        elif isinstance(message, wire.ServerError):
            self._on_error(message)
        elif not isinstance(message, wire.Pong | wire.Hello):
            log.debug("%s: ignoring Prime message type %s", self.account_id, getattr(message, "type", "?"))

    def _on_stream(self, message: wire.StreamData) -> None:
        query = self._queries.pop(message.reqid, None) if message.reqid is not None else None
        if query is not None:
            order_id, ticket = query
            ticket.resolve(query_outcome(order_id, message.entries))
            self._send(wire.encode_stream_cancel(message.reqid or 0))  # a one-shot subscription
        elif message.reqid == self._order_reqid:
            self._on_orders(message)
        elif message.reqid == self._exec_reqid:
            self._on_reports(message)

    def _on_orders(self, message: wire.StreamData) -> None:
        first_snapshot = message.initial and not self.live
        if first_snapshot:
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
            self.live = True
            self._emit(StreamEvent(StreamKind.SNAPSHOT, tuple(self._orders.values())))
        elif upserts:
            self._emit(StreamEvent(StreamKind.UPSERT, tuple(upserts)))

    def _on_reports(self, message: wire.StreamData) -> None:
        for entry in message.entries:
            self._match(entry)
            order_id = wire.entry_order_id(entry)
            if (
                order_id is not None
                and wire.is_closed_entry(entry)
                and entry.get("ExecType") != "CancelRejected"
            ):
                # A closed state on the report stream is a fact too: keep the view right even if
                # the Order stream's removal is late or missing.
                self._remove(order_id, entry)

    def _merge(self, entry: dict[str, Any], order_id: str) -> Order | None:
        update = dict(entry)
        # After a cancel request some servers put the request's ClOrdID on the order (FIX
        # semantics); keep the order's own client id instead of ours.
        if update.get("ClOrdID") in self._inflight:
            update.pop("ClOrdID")
        merged = {**self._raw.get(order_id, {}), **update}
        try:
            order = wire.parse_order(self.account_id, merged)
        except Exception as e:  # MalformedReply: one bad order is one skipped order
            self._emit(StreamEvent(StreamKind.PROBLEM, detail=f"skipped an Order entry: {e}"))
            return None
        self._raw[order_id] = merged
        self._orders[order_id] = order
        return order

    def _remove(self, order_id: str, entry: Mapping[str, Any]) -> None:
        self._raw.pop(order_id, None)
        if self._orders.pop(order_id, None) is not None:
            outcome = wire.removal_outcome(entry)
            self._emit(StreamEvent(StreamKind.REMOVED, order_id=order_id, outcome=outcome))

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
        # Matched by OrderID only: take state facts (Canceled, Filled, PendingCancel), not
        # another request's rejection.
        if entry.get("ExecType") in ("CancelRejected", "Rejected"):
            return
        outcome = wire.cancel_outcome(entry)
        for p in list(self._inflight_by_order[order_id]):
            p.update(outcome)

    def _on_error(self, err: wire.ServerError) -> None:
        words = f"{err.code} {err.msg}".strip()
        reqid = err.reqid
        if reqid is not None and reqid in self._queries:
            _, ticket = self._queries.pop(reqid)
            ticket.fail(VenueRejected(f"Kraken Prime refused the request: {words}", venue_error=words))
        elif reqid is not None and reqid in self._batches:
            self._finish(self._batches[reqid], rejected=words)
        elif reqid is not None and reqid in (self._order_reqid, self._exec_reqid) and not self.live:
            self._fail_connection(f"Kraken Prime refused the order subscription: {words}")
        else:
            log.warning("%s: Prime error (reqid %s): %s", self.account_id, reqid, words)

    # ----------------------------------------------------------------------- requests

    def cancel(self, entries: Sequence[wire.CancelEntry]) -> Ticket[CancelOutcomes]:
        """Queue one OrderCancelRequest with a data entry per order.

        Returns:
            A ticket settled with an outcome per order: cancelled, already gone, filled,
            rejected (Kraken's reason), or unknown when no final word came.
        """
        reqid = self._next_reqid()
        batch = _Batch(reqid, Ticket("OrderCancelRequest"), on_done=self._finish)
        for entry in entries:
            pending = _Pending(entry, batch)
            batch.pendings.append(pending)
            self._inflight[entry.cl_ord_id] = pending
            self._inflight_by_order.setdefault(entry.order_id, []).append(pending)
        self._batches[reqid] = batch
        self._send(wire.encode_cancel_request(reqid, entries, self._now()), batch.ticket)
        return batch.ticket

    def _finish(self, batch: _Batch, *, rejected: str | None = None, unknown: str | None = None) -> None:
        """Settle a cancel request: final words as they are, the rest rejected or unknown."""
        self._batches.pop(batch.reqid, None)
        out: CancelOutcomes = {}
        for p in batch.pendings:
            self._inflight.pop(p.entry.cl_ord_id, None)
            siblings = self._inflight_by_order.get(p.entry.order_id, [])
            if p in siblings:
                siblings.remove(p)
            if not siblings:
                self._inflight_by_order.pop(p.entry.order_id, None)
            if p.final and p.outcome is not None:
                out[p.entry.order_id] = p.outcome
            elif rejected is not None:
                out[p.entry.order_id] = Outcome(CancelState.REJECTED, f"Kraken Prime: {rejected}")
            else:
                acked = " (Kraken acknowledged it: PendingCancel)" if p.outcome is not None else ""
                out[p.entry.order_id] = Outcome(CancelState.UNKNOWN, f"{unknown}{acked}; re-check")
        batch.ticket.resolve(out)

    def query(self, order_id: str) -> Ticket[Outcome | None]:
        """Queue a one-shot ``Order`` subscription for one OrderID: its current state.

        Returns:
            A ticket settled with what the state proves, or None when the order is still moving
            (pending cancel) or no answer came.
        """
        reqid = self._next_reqid()
        ticket: Ticket[Outcome | None] = Ticket(f"query {order_id}")
        self._queries[reqid] = (order_id, ticket)
        self._send(
            wire.encode_subscribe(reqid, [wire.order_stream(statuses=None, order_id=order_id)]), ticket
        )
        return ticket

    def ping(self) -> bool:
        """Queue a Ping (Kraken needs a non-empty data array; any frame back proves the link)."""
        ts = self._now()
        self._send(wire.encode_ping(self._next_reqid(), [{"ts": ts}], ts))
        return True

    def expire(self, ticket: Ticket[Any]) -> None:
        """The wait is over: a cancel settles with what came (the rest unknown); a query says None."""
        for batch in list(self._batches.values()):
            if batch.ticket is ticket:
                self._finish(batch, unknown="no final answer from Kraken Prime in time")
        for reqid, (_, query) in list(self._queries.items()):
            if query is ticket:
                del self._queries[reqid]
                ticket.resolve(None)

    def connection_lost(self, reason: str) -> None:
        """Every open cancel is unknown (re-check); every open query says None."""
        for batch in list(self._batches.values()):
            self._finish(
                batch, unknown=f"the connection to Kraken Prime dropped before the final answer ({reason})"
            )
        queries, self._queries = self._queries, {}
        for _, ticket in queries.values():
            ticket.resolve(None)

    def orders(self) -> list[Order]:
        """The open orders as the Order stream told them."""
        return list(self._orders.values())


def query_outcome(order_id: str, entries: Sequence[Mapping[str, Any]]) -> Outcome | None:
    """What a one-shot query's snapshot proves about ``order_id``.

    Not listed -> already gone; still open -> failed (the cancel did not happen); pending cancel
    or another moving state -> None (leave it unknown rather than guess); closed -> its outcome.
    """
    entry = next((e for e in entries if wire.entry_order_id(e) == order_id), None)
    if entry is None:
        return Outcome(CancelState.ALREADY_GONE, "Kraken Prime does not list the order")
    if not wire.is_closed_entry(entry):
        if entry.get("OrdStatus") in ("PendingCancel", "PendingNew", "PendingReplace"):
            return None
        return Outcome(CancelState.FAILED, "still open at Kraken Prime after the cancel")
    return wire.removal_outcome(entry)

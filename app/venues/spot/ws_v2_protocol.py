"""Spot WebSocket v2, sans I/O: the executions stream and cancels as frames in, events and answers out."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from app.core.errors import MalformedReply
from app.core.ledger import CancelState, Outcome
from app.core.orders import IdKind
from app.core.plan import CancelRequest, RequestForm
from app.venues.base import CancelReply
from app.venues.sansio import Ticket
from app.venues.spot import ws_v2_wire as wire
from app.venues.spot.ws_common import (
    NOT_KNOWN,
    Book,
    Reply,
    SpotWsProtocol,
    checked,
    error_for,
    is_token_error,
    not_known_reply,
    one_kind,
    only_order,
    stream_settles,
    venue_times,
)

log = logging.getLogger("app.venues.spot_ws_v2")


def _count(reply: Reply) -> int:
    raw = reply.result.get("count")
    try:
        return int(str(raw))
    except ValueError as e:
        raise MalformedReply(f"{reply.method} reply without an integer count: {raw!r}") from e


def cancel_all_reply(replies: list[Reply]) -> CancelReply:
    """``cancel_all``: a bare count (the desk confirms per order)."""
    return CancelReply(count=_count(checked(replies[0])), **venue_times(replies))


def batch_cancel_reply(replies: list[Reply]) -> CancelReply:
    """``batch_cancel``: a bare count; an unknown id in the batch says nothing of the others."""
    reply = replies[0]
    if not reply.success and reply.error in NOT_KNOWN:
        # Which id Kraken did not know, and whether the others were cancelled, it does not say.
        return CancelReply(**venue_times(replies))
    return CancelReply(count=_count(checked(reply)), **venue_times(replies))


def cancel_order_reply(request: CancelRequest, replies: list[Reply]) -> CancelReply:
    """``cancel_order``: one reply per cancelled order, each naming it.

    Raises:
        VenueError: every reply is an error other than an unknown order (a token error first,
            so the venue can fetch a new token and send again).
    """
    kind = one_kind(request.refs)
    many = kind is IdKind.USERREF or len(request.refs) > 1
    errors = [r.error or "cancel_order failed" for r in replies if not r.success]
    token_error = next((e for e in errors if is_token_error(e)), None)
    if token_error is not None:
        raise error_for(token_error)
    outcomes: dict[str, Outcome] = {}
    # A cancel by cl_ord_id is answered with the cl_ord_id only (API-FACTS 11).
    by_client = {o.client_id: o.order_id for o in request.orders if o.client_id}
    for reply in replies:
        if reply.success:
            order_id = (
                reply.result.get("order_id")
                or by_client.get(str(reply.result.get("cl_ord_id")))
                or (None if many else only_order(request))
            )
            if order_id:
                outcomes[str(order_id)] = Outcome(CancelState.CANCELLED)
    if errors and not outcomes:
        hard = [e for e in errors if e not in NOT_KNOWN]
        if hard:
            raise error_for(hard[0])
        if not many:
            return not_known_reply(request, replies, errors[0])
        return CancelReply(count=0, **venue_times(replies))
    ok = sum(1 for r in replies if r.success)
    return CancelReply(outcomes, count=ok if many else None, **venue_times(replies))


class SpotWsV2Protocol(SpotWsProtocol):
    """One Spot WebSocket v2 connection (``ws-auth.kraken.com/v2``), sans I/O.

    Rules kept (besides ``SpotWsProtocol``'s):
    - SINGLE -> ``cancel_order``: a success reply names the order it cancelled (cancelled);
      ``EOrder:Unknown order`` means already gone; a userref may cancel many orders, each named
      in its own reply;
    - BATCH -> ``batch_cancel`` (2..50 ids): a bare count, confirmed per order by the desk;
    - ALL -> ``cancel_all`` (count only); the venue's ``time_in``/``time_out`` are kept.
    """

    name = "spot-ws-v2"

    def _parse(self, frame: str | bytes) -> Any:
        return wire.parse_message(frame)

    def _new_book(self) -> Book:
        return wire.ExecutionsBook(self.account_id)

    def _is_stream_data(self, message: Any) -> bool:
        return isinstance(message, wire.Executions)

    def _subscribe_frame(self, req_id: int) -> str:
        # ratecounter: Kraken's own per-pair trading counter and the tier's threshold, so the
        # pacer plans with Kraken's numbers instead of its estimate (API-FACTS 4, 7.2).
        return wire.encode_subscribe_executions(self.token, req_id, ratecounter=self.on_ratecount is not None)

    def _stream_data(self, message: Any) -> None:
        if self.on_ratecount is not None:
            for report in message.reports:
                count, symbol = report.get("ratecount"), report.get("symbol")
                if isinstance(count, int | float | Decimal) and isinstance(symbol, str):
                    self.on_ratecount(symbol, float(count))

    def _ping_frame(self, req_id: int) -> str:
        return wire.encode_ping(req_id)

    def cancel(self, request: CancelRequest) -> Ticket[CancelReply]:
        """Queue one planned cancel request.

        Raises:
            ValueError: a form this protocol cannot send (the planner never makes one).
        """
        token = self.token
        if request.form is RequestForm.ALL:
            return self.request(
                "cancel_all",
                lambda i: wire.encode_cancel_all(token, i),
                cancel_all_reply,
                stream_ids=stream_settles(request),
            )
        if request.form is RequestForm.BATCH:
            refs = request.refs
            return self.request(
                "batch_cancel",
                lambda i: wire.encode_batch_cancel(token, i, refs),
                batch_cancel_reply,
                stream_ids=stream_settles(request),
            )
        if request.form is not RequestForm.SINGLE or not request.refs:
            raise ValueError(f"Spot WS v2 cannot send {request.form} with {len(request.refs)} refs")
        kind = one_kind(request.refs)
        return self.request(
            "cancel_order",
            lambda i: wire.encode_cancel_order(token, i, request.refs),
            lambda replies: cancel_order_reply(request, replies),
            # One reply per order cancelled: a userref may name any number of orders.
            expect=None if kind is IdKind.USERREF else len(request.refs),
            stream_ids=stream_settles(request),
        )

    def _cancel_after_frame(self, req_id: int, timeout_s: int) -> str:
        return wire.encode_cancel_after(self.token, req_id, timeout_s)

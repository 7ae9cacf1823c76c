"""Spot WebSocket v1 (legacy), sans I/O: openOrders and cancels as frames in, events and answers out."""

from __future__ import annotations

import logging
from typing import Any

from app.core.ledger import CancelState, Outcome
from app.core.orders import IdKind
from app.core.plan import CancelRequest, RequestForm
from app.venues.base import CancelReply
from app.venues.sansio import Ticket
from app.venues.spot import ws_v1_wire as wire
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

log = logging.getLogger("app.venues.spot_ws_v1")


def cancel_all_reply(replies: list[Reply]) -> CancelReply:
    """``cancelAllStatus``: a bare count (the desk confirms per order)."""
    return CancelReply(count=wire.count_of(checked(replies[0])), **venue_times(replies))


def cancel_order_reply(request: CancelRequest, replies: list[Reply]) -> CancelReply:
    """``cancelOrderStatus`` replies: one per order, NOT naming it.

    With one id the answer is about that order (ok -> cancelled, unknown order -> already
    gone); with several only the count of oks is returned and the desk confirms each order.

    Raises:
        VenueError: a token error (so the venue sends again with a new token), a hard error for
            a single id, or the same kind of refusal for every id.
    """
    kind = one_kind(request.refs)
    many = kind is IdKind.USERREF or len(request.refs) > 1
    oks = sum(1 for r in replies if r.success)
    errors = [r.error or "cancelOrder failed" for r in replies if not r.success]
    token_error = next((e for e in errors if is_token_error(e)), None)
    if token_error is not None:
        raise error_for(token_error)
    hard = [e for e in errors if e not in NOT_KNOWN]
    if not many:
        if oks:
            order_id = only_order(request)
            return CancelReply(
                {order_id: Outcome(CancelState.CANCELLED)} if order_id else {},
                count=1,
                **venue_times(replies),
            )
        if hard:
            raise error_for(hard[0])
        return not_known_reply(request, replies, errors[0])
    if hard and not oks and len(hard) == len(replies):
        # Every answer is the same kind of refusal (permission, rate limit...): say so.
        raise error_for(hard[0])
    if errors:
        log.info("cancelOrder: %d ok, %d refused (%s); confirming each order", oks, len(errors), errors[0])
    return CancelReply(count=oks, **venue_times(replies))


class SpotWsV1Protocol(SpotWsProtocol):
    """One Spot WebSocket v1 connection (``ws-auth.kraken.com``), sans I/O.

    Rules kept (besides ``SpotWsProtocol``'s):
    - ``cancelOrder`` takes lists (txids/userrefs, or client ids; one kind per request) and
      answers one ``cancelOrderStatus`` per order without naming it (see ``cancel_order_reply``);
    - lists of 2..50 (v1 documents no cap; 50 is the cap of REST CancelOrderBatch and v2
      batch_cancel, which share the same per-pair engine counter); ``cancelAll`` for ALL.
    """

    name = "spot-ws-v1"

    def _parse(self, frame: str | bytes) -> Any:
        return wire.parse_message(frame)

    def _new_book(self) -> Book:
        return wire.OpenOrdersBook(self.account_id)

    def _is_stream_data(self, message: Any) -> bool:
        return isinstance(message, wire.OpenOrders)

    def _subscribe_frame(self, req_id: int) -> str:
        return wire.encode_subscribe_open_orders(self.token, req_id)

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
                "cancelAll",
                lambda i: wire.encode_cancel_all(token, i),
                cancel_all_reply,
                stream_ids=stream_settles(request),
            )
        if request.form not in (RequestForm.SINGLE, RequestForm.BATCH) or not request.refs:
            raise ValueError(f"Spot WS v1 cannot send {request.form} with {len(request.refs)} refs")
        kind = one_kind(request.refs)
        return self.request(
            "cancelOrder",
            lambda i: wire.encode_cancel_order(token, i, request.refs),
            lambda replies: cancel_order_reply(request, replies),
            expect=None if kind is IdKind.USERREF else len(request.refs),
            stream_ids=stream_settles(request),
        )

    def _cancel_after_frame(self, req_id: int, timeout_s: int) -> str:
        return wire.encode_cancel_after(self.token, req_id, timeout_s)

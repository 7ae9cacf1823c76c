"""Kraken Spot WebSocket v1 (legacy) venue: openOrders and cancels over ``ws-auth.kraken.com``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind
from app.core.plan import CancelRequest, RequestForm, VenueLimits
from app.venues import spot_ws_v1_wire as wire
from app.venues.base import CancelReply, DeadmanStatus
from app.venues.spot_ws_base import Book, SpotWsVenue
from app.venues.spot_ws_v2_wire import Reply, error_for, one_kind

log = logging.getLogger("app.venues.spot_ws_v1")

_GONE = Outcome(CancelState.ALREADY_GONE, "unknown order: cancelled or filled before")


def _times(replies: Sequence[Reply]) -> dict[str, Any]:
    # v1 replies carry no venue times (only v2 has time_in/time_out).
    return {"venue_time_in": replies[0].time_in, "venue_time_out": replies[-1].time_out}


class SpotWsV1Venue(SpotWsVenue):
    """One Spot account over the legacy WebSocket v1.

    Rules kept (besides ``SpotWsVenue``'s):
    - ``cancelOrder`` takes lists (txids/userrefs, or client ids; one kind per request) and
      answers one ``cancelOrderStatus`` per order WITHOUT naming it: with one id the answer is
      about that order (ok -> cancelled, ``EOrder:Unknown order`` -> already gone); with several
      only the count of oks is returned and the desk confirms each order from the stream or
      REST: never guess which one failed;
    - limits: lists of 2..50 (v1 documents no cap; 50 is the cap of REST CancelOrderBatch and v2
      batch_cancel, which share the same per-pair engine counter); ``cancelAll`` for ALL.
    """

    limits = VenueLimits(max_batch=wire.LIST_MAX, min_batch=2, cancel_all=True)
    protocol_name = "spot-ws-v1"

    def _parse(self, frame: str | bytes) -> Any:
        return wire.parse_message(frame)

    def _is_stream_data(self, message: Any) -> bool:
        return isinstance(message, wire.OpenOrders)

    def _new_book(self) -> Book:
        return wire.OpenOrdersBook(self.account_id)

    def _subscribe_frame(self, token: str, req_id: int) -> str:
        return wire.encode_subscribe_open_orders(token, req_id)

    def _ping_frame(self, req_id: int) -> str:
        return wire.encode_ping(req_id)

    async def execute(self, request: CancelRequest) -> CancelReply:
        """Send one planned request over the socket and return what Kraken said.

        Raises:
            VenueUnavailable: could not connect or get a token (nothing was sent).
            TransportError: the socket dropped or no answer came: effect unknown.
            VenueRejected and subclasses: Kraken refused the request.
            ValueError: a form this venue cannot send (the planner never makes one).
        """
        if request.form is RequestForm.ALL:
            replies = await self._call(wire.encode_cancel_all, what="cancelAll")
            return CancelReply(count=wire.count_of(self._ok(replies[0])), **_times(replies))
        if request.form not in (RequestForm.SINGLE, RequestForm.BATCH) or not request.refs:
            raise ValueError(f"Spot WS v1 cannot send {request.form} with {len(request.refs)} refs")
        kind = one_kind(request.refs)
        many = kind is IdKind.USERREF or len(request.refs) > 1
        expect = None if kind is IdKind.USERREF else len(request.refs)
        build = partial(_cancel, refs=request.refs)
        replies = await self._call(build, what="cancelOrder", expect=expect)
        oks = sum(1 for r in replies if r.success)
        errors = [r.error or "cancelOrder failed" for r in replies if not r.success]
        hard = [e for e in errors if e != wire.UNKNOWN_ORDER]
        if not many:
            if oks:
                order_id = _only_order(request)
                return CancelReply(
                    {order_id: Outcome(CancelState.CANCELLED)} if order_id else {},
                    count=1,
                    **_times(replies),
                )
            if hard:
                raise error_for(hard[0])
            gone = {o.order_id: _GONE for o in request.orders}
            if kind is IdKind.ORDER_ID:
                gone[request.refs[0].value] = _GONE
            return CancelReply(gone, **_times(replies))
        if hard and not oks and len(hard) == len(replies):
            # Every answer is the same kind of refusal (permission, rate limit...): say so.
            raise error_for(hard[0])
        if errors:
            log.info(
                "cancelOrder: %d ok, %d refused (%s); confirming each order", oks, len(errors), errors[0]
            )
        return CancelReply(count=oks, **_times(replies))

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """``cancelAllOrdersAfter``; 0 disarms."""
        return await self._deadman(partial(_cancel_after, timeout_s=timeout_s), timeout_s)


def _only_order(request: CancelRequest) -> str | None:
    """The one order a single-id request names (the reply does not say it)."""
    if request.refs[0].kind is IdKind.ORDER_ID:
        return request.refs[0].value
    return request.orders[0].order_id if len(request.orders) == 1 else None


def _cancel(token: str, req_id: int, *, refs: Sequence[CancelRef]) -> str:
    return wire.encode_cancel_order(token, req_id, refs)


def _cancel_after(token: str, req_id: int, *, timeout_s: int) -> str:
    return wire.encode_cancel_after(token, req_id, timeout_s)

"""Kraken Spot WebSocket v2 venue: the executions stream and cancels over ``ws-auth.kraken.com/v2``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from app.core.errors import MalformedReply
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind
from app.core.plan import CancelRequest, RequestForm, VenueLimits
from app.venues import spot_ws_v2_wire as wire
from app.venues.base import CancelReply, DeadmanStatus
from app.venues.spot_ws_base import Book, SpotWsVenue
from app.venues.spot_ws_v2_wire import Reply

log = logging.getLogger("app.venues.spot_ws_v2")

_GONE = Outcome(CancelState.ALREADY_GONE, "unknown order: cancelled or filled before")


def _times(replies: Sequence[Reply]) -> dict[str, Any]:
    return {"venue_time_in": replies[0].time_in, "venue_time_out": replies[-1].time_out}


def _count(reply: Reply) -> int:
    raw = reply.result.get("count")
    try:
        return int(str(raw))
    except ValueError as e:
        raise MalformedReply(f"{reply.method} reply without an integer count: {raw!r}") from e


class SpotWsV2Venue(SpotWsVenue):
    """One Spot account over WebSocket v2.

    Rules kept (besides ``SpotWsVenue``'s):
    - SINGLE -> ``cancel_order``: a success reply names the order it cancelled (that order is
      cancelled); ``EOrder:Unknown order`` means already gone; a userref may cancel many orders,
      each named in its own reply;
    - BATCH -> ``batch_cancel`` (2..50 ids): Kraken gives a bare count, so the reply carries only
      the count and the desk confirms per order (``confirm``: stream first, then REST);
    - ALL -> ``cancel_all`` (count only);
    - the venue's ``time_in``/``time_out`` go into the CancelReply.
    """

    limits = VenueLimits(max_batch=wire.BATCH_MAX, min_batch=wire.BATCH_MIN, cancel_all=True)
    protocol_name = "spot-ws-v2"

    def _parse(self, frame: str | bytes) -> Any:
        return wire.parse_message(frame)

    def _is_stream_data(self, message: Any) -> bool:
        return isinstance(message, wire.Executions)

    def _new_book(self) -> Book:
        return wire.ExecutionsBook(self.account_id)

    def _subscribe_frame(self, token: str, req_id: int) -> str:
        return wire.encode_subscribe_executions(token, req_id)

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
            replies = await self._call(wire.encode_cancel_all, what="cancel_all")
            return CancelReply(count=_count(self._ok(replies[0])), **_times(replies))
        if request.form is RequestForm.BATCH:
            build = partial(_batch, refs=request.refs)
            replies = await self._call(build, what="batch_cancel")
            reply = replies[0]
            if not reply.success and reply.error == wire.UNKNOWN_ORDER:
                # The batch named an order Kraken no longer knows; which one, and whether the
                # others were cancelled, it does not say: confirm each order.
                return CancelReply(**_times(replies))
            return CancelReply(count=_count(self._ok(reply)), **_times(replies))
        if request.form is not RequestForm.SINGLE or not request.refs:
            raise ValueError(f"Spot WS v2 cannot send {request.form} with {len(request.refs)} refs")
        return await self._cancel_order(request)

    async def _cancel_order(self, request: CancelRequest) -> CancelReply:
        kind = wire.one_kind(request.refs)
        many = kind is IdKind.USERREF or len(request.refs) > 1
        build = partial(_cancel, refs=request.refs)
        # One reply per order cancelled: a userref may name any number of orders.
        expect = None if kind is IdKind.USERREF else len(request.refs)
        replies = await self._call(build, what="cancel_order", expect=expect)
        outcomes: dict[str, Outcome] = {}
        errors = [r.error or "cancel_order failed" for r in replies if not r.success]
        for reply in replies:
            if reply.success:
                order_id = reply.result.get("order_id") or _only_order(request, many)
                if order_id:
                    outcomes[str(order_id)] = Outcome(CancelState.CANCELLED)
        if errors and not outcomes:
            if any(e != wire.UNKNOWN_ORDER for e in errors):
                raise wire.error_for(next(e for e in errors if e != wire.UNKNOWN_ORDER))
            if not many:
                gone = {o.order_id: _GONE for o in request.orders}
                if kind is IdKind.ORDER_ID:
                    gone[request.refs[0].value] = _GONE
                return CancelReply(gone, **_times(replies))
            return CancelReply(count=0, **_times(replies))
        ok = sum(1 for r in replies if r.success)
        return CancelReply(outcomes, count=ok if many else None, **_times(replies))

    async def arm_deadman(self, timeout_s: int) -> DeadmanStatus:
        """``cancel_all_orders_after``; 0 disarms."""
        return await self._deadman(partial(_cancel_after, timeout_s=timeout_s), timeout_s)


def _only_order(request: CancelRequest, many: bool) -> str | None:
    """The one order a single-id request names, when a reply does not say it."""
    if many:
        return None
    if request.refs[0].kind is IdKind.ORDER_ID:
        return request.refs[0].value
    return request.orders[0].order_id if len(request.orders) == 1 else None


def _batch(token: str, req_id: int, *, refs: Sequence[CancelRef]) -> str:
    return wire.encode_batch_cancel(token, req_id, refs)


def _cancel(token: str, req_id: int, *, refs: Sequence[CancelRef]) -> str:
    return wire.encode_cancel_order(token, req_id, refs)


def _cancel_after(token: str, req_id: int, *, timeout_s: int) -> str:
    return wire.encode_cancel_after(token, req_id, timeout_s)

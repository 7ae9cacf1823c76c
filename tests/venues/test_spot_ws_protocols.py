"""Spot WS v2 and v1 protocol objects, fed frames: no sockets, no event loop."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import pytest

from app.core.errors import AuthError, PermissionDenied, RateLimited, TransportError, VenueRejected
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Order, Side, VenueKind
from app.core.plan import CancelRequest, RequestForm
from app.venues.base import CancelReply, DeadmanStatus, StreamKind
from app.venues.sansio import Ticket
from app.venues.spot.ws_common import SpotWsProtocol
from app.venues.spot.ws_v1_protocol import SpotWsV1Protocol
from app.venues.spot.ws_v2_protocol import SpotWsV2Protocol

OID = "OAAAAA-BBBBB-CCCCCC"
REPORT = {
    "order_id": OID,
    "symbol": "BTC/USD",
    "side": "buy",
    "order_type": "limit",
    "order_qty": 1.0,
    "limit_price": 100.0,
    "order_status": "new",
    "timestamp": "2024-01-01T00:00:00.000000Z",
}
V1_ORDER = {
    "status": "open",
    "opentm": "1700000000.1",
    "vol": "1.0",
    "vol_exec": "0",
    "descr": {"pair": "XBT/USD", "type": "buy", "ordertype": "limit", "price": "100.0"},
}


def order(order_id: str = OID) -> Order:
    return Order(
        "spot",
        VenueKind.SPOT,
        order_id,
        "BTC/USD",
        Side.BUY,
        "limit",
        Decimal(1),
        Decimal(1),
        Decimal(0),
        0.0,
    )


def single(order_id: str = OID) -> CancelRequest:
    o = order(order_id)
    return CancelRequest("spot", RequestForm.SINGLE, (CancelRef.of(o),), (o,))


def sent(proto: SpotWsProtocol) -> list[dict[str, Any]]:
    return [json.loads(frame) for frame, _ in proto.data_to_send()]


def v2_live() -> SpotWsV2Protocol:
    proto = SpotWsV2Protocol("spot", "TOKEN", ids=itertools.count(1))
    proto.connection_made()
    [sub] = sent(proto)
    proto.receive(json.dumps({"method": "subscribe", "req_id": sub["req_id"], "success": True, "result": {}}))
    proto.receive(json.dumps({"channel": "executions", "type": "snapshot", "data": [REPORT], "sequence": 1}))
    assert proto.live
    return proto


def v2_reply(req_id: int, **fields: Any) -> str:
    return json.dumps({"method": "cancel_order", "req_id": req_id, **fields})


def v1_live() -> SpotWsV1Protocol:
    proto = SpotWsV1Protocol("spot", "TOKEN", ids=itertools.count(1))
    proto.connection_made()
    [sub] = sent(proto)
    proto.receive(json.dumps({"event": "subscriptionStatus", "status": "subscribed", "reqid": sub["reqid"]}))
    proto.receive(json.dumps([[{OID: V1_ORDER}], "openOrders", {"sequence": 1}]))
    assert proto.live
    return proto


# --------------------------------------------------------------------------- the handshake


def test_v2_subscribes_with_the_token_and_is_live_after_ack_and_snapshot() -> None:
    proto = SpotWsV2Protocol("spot", "TOKEN", ids=itertools.count(7))
    proto.connection_made()
    [sub] = sent(proto)
    assert sub["method"] == "subscribe" and sub["req_id"] == 7
    assert sub["params"]["channel"] == "executions" and sub["params"]["token"] == "TOKEN"
    proto.receive(json.dumps({"channel": "executions", "type": "snapshot", "data": [REPORT], "sequence": 1}))
    assert not proto.live  # the snapshot alone: the subscription is not acknowledged yet
    proto.receive(json.dumps({"method": "subscribe", "req_id": 7, "success": True, "result": {}}))
    assert proto.live
    [snap] = proto.events_received()
    assert snap.kind is StreamKind.SNAPSHOT and [o.order_id for o in snap.orders] == [OID]
    assert [o.order_id for o in proto.orders()] == [OID]


@pytest.mark.parametrize(
    ("error", "auth"), [("EGeneral:Permission denied", True), ("ESession:Invalid session", False)]
)
def test_a_refused_subscription_ends_the_connection(error: str, auth: bool) -> None:
    proto = SpotWsV2Protocol("spot", "TOKEN", ids=itertools.count(1))
    proto.connection_made()
    [sub] = sent(proto)
    proto.receive(
        json.dumps({"method": "subscribe", "req_id": sub["req_id"], "success": False, "error": error})
    )
    assert proto.failure is not None and error in proto.failure.reason
    # A stale token is replaced by the next connect; a refused permission is not.
    assert proto.failure.auth is auth and not proto.live


def test_unreadable_frame_gap_and_maintenance() -> None:
    proto = v2_live()
    proto.receive(json.dumps({"channel": "status", "data": [{"system": "maintenance"}]}))
    assert proto.reconnect_floor_s == 5.0 and proto.failure is None
    proto.receive(json.dumps({"channel": "executions", "type": "update", "data": [REPORT], "sequence": 3}))
    assert proto.failure is not None and "sequence" in proto.failure.reason
    other = v2_live()
    other.receive("{not json")
    assert other.failure is not None and "could not read" in other.failure.reason


def test_stream_updates_and_removals_become_events() -> None:
    proto = v2_live()
    proto.events_received()
    update = {"order_id": OID, "cum_qty": 0.25, "order_status": "partially_filled"}
    gone = {"order_id": OID, "exec_type": "canceled", "order_status": "canceled", "reason": "User requested"}
    proto.receive(
        json.dumps({"channel": "executions", "type": "update", "data": [update, gone], "sequence": 2})
    )
    upsert, removed = proto.events_received()
    assert upsert.kind is StreamKind.UPSERT and upsert.orders[0].filled == Decimal("0.25")
    assert removed.kind is StreamKind.REMOVED and removed.order_id == OID
    assert removed.outcome == Outcome(CancelState.CANCELLED, "User requested")
    assert proto.orders() == []


# --------------------------------------------------------------------------- v2 requests


def test_v2_cancel_order_names_the_order_it_cancelled() -> None:
    proto = v2_live()
    ticket = proto.cancel(single())
    [(frame, owner)] = proto.data_to_send()
    request = json.loads(frame)
    assert owner is ticket and request["method"] == "cancel_order"
    assert request["params"] == {"order_id": [OID], "token": "TOKEN"}
    proto.receive(
        v2_reply(request["req_id"], success=True, result={"order_id": OID}, time_in="a", time_out="b")
    )
    reply = ticket.result()
    assert reply.outcomes == {OID: Outcome(CancelState.CANCELLED)}
    assert (reply.venue_time_in, reply.venue_time_out) == ("a", "b")


def test_v2_cancel_order_reply_without_order_id_still_names_the_single_order() -> None:
    proto = v2_live()
    ticket = proto.cancel(single())
    [request] = sent(proto)
    proto.receive(v2_reply(request["req_id"], success=True, result={}))
    assert ticket.result().outcomes == {OID: Outcome(CancelState.CANCELLED)}


def test_v2_unknown_order_is_already_gone_and_other_errors_are_raised() -> None:
    proto = v2_live()
    gone = proto.cancel(single())
    limited = proto.cancel(single("OBBBBB-BBBBB-BBBBBB"))
    first, second = sent(proto)
    proto.receive(v2_reply(first["req_id"], success=False, error="EOrder:Unknown order"))
    proto.receive(v2_reply(second["req_id"], success=False, error="EOrder:Rate limit exceeded"))
    assert gone.result().outcomes[OID].state is CancelState.UNKNOWN  # checked by the desk next
    with pytest.raises(RateLimited):
        limited.result()


def test_v2_token_error_is_an_auth_error_naming_the_token() -> None:
    proto = v2_live()
    ticket = proto.cancel(single())
    [request] = sent(proto)
    proto.receive(v2_reply(request["req_id"], success=False, error="ESession:Invalid session"))
    with pytest.raises(AuthError) as info:
        ticket.result()
    assert info.value.venue_error == "ESession:Invalid session"


def test_v2_batch_refused_as_unknown_says_nothing_of_the_others() -> None:
    proto = v2_live()
    orders = (order(), order("OBBBBB-BBBBB-BBBBBB"))
    ticket = proto.cancel(CancelRequest("spot", RequestForm.BATCH, tuple(map(CancelRef.of, orders)), orders))
    [request] = sent(proto)
    assert request["method"] == "batch_cancel" and request["params"]["orders"] == [o.order_id for o in orders]
    proto.receive(
        json.dumps(
            {
                "method": "batch_cancel",
                "req_id": request["req_id"],
                "success": False,
                "error": "EOrder:Unknown order",
            }
        )
    )
    reply = ticket.result()
    assert reply.outcomes == {} and reply.count is None


def test_v2_batch_and_cancel_all_answer_a_bare_count() -> None:
    proto = v2_live()
    orders = (order(), order("OBBBBB-BBBBB-BBBBBB"))
    batch = proto.cancel(CancelRequest("spot", RequestForm.BATCH, tuple(map(CancelRef.of, orders)), orders))
    everything = proto.cancel(CancelRequest("spot", RequestForm.ALL))
    b, a = sent(proto)
    assert a["method"] == "cancel_all"
    proto.receive(
        json.dumps({"method": "batch_cancel", "req_id": b["req_id"], "success": True, "result": {"count": 2}})
    )
    proto.receive(
        json.dumps({"method": "cancel_all", "req_id": a["req_id"], "success": True, "result": {"count": 9}})
    )
    assert batch.result() == CancelReply(count=2) and everything.result() == CancelReply(count=9)


def test_v2_userref_waits_for_as_many_replies_as_come_then_ends_on_expiry() -> None:
    proto = v2_live()
    ticket: Ticket[CancelReply] = proto.cancel(
        CancelRequest("spot", RequestForm.SINGLE, (CancelRef(IdKind.USERREF, "5"),))
    )
    [request] = sent(proto)
    assert request["params"]["order_userref"] == [5]
    for oid in ("O1", "O2"):
        proto.receive(v2_reply(request["req_id"], success=True, result={"order_id": oid}))
    assert not ticket.done and ticket.progress == 2
    proto.expire(ticket)
    reply = ticket.result()
    assert reply.count == 2 and set(reply.outcomes) == {"O1", "O2"}


def test_no_answer_and_a_dropped_socket_leave_the_effect_unknown() -> None:
    proto = v2_live()
    silent = proto.cancel(single())
    dropped = proto.cancel(single("OBBBBB-BBBBB-BBBBBB"))
    sent(proto)
    proto.expire(silent)
    with pytest.raises(TransportError, match="effect unknown") as info:
        silent.result()
    assert info.value.effect_unknown
    proto.connection_lost("connection lost")
    with pytest.raises(TransportError, match="dropped"):
        dropped.result()


def test_deadman_and_ping_are_requests_like_any_other() -> None:
    proto = v2_live()
    ticket: Ticket[DeadmanStatus] = proto.deadman(60)
    assert proto.ping()
    d, p = sent(proto)
    assert d["method"] == "cancel_all_orders_after" and d["params"]["timeout"] == 60 and p["method"] == "ping"
    result = {"currentTime": "2024-01-01T00:00:00Z", "triggerTime": "2024-01-01T00:01:00Z"}
    proto.receive(
        json.dumps(
            {"method": "cancel_all_orders_after", "req_id": d["req_id"], "success": True, "result": result}
        )
    )
    proto.receive(json.dumps({"method": "pong", "req_id": p["req_id"]}))
    assert ticket.result() == DeadmanStatus("2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z")
    # An answer to nothing we asked is dropped, not matched to a later request.
    proto.receive(v2_reply(9999, success=True, result={"order_id": OID}))
    assert proto.failure is None


# --------------------------------------------------------------------------- v1 requests


def test_v1_handshake_and_single_cancel_answers_about_that_order() -> None:
    proto = v1_live()
    [snap] = proto.events_received()
    assert [o.order_id for o in snap.orders] == [OID]
    ok, gone = proto.cancel(single()), proto.cancel(single("OBBBBB-BBBBB-BBBBBB"))
    first, second = sent(proto)
    assert first["event"] == "cancelOrder" and first["txid"] == [OID] and first["token"] == "TOKEN"
    proto.receive(json.dumps({"event": "cancelOrderStatus", "status": "ok", "reqid": first["reqid"]}))
    proto.receive(
        json.dumps(
            {
                "event": "cancelOrderStatus",
                "status": "error",
                "reqid": second["reqid"],
                "errorMessage": "EOrder:Unknown order",
            }
        )
    )
    assert ok.result().outcomes == {OID: Outcome(CancelState.CANCELLED)}
    assert gone.result().outcomes["OBBBBB-BBBBB-BBBBBB"].state is CancelState.UNKNOWN


def test_v1_many_ids_give_a_count_and_one_kind_of_refusal_is_raised() -> None:
    proto = v1_live()
    orders = (order(), order("OBBBBB-BBBBB-BBBBBB"))
    request = CancelRequest("spot", RequestForm.BATCH, tuple(map(CancelRef.of, orders)), orders)
    mixed, refused = proto.cancel(request), proto.cancel(request)
    a, b = sent(proto)

    def status(reqid: int, ok: bool, error: str = "") -> str:
        return json.dumps(
            {
                "event": "cancelOrderStatus",
                "status": "ok" if ok else "error",
                "reqid": reqid,
                "errorMessage": error,
            }
        )

    proto.receive(status(a["reqid"], True))
    proto.receive(status(a["reqid"], False, "EOrder:Unknown order"))
    proto.receive(status(b["reqid"], False, "EGeneral:Permission denied"))
    proto.receive(status(b["reqid"], False, "EGeneral:Permission denied"))
    assert mixed.result() == CancelReply(count=1)  # which one it does not say: the desk confirms
    with pytest.raises(PermissionDenied):
        refused.result()
    assert isinstance(PermissionDenied("x"), VenueRejected)


def test_v1_cancel_all_count_may_be_a_string() -> None:
    proto = v1_live()
    ticket = proto.cancel(CancelRequest("spot", RequestForm.ALL))
    [request] = sent(proto)
    proto.receive(
        json.dumps({"event": "cancelAllStatus", "status": "ok", "count": "3", "reqid": request["reqid"]})
    )
    assert ticket.result() == CancelReply(count=3)

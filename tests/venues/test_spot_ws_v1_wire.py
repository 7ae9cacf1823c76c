"""Spot WS v1 codec: data in, data out, on seed 000's examples and the documented messages."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.core.errors import MalformedReply
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Side
from app.venues.base import StreamKind
from app.venues.spot import ws_v1_wire as wire
from app.venues.spot.ws_common import Heartbeat, Reply, SystemStatus

TOKEN = "0000000000000000000000000000000000000000"


# --------------------------------------------------------------------------- seed 000


def test_cancel_order_request_has_the_seed_shape_plus_reqid() -> None:
    refs = [
        CancelRef(IdKind.ORDER_ID, "OGTT3Y-C6I3P-XRI6HX"),
        CancelRef(IdKind.ORDER_ID, "OGTT3Y-C6I3P-X2I6HX"),
    ]
    assert json.loads(wire.encode_cancel_order(TOKEN, 77, refs)) == {
        "event": "cancelOrder",
        "token": TOKEN,
        "txid": ["OGTT3Y-C6I3P-XRI6HX", "OGTT3Y-C6I3P-X2I6HX"],
        "reqid": 77,
    }


def test_cancel_order_by_client_ids_and_userrefs() -> None:
    by_client = json.loads(wire.encode_cancel_order(TOKEN, 1, [CancelRef(IdKind.CLIENT_ID, "grid-1")]))
    # txid is required by the schema (seed 000): empty beside the client ids.
    assert by_client == {
        "event": "cancelOrder",
        "token": TOKEN,
        "txid": [],
        "cl_ord_id": ["grid-1"],
        "reqid": 1,
    }
    by_ref = json.loads(wire.encode_cancel_order(TOKEN, 2, [CancelRef(IdKind.USERREF, "1001")]))
    assert by_ref["txid"] == ["1001"]
    with pytest.raises(ValueError, match="integer"):
        wire.encode_cancel_order(TOKEN, 3, [CancelRef(IdKind.USERREF, "x")])


def test_cancel_order_limits() -> None:
    with pytest.raises(ValueError, match="mix"):
        wire.encode_cancel_order(
            TOKEN, 1, [CancelRef(IdKind.ORDER_ID, "A"), CancelRef(IdKind.CLIENT_ID, "B")]
        )
    with pytest.raises(ValueError, match="at most 50"):
        wire.encode_cancel_order(TOKEN, 1, [CancelRef(IdKind.ORDER_ID, f"O{i}") for i in range(51)])
    with pytest.raises(ValueError, match="unique"):
        wire.encode_cancel_order(TOKEN, 1, [CancelRef(IdKind.ORDER_ID, "A"), CancelRef(IdKind.ORDER_ID, "A")])


def test_seed_replies_ok_and_error() -> None:
    assert wire.parse_message('{"event": "cancelOrderStatus", "status": "ok"}') == Reply(
        "cancelOrderStatus", None, True, {}
    )
    error = wire.parse_message(
        '{"errorMessage": "EOrder:Unknown order", "event": "cancelOrderStatus", "status": "error"}'
    )
    assert error == Reply("cancelOrderStatus", None, False, {}, "EOrder:Unknown order")


def test_reqid_is_echoed() -> None:
    reply = wire.parse_message('{"event":"cancelOrderStatus","status":"ok","reqid":42}')
    assert isinstance(reply, Reply) and reply.req_id == 42


# --------------------------------------------------------------------------- other requests and replies


def test_other_frames() -> None:
    assert json.loads(wire.encode_cancel_all(TOKEN, 5)) == {"event": "cancelAll", "token": TOKEN, "reqid": 5}
    assert json.loads(wire.encode_cancel_after(TOKEN, 6, 60)) == {
        "event": "cancelAllOrdersAfter",
        "token": TOKEN,
        "timeout": 60,
        "reqid": 6,
    }
    assert json.loads(wire.encode_ping(42)) == {"event": "ping", "reqid": 42}
    assert json.loads(wire.encode_subscribe_open_orders(TOKEN, 8)) == {
        "event": "subscribe",
        "reqid": 8,
        "subscription": {"name": "openOrders", "token": TOKEN, "ratecounter": False},
    }
    assert json.loads(wire.encode_unsubscribe_open_orders(TOKEN, 9))["event"] == "unsubscribe"
    with pytest.raises(ValueError):
        wire.encode_cancel_after(TOKEN, 1, 86400)


@pytest.mark.parametrize("count", ["2", '"2"'])
def test_cancel_all_count_as_number_or_string(count: str) -> None:
    reply = wire.parse_message(
        f'{{"count": {count}, "event": "cancelAllStatus", "status": "ok", "reqid": 1}}'
    )
    assert isinstance(reply, Reply)
    assert wire.count_of(reply) == 2


def test_cancel_all_without_count_is_malformed() -> None:
    reply = wire.parse_message('{"event": "cancelAllStatus", "status": "ok"}')
    assert isinstance(reply, Reply)
    with pytest.raises(MalformedReply):
        wire.count_of(reply)


def test_cancel_after_status_disarmed() -> None:
    reply = wire.parse_message(
        '{"currentTime":"2020-12-21T09:37:09Z","event":"cancelAllOrdersAfterStatus","reqid":1608543428050,'
        '"status":"ok","triggerTime":"0"}'
    )
    assert isinstance(reply, Reply)
    assert reply.success and reply.result == {"currentTime": "2020-12-21T09:37:09Z", "triggerTime": "0"}


def test_pong_heartbeat_system_status_subscription_status() -> None:
    assert wire.parse_message('{"event":"pong","reqid":42}') == Reply("pong", 42, True)
    assert wire.parse_message('{"event":"heartbeat"}') == Heartbeat()
    assert wire.parse_message(
        '{"connectionID":8628615390848610000,"event":"systemStatus","status":"online","version":"1.0.0"}'
    ) == SystemStatus("online", "1.0.0", "8628615390848610000")
    ok = wire.parse_message(
        '{"channelName":"openOrders","event":"subscriptionStatus","reqid":3,"status":"subscribed",'
        '"subscription":{"name":"openOrders"}}'
    )
    assert isinstance(ok, Reply) and ok.success and ok.req_id == 3
    bad = wire.parse_message(
        '{"errorMessage":"ESession:Invalid session","event":"subscriptionStatus","reqid":4,'
        '"status":"error","subscription":{"name":"openOrders"}}'
    )
    assert isinstance(bad, Reply) and not bad.success and bad.error == "ESession:Invalid session"
    err = wire.parse_message('{"errorMessage":"Unsupported event","event":"error","reqid":5}')
    assert isinstance(err, Reply) and not err.success and err.req_id == 5


# --------------------------------------------------------------------------- openOrders

SNAPSHOT = """[[
 {"OGTT3Y-C6I3P-XRI6HX": {"avg_price": "34.50000", "cost": "0.00000",
   "descr": {"close": "", "leverage": "0:1",
             "order": "sell 10.00345345 XBT/EUR @ limit 34.50000 with 0:1 leverage",
             "ordertype": "limit", "pair": "XBT/EUR", "price": "34.50000", "price2": "0.00000",
             "type": "sell"},
   "expiretm": "0.000000", "fee": "0.00000", "limitprice": "34.50000", "misc": "", "oflags": "fcib",
   "opentm": "1616665496.7808", "refid": "OKIVMP-5GVZN-Z2D2UA", "starttm": "0.000000", "status": "open",
   "stopprice": "0.000000", "timeinforce": "GTC", "userref": 0, "vol": "10.00345345",
   "vol_exec": "0.00000000"}},
 {"OGTT3Y-C6I3P-XRI6HY": {"avg_price": "0.00000", "cost": "0.00000",
   "descr": {"close": "", "leverage": "none", "order": "buy 1.0 XBT/USD @ stop loss 30000.0",
             "ordertype": "stop-loss", "pair": "XBT/USD", "price": "30000.0", "price2": "0", "type": "buy"},
   "opentm": "1616665400.1", "status": "open", "userref": 1001, "cl_ord_id": "grid-9",
   "vol": "1.00000000", "vol_exec": "0.25000000"}}
], "openOrders", {"sequence": 1}]"""


def fresh_book() -> wire.OpenOrdersBook:
    book = wire.OpenOrdersBook("acct")
    message = wire.parse_message(SNAPSHOT)
    assert isinstance(message, wire.OpenOrders)
    book.apply(message)
    return book


def update(entries: str, seq: int) -> wire.OpenOrders:
    message = wire.parse_message(f'[[{entries}], "openOrders", {{"sequence": {seq}}}]')
    assert isinstance(message, wire.OpenOrders)
    return message


def test_first_message_is_the_snapshot_keeping_v1_symbols() -> None:
    book = wire.OpenOrdersBook("acct")
    message = wire.parse_message(SNAPSHOT)
    assert isinstance(message, wire.OpenOrders) and message.sequence == 1
    [event] = book.apply(message)
    assert event.kind is StreamKind.SNAPSHOT
    limit, stop = event.orders
    assert (limit.order_id, limit.symbol, limit.side) == ("OGTT3Y-C6I3P-XRI6HX", "XBT/EUR", Side.SELL)
    assert limit.price == Decimal("34.50000") and limit.quantity == Decimal("10.00345345")
    assert limit.userref is None and limit.opened_at == pytest.approx(1616665496.7808)
    assert stop.stop_price == Decimal("30000.0") and stop.userref == 1001 and stop.client_id == "grid-9"
    assert stop.filled == Decimal("0.25")


def test_new_order_pending_then_open() -> None:
    book = fresh_book()
    full = (
        '{"ONEW11-AAAAA-BBBBBB": {"descr": {"pair": "XBT/USD", "type": "buy", "ordertype": "limit",'
        ' "price": "25000.0", "price2": "0"}, "vol": "0.1", "vol_exec": "0", "status": "pending",'
        ' "opentm": "1700000000.5", "userref": 0}}'
    )
    [event] = book.apply(update(full, 2))
    assert event.kind is StreamKind.UPSERT and event.orders[0].status == "pending"
    [event] = book.apply(update('{"ONEW11-AAAAA-BBBBBB": {"status": "open", "userref": 0}}', 3))
    assert event.orders[0].status == "open" and event.orders[0].price == Decimal("25000.0")


def test_partial_fill_updates_and_close_is_filled() -> None:
    book = fresh_book()
    [event] = book.apply(
        update('{"OGTT3Y-C6I3P-XRI6HX": {"vol_exec": "5.0", "cost": "172.5", "avg_price": "34.5"}}', 2)
    )
    assert event.kind is StreamKind.UPSERT and event.orders[0].filled == Decimal("5.0")
    [event] = book.apply(
        update('{"OGTT3Y-C6I3P-XRI6HX": {"status": "closed", "lastupdated": "1616665500.1"}}', 3)
    )
    assert event.kind is StreamKind.REMOVED and event.outcome == Outcome(CancelState.FILLED, "filled")


def test_cancel_with_reason_and_expiry() -> None:
    book = fresh_book()
    [event] = book.apply(
        update(
            '{"OGTT3Y-C6I3P-XRI6HX": {"lastupdated": "1616665500.1", "status": "canceled",'
            ' "cancel_reason": "User requested"}}',
            2,
        )
    )
    assert event.kind is StreamKind.REMOVED
    assert event.outcome == Outcome(CancelState.CANCELLED, "User requested")
    [event] = book.apply(update('{"OGTT3Y-C6I3P-XRI6HY": {"status": "expired"}}', 3))
    assert event.outcome is not None and event.outcome.state is CancelState.ALREADY_GONE
    assert len(book) == 0


def test_sparse_update_of_an_unseen_order_is_held_back() -> None:
    book = fresh_book()
    assert book.apply(update('{"OZZZZZ-ZZZZZ-ZZZZZZ": {"status": "open"}}', 2)) == []


def test_sequence_gap() -> None:
    book = fresh_book()
    book.apply(update('{"OGTT3Y-C6I3P-XRI6HX": {"vol_exec": "1"}}', 2))
    assert not book.gap
    book.apply(update('{"OGTT3Y-C6I3P-XRI6HX": {"vol_exec": "2"}}', 5))
    assert book.gap


@pytest.mark.parametrize(
    "frame",
    ['[[1], "openOrders", {"sequence": 1}]', '[{"a": 1}, "openOrders"]', "{", '[[{"O1": 5}], "openOrders"]'],
)
def test_malformed_open_orders(frame: str) -> None:
    with pytest.raises(MalformedReply):
        wire.parse_message(frame)

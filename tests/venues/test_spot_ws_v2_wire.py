"""Spot WS v2 codec: data in, data out, on seed 004's examples and the documented messages."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.core.errors import AuthError, MalformedReply, RateLimited, VenueRejected
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Side
from app.venues.base import StreamKind
from app.venues.spot import ws_common as common
from app.venues.spot import ws_v2_wire as wire

TOKEN = "TxxxxxxxxxOxxxxxxxxxxKxxxxxxxExxxxxxxxN"


def ids(*values: str, kind: IdKind = IdKind.ORDER_ID) -> list[CancelRef]:
    return [CancelRef(kind, v) for v in values]


# --------------------------------------------------------------------------- seed 004


def test_batch_cancel_request_has_the_seed_shape() -> None:
    frame = wire.encode_batch_cancel(TOKEN, 1234567890, ids("ORDERX-IDXXX-XXXXX3", "OQCLML-BW3P3-BUCMWZ"))
    assert json.loads(frame) == {
        "method": "batch_cancel",
        "params": {"orders": ["ORDERX-IDXXX-XXXXX3", "OQCLML-BW3P3-BUCMWZ"], "token": TOKEN},
        "req_id": 1234567890,
    }


def test_batch_cancel_sends_userrefs_as_strings_in_orders_like_the_seed() -> None:
    frame = wire.encode_batch_cancel(TOKEN, 7, ids("1", "2", kind=IdKind.USERREF))
    assert json.loads(frame)["params"]["orders"] == ["1", "2"]


def test_batch_cancel_client_ids_go_in_cl_ord_id() -> None:
    frame = json.loads(wire.encode_batch_cancel(TOKEN, 7, ids("a-1", "a-2", kind=IdKind.CLIENT_ID)))
    assert frame["params"] == {"orders": [], "cl_ord_id": ["a-1", "a-2"], "token": TOKEN}


def test_batch_cancel_response_from_the_seed() -> None:
    reply = wire.parse_message(
        """{"method": "batch_cancel", "req_id": 1234567890, "result": {"count": 3}, "success": true,
        "time_in": "2022-06-13T08:09:10.123456Z", "time_out": "2022-06-13T08:09:10.7890123"}"""
    )
    assert reply == wire.Reply(
        method="batch_cancel",
        req_id=1234567890,
        success=True,
        result={"count": 3},
        time_in="2022-06-13T08:09:10.123456Z",
        time_out="2022-06-13T08:09:10.7890123",
    )


def test_batch_cancel_warnings_are_kept() -> None:
    reply = wire.parse_message(
        '{"method":"batch_cancel","req_id":1,"result":{"count":2,"warnings":["w1"]},"success":true}'
    )
    assert isinstance(reply, wire.Reply)
    assert reply.warnings == ("w1",)


@pytest.mark.parametrize(("n", "why"), [(0, "at least one"), (1, "2..50"), (51, "2..50")])
def test_batch_cancel_takes_2_to_50_ids(n: int, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        wire.encode_batch_cancel(TOKEN, 1, ids(*(f"O{i:05d}-AAAAA-AAAAAA" for i in range(n))))


def test_batch_cancel_of_50_is_fine() -> None:
    frame = json.loads(
        wire.encode_batch_cancel(TOKEN, 1, ids(*(f"O{i:05d}-AAAAA-AAAAAA" for i in range(50))))
    )
    assert len(frame["params"]["orders"]) == 50


def test_no_request_mixes_id_kinds() -> None:
    mixed = [CancelRef(IdKind.ORDER_ID, "OQCLML-BW3P3-BUCMWZ"), CancelRef(IdKind.USERREF, "1")]
    with pytest.raises(ValueError, match="mix"):
        wire.encode_batch_cancel(TOKEN, 1, mixed)
    with pytest.raises(ValueError, match="mix"):
        wire.encode_cancel_order(TOKEN, 1, mixed)


def test_batch_cancel_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="unique"):
        wire.encode_batch_cancel(TOKEN, 1, ids("OQCLML-BW3P3-BUCMWZ", "OQCLML-BW3P3-BUCMWZ"))


# --------------------------------------------------------------------------- other requests


@pytest.mark.parametrize(
    ("kind", "values", "params"),
    [
        (IdKind.ORDER_ID, ["OQCLML-BW3P3-BUCMWZ"], {"order_id": ["OQCLML-BW3P3-BUCMWZ"]}),
        (IdKind.CLIENT_ID, ["my-order-1"], {"cl_ord_id": ["my-order-1"]}),
        (IdKind.USERREF, ["123", "-5"], {"order_userref": [123, -5]}),
    ],
)
def test_cancel_order_puts_each_kind_in_its_field(
    kind: IdKind, values: list[str], params: dict[str, object]
) -> None:
    frame = json.loads(wire.encode_cancel_order(TOKEN, 9, ids(*values, kind=kind)))
    assert frame == {"method": "cancel_order", "params": {**params, "token": TOKEN}, "req_id": 9}


def test_cancel_order_refuses_a_non_integer_userref() -> None:
    with pytest.raises(ValueError, match="integer"):
        wire.encode_cancel_order(TOKEN, 1, ids("abc", kind=IdKind.USERREF))


def test_subscribe_cancel_all_cancel_after_ping_frames() -> None:
    assert json.loads(wire.encode_subscribe_executions(TOKEN, 3)) == {
        "method": "subscribe",
        "params": {
            "channel": "executions",
            "token": TOKEN,
            "snap_orders": True,
            "snap_trades": False,
            "order_status": True,
            "ratecounter": False,
        },
        "req_id": 3,
    }
    assert json.loads(wire.encode_cancel_all(TOKEN, 4)) == {
        "method": "cancel_all",
        "params": {"token": TOKEN},
        "req_id": 4,
    }
    assert json.loads(wire.encode_cancel_after(TOKEN, 5, 60)) == {
        "method": "cancel_all_orders_after",
        "params": {"timeout": 60, "token": TOKEN},
        "req_id": 5,
    }
    assert json.loads(wire.encode_ping(6)) == {"method": "ping", "req_id": 6}
    assert json.loads(wire.encode_unsubscribe_executions(TOKEN, 7))["method"] == "unsubscribe"


@pytest.mark.parametrize("timeout", [-1, 86400])
def test_cancel_after_bounds(timeout: int) -> None:
    with pytest.raises(ValueError):
        wire.encode_cancel_after(TOKEN, 1, timeout)


# --------------------------------------------------------------------------- replies


def test_cancel_order_reply_names_the_order() -> None:
    reply = wire.parse_message(
        '{"method":"cancel_order","req_id":123456789,"result":{"order_id":"OLUMT4-UTEGU-ZYM7E9"},'
        '"success":true,"time_in":"2023-09-21T14:36:57.428972Z","time_out":"2023-09-21T14:36:57.437952Z"}'
    )
    assert isinstance(reply, wire.Reply)
    assert reply.success and reply.result["order_id"] == "OLUMT4-UTEGU-ZYM7E9"


def test_error_reply_like_the_sdk_example() -> None:
    reply = wire.parse_message(
        '{"error":"Subscription Not Found","method":"subscribe","req_id":42,"success":false,'
        '"time_in":"2023-04-19T12:04:12.123456Z","time_out":"2023-04-19T12:04:12.123457Z"}'
    )
    assert reply == wire.Reply(
        "subscribe",
        42,
        False,
        {},
        "Subscription Not Found",
        "2023-04-19T12:04:12.123456Z",
        "2023-04-19T12:04:12.123457Z",
    )


def test_pong_has_no_success_field_and_is_a_success() -> None:
    reply = wire.parse_message('{"method":"pong","req_id":101,"time_in":"x","time_out":"y"}')
    assert isinstance(reply, wire.Reply)
    assert reply.success and reply.req_id == 101


def test_subscribe_ack_keeps_maxratecount() -> None:
    reply = wire.parse_message(
        '{"method":"subscribe","result":{"channel":"executions","maxratecount":180,"snapshot":true},'
        '"success":true,"req_id":1}'
    )
    assert isinstance(reply, wire.Reply)
    assert reply.result["maxratecount"] == 180


def test_heartbeat_status_and_unknown_channels() -> None:
    assert wire.parse_message('{"channel":"heartbeat"}') == wire.Heartbeat()
    status = wire.parse_message(
        '{"channel":"status","data":[{"api_version":"v2","connection_id":12393906104898154338,'
        '"system":"online","version":"2.0.0"}],"type":"update"}'
    )
    assert status == wire.SystemStatus("online", "v2", "12393906104898154338")
    assert isinstance(wire.parse_message('{"channel":"balances","type":"update","data":[]}'), wire.Ignored)


@pytest.mark.parametrize(
    "frame", ["not json", '{"channel":"executions","type":"update"}', '{"channel":"status"}']
)
def test_malformed_frames(frame: str) -> None:
    with pytest.raises(MalformedReply):
        wire.parse_message(frame)


def test_error_strings_map_to_the_error_tree() -> None:
    token = common.error_for("ESession:Invalid session")
    assert isinstance(token, AuthError) and common.is_token_error(token.venue_error)
    assert common.is_token_error("EAPI:Invalid token")
    assert not common.is_token_error("EOrder:Unknown order")
    unknown = common.error_for("EOrder:Unknown order")
    assert type(unknown) is VenueRejected and unknown.venue_error == "EOrder:Unknown order"
    assert isinstance(common.error_for("EOrder:Rate limit exceeded"), RateLimited)


def test_rfc3339_with_any_fraction_and_no_zone() -> None:
    assert wire.rfc3339_to_unix("2022-06-13T08:09:10Z") == 1655107750.0
    assert wire.rfc3339_to_unix("2022-06-13T08:09:10.7890123") == pytest.approx(1655107750.7890123)
    assert wire.rfc3339_to_unix("2022-06-13T10:09:10.5+02:00") == pytest.approx(1655107750.5)
    assert wire.rfc3339_to_unix("yesterday") is None


# --------------------------------------------------------------------------- executions

SNAPSHOT = """{"channel":"executions","type":"snapshot","data":[
 {"order_id":"OK4GJX-KSTLS-7DZZO5","order_userref":3,"symbol":"BTC/USD","order_qty":0.005,"cum_cost":0.0,
  "time_in_force":"GTC","exec_type":"new","side":"sell","order_type":"limit","limit_price_type":"static",
  "limit_price":26500.0,"stop_price":0.0,"order_status":"new","fee_usd_equiv":0.0,"fee_ccy_pref":"fciq",
  "timestamp":"2023-09-22T10:33:05.709950Z"},
 {"order_id":"OBCMZD-JIEE7-77TH3F","cl_ord_id":"grid-7","symbol":"ETH/USD","order_qty":1.5,"cum_qty":0.5,
  "exec_type":"trade","side":"buy","order_type":"stop-loss-limit","limit_price":3100.5,
  "triggers":{"reference":"last","price":3120.0,"price_type":"static"},"order_status":"partially_filled",
  "timestamp":"2023-09-22T10:30:00Z"}
],"sequence":1}"""


def fresh_book() -> wire.ExecutionsBook:
    book = wire.ExecutionsBook("acct")
    message = wire.parse_message(SNAPSHOT)
    assert isinstance(message, wire.Executions)
    book.apply(message)
    return book


def update(reports: str, seq: int) -> wire.Executions:
    message = wire.parse_message(
        f'{{"channel":"executions","type":"update","data":[{reports}],"sequence":{seq}}}'
    )
    assert isinstance(message, wire.Executions)
    return message


def test_snapshot_becomes_orders_keeping_the_venue_symbols() -> None:
    book = wire.ExecutionsBook("acct")
    message = wire.parse_message(SNAPSHOT)
    assert isinstance(message, wire.Executions) and message.snapshot and message.sequence == 1
    events = book.apply(message)
    assert [e.kind for e in events] == [StreamKind.SNAPSHOT]
    first, second = events[0].orders
    assert first.order_id == "OK4GJX-KSTLS-7DZZO5"
    assert (first.symbol, first.side, first.order_type) == ("BTC/USD", Side.SELL, "limit")
    assert first.price == Decimal("26500.0") and first.quantity == Decimal("0.005")
    assert first.filled == 0 and first.userref == 3 and first.stop_price is None
    assert first.opened_at == pytest.approx(1695378785.70995)
    assert second.client_id == "grid-7" and second.filled == Decimal("0.5")
    assert second.stop_price == Decimal("3120.0") and second.price == Decimal("3100.5")
    assert second.status == "partially_filled"


def test_new_order_arrives_full_then_sparse() -> None:
    book = fresh_book()
    pending = update(
        '{"order_id":"ONEW11-AAAAA-BBBBBB","symbol":"BTC/USD","order_qty":0.1,"exec_type":"pending_new",'
        '"side":"buy","order_type":"limit","limit_price":25000.0,"order_status":"pending_new",'
        '"timestamp":"2023-09-22T10:40:00Z"}',
        2,
    )
    [event] = book.apply(pending)
    assert event.kind is StreamKind.UPSERT and event.orders[0].status == "pending_new"
    [event] = book.apply(
        update(
            '{"order_id":"ONEW11-AAAAA-BBBBBB","exec_type":"new","order_status":"new",'
            '"timestamp":"2023-09-22T10:40:01Z"}',
            3,
        )
    )
    order = event.orders[0]
    assert (order.status, order.symbol, order.price) == ("new", "BTC/USD", Decimal("25000.0"))
    assert order.opened_at == pytest.approx(1695379200.0)  # first seen, not the last event
    assert len(book) == 3


def test_trade_saying_partially_filled_does_not_end_the_order_but_filled_does() -> None:
    book = fresh_book()
    [event] = book.apply(
        update(
            '{"order_id":"OK4GJX-KSTLS-7DZZO5","exec_type":"trade","order_status":"partially_filled",'
            '"last_qty":0.005,"cum_qty":0.005}',
            2,
        )
    )
    assert event.kind is StreamKind.UPSERT and event.orders[0].filled == Decimal("0.005")
    [event] = book.apply(
        update('{"order_id":"OK4GJX-KSTLS-7DZZO5","exec_type":"filled","order_status":"filled"}', 3)
    )
    assert event.kind is StreamKind.REMOVED and event.order_id == "OK4GJX-KSTLS-7DZZO5"
    assert event.outcome is not None and event.outcome.state is CancelState.FILLED
    assert "OK4GJX-KSTLS-7DZZO5" not in book


def test_cancel_removes_with_the_venue_reason() -> None:
    book = fresh_book()
    [event] = book.apply(
        update(
            '{"timestamp":"2023-09-22T10:35:16.167838Z","order_status":"canceled","exec_type":"canceled",'
            '"cum_qty":0.0,"order_userref":3,"reason":"User requested","order_id":"OK4GJX-KSTLS-7DZZO5"}',
            2,
        )
    )
    assert event.kind is StreamKind.REMOVED
    assert event.outcome == Outcome(CancelState.CANCELLED, "User requested")


def test_expiry_is_already_gone_not_cancelled() -> None:
    book = fresh_book()
    [event] = book.apply(
        update('{"order_id":"OBCMZD-JIEE7-77TH3F","exec_type":"expired","order_status":"expired"}', 2)
    )
    assert event.outcome is not None and event.outcome.state is CancelState.ALREADY_GONE


def test_sparse_update_for_an_unseen_order_waits_for_its_fields() -> None:
    book = fresh_book()
    assert (
        book.apply(update('{"order_id":"OZZZZZ-ZZZZZ-ZZZZZZ","exec_type":"new","order_status":"new"}', 2))
        == []
    )
    # ...but a removal of an order we never saw is still reported (the desk may know it).
    [event] = book.apply(update('{"order_id":"OYYYYY-YYYYY-YYYYYY","exec_type":"canceled","reason":"x"}', 3))
    assert event.kind is StreamKind.REMOVED and event.order_id == "OYYYYY-YYYYY-YYYYYY"


def test_upserts_are_grouped_and_order_kept_around_removals() -> None:
    book = fresh_book()
    events = book.apply(
        update(
            '{"order_id":"OK4GJX-KSTLS-7DZZO5","cum_qty":0.001},'
            '{"order_id":"OBCMZD-JIEE7-77TH3F","cum_qty":0.6},'
            '{"order_id":"OK4GJX-KSTLS-7DZZO5","order_status":"canceled","reason":"User requested"},'
            '{"order_id":"OBCMZD-JIEE7-77TH3F","cum_qty":0.7}',
            2,
        )
    )
    assert [e.kind for e in events] == [StreamKind.UPSERT, StreamKind.REMOVED, StreamKind.UPSERT]
    assert len(events[0].orders) == 2


def test_a_skipped_sequence_number_is_a_gap() -> None:
    book = fresh_book()
    book.apply(update('{"order_id":"OK4GJX-KSTLS-7DZZO5","cum_qty":0.001}', 2))
    assert not book.gap
    book.apply(update('{"order_id":"OK4GJX-KSTLS-7DZZO5","cum_qty":0.002}', 4))
    assert book.gap


def test_a_new_snapshot_replaces_everything() -> None:
    book = fresh_book()
    message = wire.parse_message('{"channel":"executions","type":"snapshot","data":[],"sequence":1}')
    assert isinstance(message, wire.Executions)
    [event] = book.apply(message)
    assert event.kind is StreamKind.SNAPSHOT and event.orders == () and len(book) == 0


def test_a_report_with_a_bad_side_is_one_skipped_order_in_a_snapshot_and_a_resync_in_an_update() -> None:
    book = wire.ExecutionsBook("acct")
    message = wire.parse_message(
        '{"channel":"executions","type":"snapshot","data":[{"order_id":"O1","symbol":"BTC/USD",'
        '"side":"up","order_qty":1},{"order_id":"O2","symbol":"BTC/USD","side":"buy","order_qty":1},'
        '{"no_id":true}],"sequence":1}'
    )
    assert isinstance(message, wire.Executions)
    events = book.apply(message)
    assert [e.kind for e in events] == [StreamKind.PROBLEM, StreamKind.PROBLEM, StreamKind.SNAPSHOT]
    assert "without an order id" in (events[0].detail or "") and "O1" in (events[1].detail or "")
    assert [o.order_id for o in events[-1].orders] == ["O2"]
    update = wire.parse_message(
        '{"channel":"executions","type":"update","data":[{"order_id":"O3","symbol":"BTC/USD",'
        '"side":"up","order_qty":1}],"sequence":2}'
    )
    assert isinstance(update, wire.Executions)
    with pytest.raises(MalformedReply):  # our copy may be wrong: the protocol resubscribes
        book.apply(update)

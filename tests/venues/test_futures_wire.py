"""Kraken Futures codecs, data in and data out, on the seed's and Kraken docs' JSON examples."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest

from app.core.errors import (
    AuthError,
    MalformedReply,
    RateLimited,
    TransportError,
    VenueRejected,
    VenueUnavailable,
)
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, IdKind, Side, VenueKind
from app.venues.base import StreamEvent, StreamKind
from app.venues.futures import wire
from app.venues.futures.rest import CostBudget, rest_origin

# Seed 003, components/examples/CancelOrderExample (verbatim shape).
SEED_CANCEL_EXAMPLE = {
    "result": "success",
    "cancelStatus": {
        "status": "cancelled",
        "order_id": "cb4e34f6-4eb3-4d4b-9724-4c3035b99d47",
        "receivedTime": "2020-07-22T13:26:20.806Z",
        "orderEvents": [
            {
                "type": "CANCEL",
                "uid": "cb4e34f6-4eb3-4d4b-9724-4c3035b99d47",
                "order": {
                    "orderId": "cb4e34f6-4eb3-4d4b-9724-4c3035b99d47",
                    "cliOrdId": "1234568",
                    "type": "lmt",
                    "symbol": "PF_XBTUSD",
                    "side": "buy",
                    "quantity": 5500,
                    "filled": 0,
                    "limitPrice": 8000,
                    "reduceOnly": False,
                    "timestamp": "2020-07-22T13:25:56.366Z",
                    "lastUpdateTimestamp": "2020-07-22T13:25:56.366Z",
                },
            }
        ],
    },
    "serverTime": "2020-07-22T13:26:20.806Z",
}

# Kraken docs "Get open orders" sample (two of its entries), plus a stop order with a client id.
OPEN_ORDERS_EXAMPLE = {
    "result": "success",
    "serverTime": "2019-09-05T17:01:20.000Z",
    "openOrders": [
        {
            "order_id": "59302619-41d2-4f0b-941f-7e7914760ad3",
            "symbol": "pi_xbtusd",
            "side": "sell",
            "orderType": "lmt",
            "limitPrice": 10640,
            "unfilledSize": 304,
            "receivedTime": "2019-09-05T17:01:17.410Z",
            "status": "untouched",
            "filledSize": 0,
            "reduceOnly": True,
            "lastUpdateTime": "2019-09-05T17:01:17.410Z",
        },
        {
            "order_id": "022774bc-2c4a-4f26-9317-436c8d85746d",
            "cliOrdId": "my-stop-1",
            "symbol": "PF_XBTUSD",
            "side": "buy",
            "orderType": "stp",
            "limitPrice": 7200.5,
            "stopPrice": 7100,
            "unfilledSize": 1.25,
            "filledSize": 0.75,
            "receivedTime": "2019-09-05T16:41:35.173Z",
            "status": "partiallyFilled",
            "reduceOnly": False,
            "lastUpdateTime": "2019-09-05T16:47:47.519Z",
        },
    ],
}

# Kraken docs "Futures Websockets: open_orders" examples.
WS_SNAPSHOT_EXAMPLE = {
    "feed": "open_orders_snapshot",
    "account": "e258dba9-4dd4-4da5-bfef-75beb91c098e",
    "orders": [
        {
            "instrument": "PI_XBTUSD",
            "time": 1612275024153,
            "last_update_time": 1612275024153,
            "qty": 1000,
            "filled": 0,
            "limit_price": 34900,
            "stop_price": 13789,
            "type": "stop",
            "order_id": "723ba95f-13b7-418b-8fcf-ab7ba6620555",
            "direction": 1,
            "reduce_only": False,
            "triggerSignal": "last",
        },
        {
            "instrument": "PI_XBTUSD",
            "time": 1612275024153,
            "last_update_time": 1612275178153,
            "qty": 12,
            "filled": 0,
            "stop_price": 3200.1,
            "type": "trailing_stop",
            "order_id": "59302619-41d2-4f0b-941f-7e7914760ad3",
            "direction": 1,
            "reduce_only": False,
            "triggerSignal": "mark",
            "trailing_stop_options": {"max_deviation": 20.0, "unit": "percent"},
        },
        {
            "instrument": "PI_XBTUSD",
            "time": 1612275209430,
            "last_update_time": 1612275209430,
            "qty": 1000,
            "filled": 0,
            "limit_price": 35058,
            "stop_price": 0,
            "type": "limit",
            "order_id": "7a2f793e-26f3-4987-a938-56d296a11560",
            "direction": 1,
            "reduce_only": False,
        },
    ],
}
WS_DELTA_EXAMPLE = {
    "feed": "open_orders",
    "order": {
        "instrument": "PI_XBTUSD",
        "time": 1567702877410,
        "last_update_time": 1567702877410,
        "qty": 304.0,
        "filled": 0.0,
        "limit_price": 10640.0,
        "stop_price": 0.0,
        "type": "limit",
        "order_id": "59302619-41d2-4f0b-941f-7e7914760ad3",
        "direction": 1,
        "reduce_only": True,
    },
    "is_cancel": False,
    "reason": "new_placed_order_by_user",
}
WS_REMOVAL_EXAMPLE = {
    "feed": "open_orders",
    "order_id": "660c6b23-8007-48c1-a7c9-4893f4572e8c",
    "is_cancel": True,
    "reason": "cancelled_by_user",
}


def _body(obj: object) -> bytes:
    return json.dumps(obj).encode()


# --------------------------------------------------------------------------- requests


def test_encode_form_percent_encodes_spaces_as_kraken_hashes_them() -> None:
    assert wire.encode_form([("greeting", "hello world")]) == "greeting=hello%20world"


def test_cancel_order_params_by_order_id_and_client_id() -> None:
    ref = CancelRef(IdKind.ORDER_ID, "cb4e34f6-4eb3-4d4b-9724-4c3035b99d47")
    assert wire.cancel_order_params(ref) == [("order_id", "cb4e34f6-4eb3-4d4b-9724-4c3035b99d47")]
    cli = CancelRef(IdKind.CLIENT_ID, "1234568")
    params = wire.cancel_order_params(cli, "2023-11-08T19:56:35.441899Z")
    assert params == [("cliOrdId", "1234568"), ("processBefore", "2023-11-08T19:56:35.441899Z")]
    assert wire.encode_form(params) == "cliOrdId=1234568&processBefore=2023-11-08T19%3A56%3A35.441899Z"


def test_userref_cannot_be_sent_to_futures() -> None:
    with pytest.raises(ValueError, match="userref"):
        wire.cancel_order_params(CancelRef(IdKind.USERREF, "7"))
    with pytest.raises(ValueError, match="userref"):
        wire.batch_cancel_json([CancelRef(IdKind.USERREF, "7")])


def test_batchorder_is_one_form_field_json_holding_cancel_instructions() -> None:
    refs = [CancelRef(IdKind.ORDER_ID, "a-1"), CancelRef(IdKind.CLIENT_ID, "my id")]
    params = wire.batch_cancel_params(refs)
    assert [k for k, _ in params] == ["json"]
    body = wire.encode_form(params)
    assert body.startswith("json=%7B%22batchOrder%22")
    assert " " not in body and "+" not in body  # the space in "my id" is %20, as sent and signed
    decoded = dict(parse_qsl(body))
    assert json.loads(decoded["json"]) == {
        "batchOrder": [
            {"order": "cancel", "order_id": "a-1"},
            {"order": "cancel", "cliOrdId": "my id"},
        ]
    }
    assert wire.batch_cost(2) == 11


def test_process_before_is_iso_utc_with_microseconds() -> None:
    # 2023-11-08T19:56:35.441899Z is Kraken's example; 1699473395.441899 is that instant.
    assert wire.process_before(1699473395.341899, 100) == "2023-11-08T19:56:35.441899Z"


def test_ws_requests() -> None:
    assert json.loads(wire.ws_challenge_request("KEY")) == {"event": "challenge", "api_key": "KEY"}
    assert json.loads(wire.ws_subscribe("open_orders", "KEY", "C", "S")) == {
        "event": "subscribe",
        "feed": "open_orders",
        "api_key": "KEY",
        "original_challenge": "C",
        "signed_challenge": "S",
    }


# --------------------------------------------------------------------------- envelopes


def test_seed_cancel_example_is_cancelled_for_that_order() -> None:
    data = wire.parse_envelope(200, "application/json", _body(SEED_CANCEL_EXAMPLE))
    item = wire.parse_cancel_order(data)
    assert item.order_id == "cb4e34f6-4eb3-4d4b-9724-4c3035b99d47"
    assert item.received_time == "2020-07-22T13:26:20.806Z"
    assert item.filled == 0
    assert item.outcome == Outcome(CancelState.CANCELLED)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("cancelled", CancelState.CANCELLED),
        ("filled", CancelState.FILLED),
        ("notFound", CancelState.ALREADY_GONE),
        ("wouldProcessAfterSpecifiedTime", CancelState.REJECTED),
        ("somethingNew", CancelState.UNKNOWN),
    ],
)
def test_inner_cancel_status_decides_not_result_success(status: str, state: CancelState) -> None:
    reply = {"result": "success", "serverTime": "t", "cancelStatus": {"status": status, "orderEvents": []}}
    item = wire.parse_cancel_order(wire.parse_envelope(200, "application/json", _body(reply)))
    assert item.outcome.state is state


def test_filled_says_it_could_not_be_cancelled() -> None:
    assert wire.outcome_for_status("filled") == Outcome(CancelState.FILLED, "could not be cancelled: filled")


def test_cancelled_after_partial_fill_says_so() -> None:
    reply = json.loads(json.dumps(SEED_CANCEL_EXAMPLE))
    reply["cancelStatus"]["orderEvents"][0]["order"]["filled"] = 1500
    item = wire.parse_cancel_order(reply)
    assert item.outcome.state is CancelState.CANCELLED
    assert item.outcome.reason == "rest cancelled after 1500 filled"


def test_success_without_cancel_status_is_malformed() -> None:
    with pytest.raises(MalformedReply):
        wire.parse_cancel_order({"result": "success"})
    with pytest.raises(MalformedReply):
        wire.parse_cancel_order({"result": "success", "cancelStatus": {"order_id": "x"}})


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("authenticationError", AuthError),
        ("nonceBelowThreshold", AuthError),
        ("nonceDuplicate", AuthError),
        ("apiLimitExceeded", RateLimited),
        ("marketUnavailable", VenueUnavailable),
        ("Unavailable", VenueUnavailable),
        ("Server Error", TransportError),
        ("unknownError", TransportError),
        ("invalidArgument", VenueRejected),
        ("requiredArgumentMissing", VenueRejected),
        ("Json Parse Error", VenueRejected),
        ("accountInactive", VenueRejected),
        ("notFound", VenueRejected),
    ],
)
def test_seed_error_codes_map_to_console_errors(code: str, cls: type[Exception]) -> None:
    reply = {"result": "error", "serverTime": "2016-02-25T09:45:53.818Z", "error": code}
    with pytest.raises(cls) as info:
        wire.parse_envelope(200, "application/json", _body(reply))
    assert type(info.value) is cls
    assert getattr(info.value, "venue_error", None) == code


def test_effect_unknown_only_for_server_errors() -> None:
    assert wire.error_for("Server Error").effect_unknown
    assert not wire.error_for("invalidArgument").effect_unknown
    assert not wire.error_for("apiLimitExceeded").effect_unknown


def test_errors_list_form_with_http_500_is_kraken_rejecting() -> None:
    reply = {"result": "error", "serverTime": "t", "errors": [{"code": 92, "message": "INSUFFICIENT_MARGIN"}]}
    with pytest.raises(VenueRejected) as info:
        wire.parse_envelope(500, "application/json", _body(reply))
    assert info.value.venue_error == "INSUFFICIENT_MARGIN"
    assert "HTTP 500" in str(info.value)


def test_errors_list_of_strings() -> None:
    reply = {"result": "error", "errors": ["apiLimitExceeded"]}
    with pytest.raises(RateLimited):
        wire.parse_envelope(200, "application/json", _body(reply))


def test_error_without_code_is_malformed() -> None:
    with pytest.raises(MalformedReply):
        wire.parse_envelope(200, "application/json", _body({"result": "error"}))


def test_http_failures() -> None:
    with pytest.raises(RateLimited):
        wire.parse_envelope(429, "text/plain", b"Too Many Requests")
    with pytest.raises(VenueUnavailable, match="HTML"):
        wire.parse_envelope(502, "text/html", b"<!DOCTYPE html><html>Bad gateway</html>")
    with pytest.raises(VenueUnavailable):
        wire.parse_envelope(503, "text/plain", b"503 Server Error")
    with pytest.raises(TransportError) as info:
        wire.parse_envelope(504, "text/plain", b"Gateway Timeout")
    assert info.value.effect_unknown
    with pytest.raises(MalformedReply):
        wire.parse_envelope(200, "text/html", b"<html>maintenance</html>")
    with pytest.raises(MalformedReply):
        wire.parse_envelope(200, "application/json", b"{not json")
    with pytest.raises(MalformedReply):
        wire.parse_envelope(200, "application/json", b"[1, 2]")
    with pytest.raises(MalformedReply):
        wire.parse_envelope(200, "application/json", b'{"serverTime": "t"}')


# --------------------------------------------------------------------------- openorders


def test_open_orders_example_to_orders() -> None:
    data = wire.parse_envelope(200, "application/json", _body(OPEN_ORDERS_EXAMPLE))
    first, second = wire.parse_open_orders("acct", data)
    assert first.account_id == "acct" and first.venue is VenueKind.FUTURES
    assert first.order_id == "59302619-41d2-4f0b-941f-7e7914760ad3"
    assert first.symbol == "pi_xbtusd"
    assert first.side is Side.SELL
    assert first.order_type == "limit"
    assert first.price == Decimal("10640")
    assert first.quantity == Decimal("304") and first.filled == 0
    assert first.reduce_only is True
    assert first.stop_price is None and first.client_id is None
    assert first.status == "open"
    assert first.opened_at == pytest.approx(1567702877.410)

    assert second.client_id == "my-stop-1"
    assert second.order_type == "stop"
    assert second.stop_price == Decimal("7100") and second.price == Decimal("7200.5")
    assert second.quantity == Decimal("2.00") and second.filled == Decimal("0.75")
    assert second.reduce_only is False
    assert second.status == "partially filled"


def test_open_orders_malformed() -> None:
    with pytest.raises(MalformedReply):
        wire.parse_open_orders("a", {"result": "success"})
    good = {"order_id": "ok", "symbol": "PF_XBTUSD", "side": "buy", "unfilledSize": 1, "filledSize": 0}
    bad = [
        {"order_id": "x", "symbol": "PF_XBTUSD", "side": "buy", "unfilledSize": "abc"},
        {"order_id": "y", "symbol": "S", "side": "up", "unfilledSize": 1},
        "not an object",
    ]
    problems: list[str] = []
    # One bad order is one skipped order: the rest of the account still lists.
    assert [o.order_id for o in wire.parse_open_orders("a", {"openOrders": [*bad, good]}, problems)] == ["ok"]
    assert len(problems) == 3 and "abc" in problems[0]


# --------------------------------------------------------------------------- batch, cancel all, deadman


BATCH_REPLY = {
    "result": "success",
    "serverTime": "2020-08-27T17:03:33.196Z",
    "batchStatus": [
        {"status": "notFound", "order_id": "gone-1", "orderEvents": []},
        {"status": "cancelled", "cliOrdId": "cli-2", "order_id": "id-2", "orderEvents": []},
        {"status": "filled", "order_id": "id-3", "orderEvents": []},
        {"status": "cancelled", "order_id": "not-ours", "orderEvents": []},
        {"status": "notFound", "cliOrdId": "cli-unknown", "order_id": None, "orderEvents": []},
    ],
}


def test_batch_items_match_by_id_never_by_position() -> None:
    refs = [
        CancelRef(IdKind.ORDER_ID, "id-3"),
        CancelRef(IdKind.CLIENT_ID, "cli-2"),
        CancelRef(IdKind.ORDER_ID, "gone-1"),
        CancelRef(IdKind.ORDER_ID, "id-silent"),
        CancelRef(IdKind.CLIENT_ID, "cli-unknown"),
    ]
    items = wire.parse_batch(wire.parse_envelope(200, "application/json", _body(BATCH_REPLY)))
    outcomes = wire.match_items(items, refs, {"cli-2": "id-2"})
    assert outcomes == {
        "gone-1": Outcome(CancelState.ALREADY_GONE, "not found: cancelled or filled before"),
        "id-2": Outcome(CancelState.CANCELLED),
        "id-3": Outcome(CancelState.FILLED, "could not be cancelled: filled"),
    }
    # "not-ours" was never asked for; "id-silent" got no item; "cli-unknown" names no known order.
    assert "not-ours" not in outcomes and "id-silent" not in outcomes


def test_batch_without_list_is_malformed() -> None:
    with pytest.raises(MalformedReply):
        wire.parse_batch({"result": "success"})


def test_cancel_all_names_the_cancelled_orders() -> None:
    reply = {
        "result": "success",
        "cancelStatus": {
            "receivedTime": "2019-08-01T15:57:37.518Z",
            "cancelOnly": "PF_XBTUSD",
            "status": "cancelled",
            "cancelledOrders": [
                {"order_id": "6180adfa-e4b1-4a52-adac-ea5417620dbd"},
                {"order_id": "89e3edbe"},
            ],
            "orderEvents": [],
        },
        "serverTime": "2019-08-01T15:57:37.520Z",
    }
    result = wire.parse_cancel_all(reply)
    assert result.cancelled_ids == ("6180adfa-e4b1-4a52-adac-ea5417620dbd", "89e3edbe")
    assert result.scope == "PF_XBTUSD"
    assert result.received_time == "2019-08-01T15:57:37.518Z"
    none = wire.parse_cancel_all({"cancelStatus": {"status": "noOrdersToCancel", "cancelOnly": "all"}})
    assert none.cancelled_ids == () and none.status == "noOrdersToCancel"
    with pytest.raises(MalformedReply):
        wire.parse_cancel_all({"cancelStatus": {"status": "weird"}})


def test_deadman_reply() -> None:
    armed = {"status": {"currentTime": "2018-06-19T16:51:23.839Z", "triggerTime": "2018-06-19T16:52:23.839Z"}}
    assert wire.parse_deadman(armed) == ("2018-06-19T16:51:23.839Z", "2018-06-19T16:52:23.839Z")
    disarmed = {"status": {"currentTime": "2018-06-19T16:51:23.839Z", "triggerTime": "0"}}
    assert wire.parse_deadman(disarmed) == ("2018-06-19T16:51:23.839Z", None)
    with pytest.raises(MalformedReply):
        wire.parse_deadman({"result": "success"})


# --------------------------------------------------------------------------- websocket


def _ws(obj: object) -> str:
    return json.dumps(obj)


def test_ws_snapshot_example() -> None:
    msg = wire.parse_ws("acct", _ws(WS_SNAPSHOT_EXAMPLE))
    assert isinstance(msg, StreamEvent) and msg.kind is StreamKind.SNAPSHOT
    stop, trailing, limit = msg.orders
    assert stop.order_type == "stop" and stop.side is Side.SELL
    assert stop.price == Decimal("34900") and stop.stop_price == Decimal("13789")
    assert stop.quantity == Decimal("1000") and stop.opened_at == pytest.approx(1612275024.153)
    assert trailing.order_type == "trailing_stop" and trailing.price is None
    assert trailing.stop_price == Decimal("3200.1")
    assert limit.stop_price is None  # Kraken writes stop_price 0 on limit orders
    assert limit.price == Decimal("35058")


def test_ws_delta_example_is_an_upsert() -> None:
    msg = wire.parse_ws("acct", _ws(WS_DELTA_EXAMPLE))
    assert isinstance(msg, StreamEvent) and msg.kind is StreamKind.UPSERT
    (order,) = msg.orders
    assert msg.order_id == order.order_id == "59302619-41d2-4f0b-941f-7e7914760ad3"
    assert order.reduce_only is True and order.side is Side.SELL
    assert order.quantity == Decimal("304") and order.client_id is None


def test_ws_partial_fill_is_an_upsert_with_filled() -> None:
    delta = json.loads(_ws(WS_DELTA_EXAMPLE))
    delta["order"]["filled"] = 100.0
    delta["order"]["cli_ord_id"] = "abc"
    delta["reason"] = "partial_fill"
    msg = wire.parse_ws("acct", _ws(delta))
    assert isinstance(msg, StreamEvent) and msg.kind is StreamKind.UPSERT
    assert msg.orders[0].filled == 100 and msg.orders[0].status == "partially filled"
    assert msg.orders[0].client_id == "abc"


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("cancelled_by_user", CancelState.CANCELLED),
        ("dead_man_switch", CancelState.CANCELLED),
        ("cancelled_by_admin", CancelState.CANCELLED),
        ("full_fill", CancelState.FILLED),
        ("liquidation", CancelState.ALREADY_GONE),
        ("not_enough_margin", CancelState.ALREADY_GONE),
        ("contract_expired", CancelState.ALREADY_GONE),
        ("stop_order_triggered", CancelState.ALREADY_GONE),
    ],
)
def test_ws_removal_reasons(reason: str, state: CancelState) -> None:
    removal = dict(WS_REMOVAL_EXAMPLE, reason=reason)
    msg = wire.parse_ws("acct", _ws(removal))
    assert isinstance(msg, StreamEvent) and msg.kind is StreamKind.REMOVED
    assert msg.order_id == "660c6b23-8007-48c1-a7c9-4893f4572e8c"
    assert msg.outcome == Outcome(state, reason)


def test_ws_full_fill_without_is_cancel_is_still_a_removal() -> None:
    msg = wire.parse_ws(
        "acct", _ws({"feed": "open_orders", "order_id": "x", "is_cancel": False, "reason": "full_fill"})
    )
    assert isinstance(msg, StreamEvent) and msg.kind is StreamKind.REMOVED
    assert msg.outcome is not None and msg.outcome.state is CancelState.FILLED


def test_ws_rejected_post_only_with_order_object_is_removed_not_cancelled() -> None:
    delta = dict(WS_DELTA_EXAMPLE, is_cancel=True, reason="post_order_failed_because_it_would_filled")
    msg = wire.parse_ws("acct", _ws(delta))
    assert isinstance(msg, StreamEvent) and msg.kind is StreamKind.REMOVED
    assert msg.order_id == "59302619-41d2-4f0b-941f-7e7914760ad3"
    assert msg.outcome is not None and msg.outcome.state is CancelState.ALREADY_GONE


def test_ws_control_messages() -> None:
    assert wire.parse_ws("a", _ws({"event": "challenge", "message": "c100b894"})) == wire.WsChallenge(
        "c100b894"
    )
    assert wire.parse_ws("a", _ws({"event": "subscribed", "feed": "open_orders"})) == wire.WsSubscribed(
        "open_orders", True
    )
    assert wire.parse_ws(
        "a", _ws({"event": "subscribed_failed", "feed": "open_orders"})
    ) == wire.WsSubscribed("open_orders", False)
    assert wire.parse_ws("a", _ws({"event": "error", "message": "Invalid feed"})) == wire.WsError(
        "Invalid feed"
    )
    assert wire.parse_ws("a", _ws({"event": "info", "version": 1})) == wire.WsOther("info")
    assert wire.parse_ws("a", _ws({"feed": "heartbeat", "time": 1})) == wire.WsOther("heartbeat")


def test_ws_verbose_feed_names() -> None:
    snap = dict(WS_SNAPSHOT_EXAMPLE, feed="open_orders_verbose_snapshot")
    msg = wire.parse_ws("a", _ws(snap), feed="open_orders_verbose")
    assert isinstance(msg, StreamEvent) and msg.kind is StreamKind.SNAPSHOT


def test_ws_malformed() -> None:
    with pytest.raises(MalformedReply):
        wire.parse_ws("a", "not json")
    with pytest.raises(MalformedReply):
        wire.parse_ws("a", "[]")
    with pytest.raises(MalformedReply):
        wire.parse_ws("a", _ws({"event": "challenge"}))
    with pytest.raises(MalformedReply):
        wire.parse_ws("a", _ws({"feed": "open_orders", "is_cancel": True, "reason": "cancelled_by_user"}))
    bad = json.loads(_ws(WS_DELTA_EXAMPLE))
    bad["order"]["direction"] = 2
    with pytest.raises(MalformedReply):
        wire.parse_ws("a", _ws(bad))
    with pytest.raises(MalformedReply):
        wire.parse_ws("a", _ws({"feed": "open_orders_snapshot", "orders": "x"}))


# --------------------------------------------------------------------------- client budget, URLs


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_takes_costs_and_says_how_long_to_wait() -> None:
    clock = FakeClock()
    budget = CostBudget(capacity=500.0, clock=clock, held=0.0)
    for _ in range(50):
        assert budget.reserve(wire.COST_CANCEL) == 0.0
    assert budget.level() == pytest.approx(0.0)
    assert budget.reserve(wire.COST_CANCEL_ALL) == pytest.approx(25 / 50)
    clock.now += 0.5
    assert budget.reserve(wire.COST_CANCEL_ALL) == 0.0
    clock.now += 100
    assert budget.level() == pytest.approx(500.0)  # never above the capacity


def test_budget_holds_a_slice_back_for_the_emergency_lane() -> None:
    clock = FakeClock()
    budget = CostBudget(capacity=480.0, clock=clock)  # held: wire.BUDGET_HELD_FOR_URGENT (75)
    taken = 0
    while budget.reserve(wire.COST_CANCEL) == 0.0:
        taken += 1
    assert taken == 40 and budget.level() == pytest.approx(80.0)  # ordinary calls stop at 75 left
    # The kill switch's cancel-all still goes at once, on a budget ordinary calls cannot touch.
    assert budget.reserve(wire.COST_CANCEL_ALL, urgent=True) == 0.0
    assert budget.reserve(wire.COST_CANCEL_ALL, urgent=True) == 0.0


def test_default_budget_keeps_a_margin_below_krakens() -> None:
    budget = CostBudget(clock=FakeClock())
    assert budget.capacity == 480.0 and budget.rate == 50.0


def test_budget_backs_off_after_api_limit_exceeded() -> None:
    clock = FakeClock()
    budget = CostBudget(clock=clock)
    assert budget.penalize() == 1.0
    assert budget.reserve(wire.COST_OPEN_ORDERS) == pytest.approx(1.0)
    assert budget.penalize() == 2.0
    assert budget.penalize() == 4.0
    assert budget.penalize() == 8.0
    assert budget.penalize() == 10.0
    assert budget.penalize() == 10.0
    clock.now += 10.0
    assert budget.reserve(wire.COST_OPEN_ORDERS) == 0.0
    budget.succeeded()
    assert budget.penalize() == 1.0


@pytest.mark.parametrize(
    "typed",
    [
        "https://futures.kraken.com",
        "https://futures.kraken.com/",
        "https://futures.kraken.com/derivatives",
        "https://futures.kraken.com/derivatives/api/v3/",
    ],
)
def test_rest_origin_accepts_what_users_type(typed: str) -> None:
    assert rest_origin(typed) == "https://futures.kraken.com"

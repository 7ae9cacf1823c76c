"""Prime WebSocket codec and signature: data in, data out, on the seed's example (seed 002)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path

import pytest

from app.core.accounts import Credentials
from app.core.errors import MalformedReply
from app.core.ledger import CancelState
from app.core.orders import CancelRef, IdKind, Order, Side, VenueKind
from app.venues.prime import wire
from app.venues.prime.venue import upgrade_headers
from app.venues.signing import prime_ws_sign

SEED = Path("/work/shared/kraken/seeds/002_c430d7872c4d2eac.txt")

# The seed's example, as printed in Kraken's "Order Cancel Request" page.
SEED_EXAMPLE = {
    "reqid": 13,
    "type": "OrderCancelRequest",
    "data": [
        {
            "Symbol": "BTC-USD",
            "ClOrdID": "c0be17e0-15da-11ec-b5e7-7f4881f01b7d",
            "OrderID": "16a55364-4248-4575-aa0b-dddd3f694ca3",
            "TransactTime": "2021-09-15T04:09:42.238000Z",
        }
    ],
}


def _order(order_id: str, symbol: str = "BTC-USD", client_id: str | None = None) -> Order:
    return Order(
        "prime",
        VenueKind.PRIME,
        order_id,
        symbol,
        Side.BUY,
        "limit",
        Decimal(1),
        Decimal(1),
        Decimal(0),
        0.0,
        client_id,
    )


def _documented_sign(timestamp: str, host: str, path: str, secret: str) -> str:
    # API-FACTS 9.1, step by step, written here independently of app.venues.signing.
    text = f"GET\n{timestamp}\n{host}\n{path}".encode()
    digest = hmac.new(secret.encode("ascii"), text, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def test_seed_example_is_what_the_test_expects() -> None:
    text = SEED.read_text()
    block = text[text.index("```json") + len("```json theme={null}") : text.rindex("```")]
    assert json.loads(block) == SEED_EXAMPLE


def test_signature_follows_the_documented_steps() -> None:
    ts, host, path, secret = (
        "2019-02-13T05:17:32.000000Z",
        "wss.prime.kraken.com",
        "/ws/v1",
        "s3cr3t-Prime+key/ABC",
    )
    sign = prime_ws_sign(ts, host, path, secret)
    assert sign == _documented_sign(ts, host, path, secret)
    # The secret is used as bytes, not base64-decoded; the example's URL-safe alphabet is used.
    assert "+" not in sign and "/" not in sign and len(sign) == 44
    assert sign != _documented_sign(ts, host, path, secret + "x")


def test_upgrade_headers_sign_the_urls_bare_host_and_path() -> None:
    creds = Credentials("the-key", "the-secret")
    headers = upgrade_headers("wss://wss.prime.kraken.com/ws/v1", creds, 1550035052.0)
    assert headers["ApiKey"] == "the-key"
    assert headers["ApiTimestamp"] == "2019-02-13T05:17:32.000000Z"
    assert headers["ApiSign"] == _documented_sign(
        headers["ApiTimestamp"], "wss.prime.kraken.com", "/ws/v1", "the-secret"
    )
    local = upgrade_headers("ws://127.0.0.1:8765/ws/v1", creds, 1550035052.0)
    assert local["ApiSign"] == _documented_sign(local["ApiTimestamp"], "127.0.0.1", "/ws/v1", "the-secret")


def test_cancel_request_encodes_the_seed_example() -> None:
    entry = wire.CancelEntry(
        "16a55364-4248-4575-aa0b-dddd3f694ca3",
        "BTC-USD",
        "c0be17e0-15da-11ec-b5e7-7f4881f01b7d",
        IdKind.ORDER_ID,
        "16a55364-4248-4575-aa0b-dddd3f694ca3",
    )
    text = wire.encode_cancel_request(13, [entry], "2021-09-15T04:09:42.238000Z")
    assert json.loads(text) == SEED_EXAMPLE
    assert wire.iso_utc(1631678982.238) == "2021-09-15T04:09:42.238000Z"


def test_cancel_entries_one_per_order_each_with_a_new_uuid() -> None:
    a, b = _order("a-1"), _order("b-2", "ETH-USD", client_id="my-client-id")
    entries = wire.cancel_entries(
        [CancelRef.of(a), CancelRef(IdKind.CLIENT_ID, "my-client-id"), CancelRef.of(a)], [a, b]
    )
    assert [(e.order_id, e.symbol, e.by) for e in entries] == [
        ("a-1", "BTC-USD", IdKind.ORDER_ID),
        ("b-2", "ETH-USD", IdKind.CLIENT_ID),
    ]
    assert len({e.cl_ord_id for e in entries}) == 2
    data = json.loads(wire.encode_cancel_request(7, entries, "2021-09-15T04:09:42.238000Z"))["data"]
    assert data[0]["OrderID"] == "a-1" and "OrigClOrdID" not in data[0]
    assert data[1]["OrigClOrdID"] == "my-client-id" and "OrderID" not in data[1]
    assert all(len(d["ClOrdID"]) == 36 and d["ClOrdID"] not in ("a-1", "my-client-id") for d in data)


def test_cancel_entries_refuse_userrefs_and_orphan_refs() -> None:
    with pytest.raises(ValueError, match="userref"):
        wire.cancel_entries([CancelRef(IdKind.USERREF, "5")], [])
    with pytest.raises(ValueError, match="Symbol"):
        wire.cancel_entries([CancelRef(IdKind.ORDER_ID, "x")], [])


def test_requests_refuse_reqid_zero_and_empty_ping_data() -> None:
    with pytest.raises(ValueError):
        wire.encode_subscribe(0, [wire.order_stream()])
    with pytest.raises(ValueError, match="non-empty"):
        wire.encode_ping(1, [], "2021-09-15T04:09:42.238000Z")
    assert json.loads(wire.encode_stream_cancel(9)) == {"reqid": 9, "type": "cancel"}
    ping = json.loads(wire.encode_ping(3, [{"ts": "t"}], "t"))
    assert ping == {"reqid": 3, "type": "Ping", "ts": "t", "data": [{"ts": "t"}]}


def test_subscribe_asks_for_open_states_and_reports() -> None:
    sub = json.loads(wire.encode_subscribe(2, [wire.order_stream(), wire.exec_stream()]))
    assert sub["type"] == "subscribe" and sub["reqid"] == 2
    assert sub["streams"][0] == {
        "name": "Order",
        "Statuses": "PendingNew,New,PartiallyFilled,PendingCancel,PendingReplace",
    }
    assert sub["streams"][1] == {"name": "ExecutionReport"}
    one = wire.order_stream(statuses=None, order_id="abc")
    assert one == {"name": "Order", "OrderID": "abc"}


ORDER_SNAPSHOT = {
    "reqid": 2,
    "type": "Order",
    "ts": "2021-09-15T04:09:42.238000Z",
    "initial": True,
    "seqNum": 1,
    "action": "Update",
    "data": [
        {
            "Timestamp": "2021-09-15T04:09:40.000000Z",
            "Symbol": "BTC-USD",
            "OrderID": "16a55364-4248-4575-aa0b-dddd3f694ca3",
            "ClOrdID": "0c8f62fc-8d4b-4a06-8f4c-2f4a1a8e0c11",
            "Side": "Sell",
            "ExecType": "New",
            "OrdStatus": "PartiallyFilled",
            "OrderQty": "1.50000000",
            "CumQty": "0.25000000",
            "LeavesQty": "1.25000000",
            "OrdType": "Limit",
            "Price": "65000.00",
            "Currency": "BTC",
            "User": "desk",
            "SubmitTime": "2021-09-15T04:00:00.000000Z",
        }
    ],
}


def test_order_snapshot_decodes_to_orders() -> None:
    msg = wire.parse_message(json.dumps(ORDER_SNAPSHOT))
    assert isinstance(msg, wire.StreamData)
    assert (msg.reqid, msg.stream, msg.initial, msg.action, msg.seq_num) == (2, "Order", True, "Update", 1)
    order = wire.parse_order("acct", msg.entries[0])
    assert order.order_id == "16a55364-4248-4575-aa0b-dddd3f694ca3"
    assert order.venue is VenueKind.PRIME and order.symbol == "BTC-USD" and order.side is Side.SELL
    assert (order.quantity, order.filled, order.price) == (Decimal("1.5"), Decimal("0.25"), Decimal("65000"))
    assert order.order_type == "limit" and order.status == "open"
    assert order.client_id == "0c8f62fc-8d4b-4a06-8f4c-2f4a1a8e0c11"
    assert order.opened_at == wire.parse_iso("2021-09-15T04:00:00.000000Z")


def test_filled_falls_back_to_leaves_qty_then_zero() -> None:
    entry = dict(ORDER_SNAPSHOT["data"][0])  # type: ignore[index]
    del entry["CumQty"]
    assert wire.parse_order("a", entry).filled == Decimal("0.25")
    del entry["LeavesQty"]
    assert wire.parse_order("a", entry).filled == Decimal(0)


@pytest.mark.parametrize("field", ["OrderID", "Symbol", "Side", "OrderQty"])
def test_order_entry_missing_a_required_field_is_malformed(field: str) -> None:
    entry = dict(ORDER_SNAPSHOT["data"][0])  # type: ignore[index]
    del entry[field]
    with pytest.raises(MalformedReply):
        wire.parse_order("a", entry)


def test_other_messages_decode() -> None:
    hello = wire.parse_message('{"type":"hello","ts":"2021-09-15T04:09:42.238000Z","session_id":"s-1"}')
    assert hello == wire.Hello("s-1", "2021-09-15T04:09:42.238000Z")
    pong = wire.parse_message('{"reqid":4,"type":"Pong","ts":"t","data":[{"a":1}]}')
    assert pong == wire.Pong(4, ({"a": 1},))
    err = wire.parse_message(
        '{"reqid":5,"type":"error","seq":3,"error":{"code":400,"msg":"missing Ping data"}}'
    )
    assert err == wire.ServerError(5, "400", "missing Ping data", 3)
    bare = wire.parse_message('{"seq":9,"error":{"code":"E1","msg":"boom"}}')
    assert bare == wire.ServerError(None, "E1", "boom", 9)
    assert isinstance(wire.parse_message('{"type":"Balance","data":[]}'), wire.OtherMessage)
    with pytest.raises(MalformedReply):
        wire.parse_message("not json")
    with pytest.raises(MalformedReply):
        wire.parse_message('{"type":"Order","data":"x"}')


def _report(**fields: str) -> dict[str, str]:
    base = {"OrderID": "o-1", "ClOrdID": "req-1", "OrigClOrdID": "cl-1", "Symbol": "BTC-USD"}
    return {**base, **fields}


@pytest.mark.parametrize(
    ("entry", "state"),
    [
        (_report(ExecType="PendingCancel", OrdStatus="PendingCancel"), CancelState.ACKNOWLEDGED),
        (_report(ExecType="Canceled", OrdStatus="Canceled"), CancelState.CANCELLED),
        (
            _report(ExecType="CancelRejected", OrdStatus="Filled", Text="Too late to cancel"),
            CancelState.FILLED,
        ),
        (
            _report(
                ExecType="CancelRejected", OrdStatus="Rejected", OrderID="NONE", CxlRejReason="UnknownOrder"
            ),
            CancelState.ALREADY_GONE,
        ),
        (_report(ExecType="CancelRejected", OrdStatus="New", CxlRejReason="1"), CancelState.ALREADY_GONE),
        (_report(ExecType="CancelRejected", OrdStatus="Canceled", Text="too late"), CancelState.ALREADY_GONE),
        (_report(ExecType="CancelRejected", OrdStatus="New", Text="Permission denied"), CancelState.REJECTED),
        (_report(ExecType="Trade", OrdStatus="Filled"), CancelState.FILLED),
        (_report(ExecType="Expired", OrdStatus="Expired"), CancelState.ALREADY_GONE),
    ],
)
def test_cancel_outcomes(entry: dict[str, str], state: CancelState) -> None:
    outcome = wire.cancel_outcome(entry)
    assert outcome is not None and outcome.state is state


def test_partial_fill_settles_nothing_and_rejection_keeps_kraken_words() -> None:
    assert wire.cancel_outcome(_report(ExecType="Trade", OrdStatus="PartiallyFilled")) is None
    rejected = wire.cancel_outcome(
        _report(ExecType="CancelRejected", OrdStatus="New", Text="Permission denied")
    )
    assert rejected is not None and rejected.reason == "Permission denied"


def test_removal_outcome_says_cancelled_only_for_canceled() -> None:
    assert wire.removal_outcome({"OrdStatus": "Canceled"}).state is CancelState.CANCELLED
    assert wire.removal_outcome({"OrdStatus": "Filled"}).state is CancelState.FILLED
    assert wire.removal_outcome({}).state is CancelState.ALREADY_GONE
    assert wire.removal_outcome({"OrdStatus": "Expired"}).state is CancelState.ALREADY_GONE
    assert wire.is_closed_entry({"OrdStatus": "Canceled"}) and not wire.is_closed_entry(
        {"OrdStatus": "Paused"}
    )


def test_order_id_none_alone_does_not_mean_unknown_order() -> None:
    entry = _report(ExecType="CancelRejected", OrdStatus="Rejected", OrderID="NONE", Text="Permission denied")
    outcome = wire.cancel_outcome(entry)
    assert outcome is not None and outcome.state is CancelState.REJECTED

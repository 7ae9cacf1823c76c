"""Spot REST wire: envelopes, Kraken error strings, the seed's shapes, malformed input."""

import json
from decimal import Decimal

import pytest

from app.core.errors import (
    AuthError,
    MalformedReply,
    PermissionDenied,
    RateLimited,
    TransportError,
    VenueRejected,
    VenueUnavailable,
)
from app.core.ledger import CancelState
from app.core.orders import Side
from app.venues.spot import rest_wire as wire

OPEN_ORDERS = {
    "open": {
        "OQCLML-BW3P3-BUCMWZ": {
            "refid": None,
            "userref": 0,
            "status": "open",
            "opentm": 1688666559.8974,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": "XBTUSD",
                "type": "buy",
                "ordertype": "limit",
                "price": "30010.0",
                "price2": "0",
                "leverage": "none",
                "order": "buy 1.25000000 XBTUSD @ limit 30010.0",
                "close": "",
            },
            "vol": "1.25000000",
            "vol_exec": "0.37500000",
            "cost": "0.00000",
            "fee": "0.00000",
            "price": "0.00000",
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": "fciq",
        },
        "OB5VMB-B4U2U-DK2WRW": {
            "userref": 120,
            "cl_ord_id": "my-order-7",
            "status": "open",
            "opentm": 1688665899.5699,
            "descr": {
                "pair": "ETHUSD",
                "type": "sell",
                "ordertype": "stop-loss-limit",
                "price": "1900.0",
                "price2": "1890.0",
            },
            "vol": "2.0",
            "vol_exec": "0",
        },
    }
}


def test_seed_cancel_reply_parses() -> None:
    result = wire.parse_envelope(200, "application/json", b'{"error":[],"result":{"count":1}}')
    assert wire.parse_count(result) == (1, False)


def test_open_orders_parse() -> None:
    orders = wire.parse_open_orders("acct", OPEN_ORDERS)
    by_id = {o.order_id: o for o in orders}
    a = by_id["OQCLML-BW3P3-BUCMWZ"]
    assert (a.symbol, a.side, a.price, a.quantity, a.filled) == (
        "XBTUSD",
        Side.BUY,
        Decimal("30010.0"),
        Decimal("1.25"),
        Decimal("0.375"),
    )
    assert a.userref is None and a.client_id is None
    b = by_id["OB5VMB-B4U2U-DK2WRW"]
    assert (b.userref, b.client_id, b.stop_price, b.price) == (
        120,
        "my-order-7",
        Decimal("1900.0"),
        Decimal("1890.0"),
    )


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        ("EAPI:Invalid key", AuthError),
        ("EAPI:Invalid signature", AuthError),
        ("EAPI:Invalid nonce", AuthError),
        ("EGeneral:Temporary lockout", AuthError),
        ("EGeneral:Permission denied", PermissionDenied),
        ("EAPI:Rate limit exceeded", RateLimited),
        ("EOrder:Rate limit exceeded", RateLimited),
        ("EService:Unavailable", VenueUnavailable),
        ("EService:Market in cancel_only mode", VenueUnavailable),
        ("EGeneral:Internal error:12", TransportError),
        ("EOrder:Unknown order", VenueRejected),
        ("EGeneral:Invalid arguments:txid", VenueRejected),
    ],
)
def test_error_strings_map(message: str, cls: type) -> None:
    body = json.dumps({"error": [message]}).encode()
    with pytest.raises(cls) as info:
        wire.parse_envelope(200, "application/json", body)
    assert info.value.venue_error == message


def test_throttled_carries_retry_after() -> None:
    err = wire.error_for("EService: Throttled: 1000", now=990.0)
    assert isinstance(err, RateLimited) and err.retry_after == 10.0


@pytest.mark.parametrize(
    ("status", "ctype", "body", "cls"),
    [
        (502, "text/html", b"<html><body>502 Bad Gateway</body></html>", TransportError),
        (503, "application/json", b"{}", TransportError),
        (524, "text/html", b"<html>A timeout occurred</html>", TransportError),
        (429, "text/plain", b"slow down", RateLimited),
        (200, "text/html", b"<!DOCTYPE html><html>cloudflare</html>", MalformedReply),
        (200, "application/json", b"{not json", MalformedReply),
        (200, "application/json", b"[1,2]", MalformedReply),
        (200, "application/json", b'{"error":[],"result":[]}', MalformedReply),
        (200, "application/json", b"\xff\xfe", MalformedReply),
    ],
)
def test_bad_replies_are_clear_errors(status: int, ctype: str, body: bytes, cls: type) -> None:
    with pytest.raises(cls):
        wire.parse_envelope(status, ctype, body)


def test_malformed_reply_and_transport_error_mean_effect_unknown() -> None:
    assert MalformedReply("x").effect_unknown and TransportError("x").effect_unknown
    assert not VenueUnavailable("x").effect_unknown


def test_malformed_order_entries() -> None:
    good = {"descr": {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "1"}, "vol": "1"}
    bad = {
        "X": {"descr": {"type": "buy"}},
        "Y": {"descr": {"pair": "XBTUSD", "type": "up"}, "vol": "1"},
        "Z": 7,
    }
    problems: list[str] = []
    listed = wire.parse_open_orders("a", {"open": {**bad, "OK": good}}, problems)
    assert [o.order_id for o in listed] == ["OK"] and len(problems) == 3
    with pytest.raises(MalformedReply):
        wire.parse_open_orders("a", {"closed": {}})
    with pytest.raises(MalformedReply):
        wire.parse_count({"count": "many"})


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("canceled", CancelState.CANCELLED),
        ("closed", CancelState.FILLED),
        ("expired", CancelState.ALREADY_GONE),
        ("open", CancelState.FAILED),
    ],
)
def test_query_status_outcomes(status: str, state: CancelState) -> None:
    assert wire.outcome_from_status({"status": status}).state is state


def test_json_body_is_compact_and_ordered() -> None:
    assert wire.encode_json({"nonce": 1, "orders": ["A", "B"]}) == b'{"nonce":1,"orders":["A","B"]}'
    assert wire.encode_form({"nonce": 1, "txid": "O-1"}) == b"nonce=1&txid=O-1"

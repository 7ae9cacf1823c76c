"""The Futures open_orders feed protocol, fed frames (no sockets, no event loop), and its link settings."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from app.core.accounts import Credentials
from app.core.ledger import CancelState, Outcome
from app.venues.base import StreamKind
from app.venues.futures.feed import FuturesFeedProtocol
from app.venues.futures.venue import FUTURES_WS_LINK
from app.venues.signing import futures_ws_sign

# Kraken's published challenge and secret (API-FACTS 0.2).
CHALLENGE = "c100b894-1729-464d-ace1-52dbce11db42"
SECRET = "7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm"
SIGNED = "4JEpF3ix66GA2B+ooK128Ift4XQVtc137N9yeg4Kqsn9PI0Kpzbysl9M1IeCEdjg0zl00wkVqcsnG4bmnlMb3A=="
ORDER = {
    "instrument": "PF_XBTUSD",
    "time": 1700000000000,
    "last_update_time": 1700000000000,
    "qty": 1.0,
    "filled": 0.0,
    "limit_price": 30000.0,
    "stop_price": 0.0,
    "type": "limit",
    "order_id": "2ce038ae-c144-4de7-a0f1-82f7f4fca864",
    "cli_ord_id": None,
    "direction": 0,
    "reduce_only": False,
}


def frames(proto: FuturesFeedProtocol) -> list[dict[str, Any]]:
    return [json.loads(frame) for frame, _ in proto.data_to_send()]


def signed_in() -> FuturesFeedProtocol:
    proto = FuturesFeedProtocol("fut", Credentials("PUBLIC", SECRET))
    proto.connection_made()
    frames(proto)
    proto.receive(json.dumps({"event": "challenge", "message": CHALLENGE}))
    frames(proto)
    proto.receive(json.dumps({"event": "subscribed", "feed": "open_orders"}))
    proto.receive(json.dumps({"feed": "open_orders_snapshot", "account": "x", "orders": [ORDER]}))
    return proto


def test_the_challenge_flow_signs_kraken_s_example_and_goes_live_on_the_snapshot() -> None:
    proto = FuturesFeedProtocol("fut", Credentials("PUBLIC", SECRET))
    proto.connection_made()
    assert frames(proto) == [{"event": "challenge", "api_key": "PUBLIC"}]
    proto.receive(json.dumps({"event": "challenge", "message": CHALLENGE}))
    assert frames(proto) == [
        {
            "event": "subscribe",
            "feed": "open_orders",
            "api_key": "PUBLIC",
            "original_challenge": CHALLENGE,
            "signed_challenge": SIGNED,
        }
    ]
    assert futures_ws_sign(CHALLENGE, SECRET) == SIGNED
    proto.receive(json.dumps({"event": "subscribed", "feed": "open_orders"}))
    assert not proto.live
    proto.receive(json.dumps({"feed": "open_orders_snapshot", "account": "x", "orders": [ORDER]}))
    assert proto.live
    [snap] = proto.events_received()
    assert snap.kind is StreamKind.SNAPSHOT and [o.order_id for o in snap.orders] == [ORDER["order_id"]]
    assert proto.ping() is False  # the transport pings: nothing queued
    assert proto.data_to_send() == []
    assert SECRET not in repr(proto)


@pytest.mark.parametrize(
    "refusal",
    [
        {"event": "subscribed_failed", "feed": "open_orders"},
        {"event": "alert", "message": "Failed to subscribe to authenticated feed"},
    ],
)
def test_a_refused_sign_in_is_an_auth_failure_not_a_network_fault(refusal: dict[str, Any]) -> None:
    proto = FuturesFeedProtocol("fut", Credentials("PUBLIC", SECRET))
    proto.connection_made()
    proto.receive(json.dumps({"event": "challenge", "message": CHALLENGE}))
    proto.receive(json.dumps(refusal))
    assert proto.failure is not None and proto.failure.auth
    assert "refused the signed challenge" in proto.failure.reason


def test_deltas_keep_the_book_and_removals_say_why() -> None:
    proto = signed_in()
    proto.events_received()
    placed = {**ORDER, "order_id": "new-1", "qty": 2.0}
    proto.receive(
        json.dumps(
            {"feed": "open_orders", "order": placed, "is_cancel": False, "reason": "new_placed_order_by_user"}
        )
    )
    proto.receive(
        json.dumps(
            {
                "feed": "open_orders",
                "order_id": ORDER["order_id"],
                "is_cancel": True,
                "reason": "cancelled_by_user",
            }
        )
    )
    upsert, removed = proto.events_received()
    assert upsert.kind is StreamKind.UPSERT and upsert.orders[0].quantity == Decimal(2)
    assert removed.outcome == Outcome(CancelState.CANCELLED, "cancelled_by_user")
    assert [o.order_id for o in proto.orders()] == ["new-1"]


def test_an_error_or_alert_after_going_live_is_logged_and_an_unreadable_frame_resyncs() -> None:
    proto = signed_in()
    proto.receive(json.dumps({"event": "error", "message": "Invalid feed"}))
    proto.receive(json.dumps({"event": "alert", "message": "Bad websocket message"}))
    assert proto.failure is None
    proto.receive(json.dumps({"feed": "open_orders", "order": {"order_id": "x"}, "is_cancel": False}))
    assert proto.failure is not None and not proto.failure.auth


def test_an_error_before_the_snapshot_ends_the_connection() -> None:
    proto = FuturesFeedProtocol("fut", Credentials("PUBLIC", SECRET))
    proto.connection_made()
    proto.receive(json.dumps({"event": "error", "message": "Json Error"}))
    assert proto.failure is not None and "Json Error" in proto.failure.reason and not proto.failure.auth


def test_the_link_leaves_pings_to_the_transport_and_backs_off_from_half_a_second() -> None:
    assert FUTURES_WS_LINK.ping_interval_s == 0
    assert (FUTURES_WS_LINK.backoff_base_s, FUTURES_WS_LINK.backoff_cap_s) == (0.5, 30.0)

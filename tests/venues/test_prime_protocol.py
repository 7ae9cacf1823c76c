"""The Prime protocol object, fed frames: sign-in, streams, cancels matched to their outcomes, queries."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import pytest

from app.core.errors import VenueRejected
from app.core.ledger import CancelState, Outcome
from app.core.orders import CancelRef, Order, Side, VenueKind
from app.venues.base import StreamKind
from app.venues.prime import wire
from app.venues.prime.protocol import PrimeProtocol, query_outcome

NOW = 1_700_000_000.0


def entry(order_id: str, status: str = "New", **extra: Any) -> dict[str, Any]:
    return {
        "OrderID": order_id,
        "ClOrdID": f"own-{order_id}",
        "Symbol": "BTC-USD",
        "Side": "Buy",
        "OrderQty": "1",
        "OrdType": "Limit",
        "Price": "100",
        "OrdStatus": status,
        "Timestamp": "2024-01-01T00:00:00.000000Z",
        **extra,
    }


def stream(
    reqid: int, kind: str, entries: list[dict[str, Any]], *, initial: bool = False, action: str = "Update"
) -> str:
    return json.dumps(
        {"reqid": reqid, "type": kind, "initial": initial, "action": action, "seqNum": 1, "data": entries}
    )


def sent(proto: PrimeProtocol) -> list[dict[str, Any]]:
    return [json.loads(frame) for frame, _ in proto.data_to_send()]


def live(*orders: str) -> tuple[PrimeProtocol, int, int]:
    proto = PrimeProtocol("prime", reqids=itertools.count(1), clock=lambda: NOW)
    proto.connection_made()
    assert proto.data_to_send() == []  # Kraken greets first
    proto.receive(json.dumps({"type": "hello", "ts": "x", "session_id": "S1"}))
    order_sub, exec_sub = sent(proto)
    assert order_sub["streams"][0]["name"] == "Order" and exec_sub["streams"] == [{"name": "ExecutionReport"}]
    proto.receive(stream(order_sub["reqid"], "Order", [entry(o) for o in orders], initial=True))
    assert proto.live
    return proto, order_sub["reqid"], exec_sub["reqid"]


def order(order_id: str) -> Order:
    return Order(
        "prime", VenueKind.PRIME, order_id, "BTC-USD", Side.BUY, "limit", None, Decimal(1), Decimal(0), 0.0
    )


def entries_for(*order_ids: str) -> list[wire.CancelEntry]:
    orders = [order(o) for o in order_ids]
    return wire.cancel_entries([CancelRef.of(o) for o in orders], orders)


def test_hello_subscribes_both_streams_and_the_initial_snapshot_goes_live() -> None:
    proto, _, _ = live("A", "B")
    [snap] = proto.events_received()
    assert snap.kind is StreamKind.SNAPSHOT and {o.order_id for o in snap.orders} == {"A", "B"}
    assert proto.session_id == "S1"


def test_an_error_instead_of_hello_is_a_refused_sign_in() -> None:
    proto = PrimeProtocol("prime", reqids=itertools.count(1), clock=lambda: NOW)
    proto.receive(
        json.dumps({"type": "error", "seq": 1, "error": {"code": "401", "msg": "Invalid signature"}})
    )
    assert proto.failure is not None and proto.failure.auth and "clock" in proto.failure.reason


def test_a_cancel_is_settled_by_the_streams_matched_by_its_new_cl_ord_id() -> None:
    proto, order_reqid, exec_reqid = live("A", "B")
    proto.events_received()
    ticket = proto.cancel(entries_for("A", "B"))
    [request] = sent(proto)
    assert request["type"] == "OrderCancelRequest" and [d["OrderID"] for d in request["data"]] == ["A", "B"]
    assert all(d["TransactTime"] == wire.iso_utc(NOW) for d in request["data"])
    cl = {d["OrderID"]: d["ClOrdID"] for d in request["data"]}
    proto.receive(
        stream(
            exec_reqid,
            "ExecutionReport",
            [entry("A", "PendingCancel", ExecType="PendingCancel", ClOrdID=cl["A"])],
        )
    )
    assert not ticket.done and ticket.progress == 1  # acknowledged is not final
    proto.receive(
        stream(exec_reqid, "ExecutionReport", [entry("A", "Canceled", ExecType="Canceled", ClOrdID=cl["A"])])
    )
    rejected = entry("B", "Filled", ExecType="CancelRejected", ClOrdID=cl["B"], Text="too late")
    proto.receive(stream(exec_reqid, "ExecutionReport", [rejected]))
    assert ticket.result() == {
        "A": Outcome(CancelState.CANCELLED),
        "B": Outcome(CancelState.FILLED, "too late"),
    }
    # The report stream's closed states take the orders off the book too.
    removed = {e.order_id: e.outcome for e in proto.events_received() if e.kind is StreamKind.REMOVED}
    assert removed["A"] is not None and removed["A"].state is CancelState.CANCELLED
    # A rejection's OrdStatus describes the order only loosely: B leaves when the Order stream says.
    assert [o.order_id for o in proto.orders()] == ["B"]
    proto.receive(stream(order_reqid, "Order", [entry("B", "Filled")], action="Remove"))
    [gone] = proto.events_received()
    assert gone.order_id == "B" and gone.outcome is not None and gone.outcome.state is CancelState.FILLED
    # The Order stream's own removal of an order already gone changes nothing.
    proto.receive(stream(order_reqid, "Order", [entry("A", "Canceled")], action="Remove"))
    assert proto.events_received() == []


def test_unknown_order_rejection_is_already_gone_and_other_rejections_keep_kraken_s_words() -> None:
    proto, _, exec_reqid = live("A", "B")
    ticket = proto.cancel(entries_for("A", "B"))
    cl = {d["OrderID"]: d["ClOrdID"] for d in sent(proto)[0]["data"]}
    proto.receive(
        stream(
            exec_reqid,
            "ExecutionReport",
            [entry("NONE", "Rejected", ExecType="CancelRejected", ClOrdID=cl["A"], CxlRejReason=1)],
        )
    )
    proto.receive(
        stream(
            exec_reqid,
            "ExecutionReport",
            [entry("B", "New", ExecType="CancelRejected", ClOrdID=cl["B"], Text="Permission denied")],
        )
    )
    result = ticket.result()
    assert result["A"].state is CancelState.ALREADY_GONE
    assert result["B"] == Outcome(CancelState.REJECTED, "Permission denied")


def test_another_request_s_rejection_does_not_settle_this_one() -> None:
    proto, _, exec_reqid = live("A")
    ticket = proto.cancel(entries_for("A"))
    sent(proto)
    proto.receive(
        stream(
            exec_reqid,
            "ExecutionReport",
            [entry("A", "New", ExecType="CancelRejected", ClOrdID="someone-else")],
        )
    )
    assert not ticket.done
    proto.receive(
        stream(
            exec_reqid,
            "ExecutionReport",
            [entry("A", "Canceled", ExecType="Canceled", ClOrdID="someone-else")],
        )
    )
    assert ticket.result()["A"].state is CancelState.CANCELLED  # a state fact, matched by OrderID


def test_an_error_answering_the_request_rejects_what_is_not_final() -> None:
    proto, _, _ = live("A")
    ticket = proto.cancel(entries_for("A"))
    [request] = sent(proto)
    proto.receive(
        json.dumps({"reqid": request["reqid"], "type": "error", "error": {"code": "3", "msg": "bad Symbol"}})
    )
    assert ticket.result() == {"A": Outcome(CancelState.REJECTED, "Kraken Prime: 3 bad Symbol")}


def test_no_final_word_in_time_or_a_drop_is_unknown_never_cancelled() -> None:
    proto, _, exec_reqid = live("A", "B")
    slow = proto.cancel(entries_for("A"))
    dropped = proto.cancel(entries_for("B"))
    cl = sent(proto)[0]["data"][0]["ClOrdID"]
    proto.receive(
        stream(
            exec_reqid, "ExecutionReport", [entry("A", "PendingCancel", ExecType="PendingCancel", ClOrdID=cl)]
        )
    )
    proto.expire(slow)
    [outcome] = slow.result().values()
    assert outcome.state is CancelState.UNKNOWN and "PendingCancel" in (outcome.reason or "")
    proto.connection_lost("connection lost")
    [outcome] = dropped.result().values()
    assert outcome.state is CancelState.UNKNOWN and "dropped" in (outcome.reason or "")


def test_a_query_is_a_one_shot_subscription_stopped_after_its_answer() -> None:
    proto, _, _ = live()
    ticket = proto.query("A")
    [subscribe] = sent(proto)
    assert subscribe["streams"] == [{"name": "Order", "OrderID": "A"}]
    proto.receive(stream(subscribe["reqid"], "Order", [entry("A", "Filled")], initial=True))
    assert ticket.result() == Outcome(CancelState.FILLED, "filled")
    assert sent(proto) == [{"reqid": subscribe["reqid"], "type": "cancel"}]
    refused = proto.query("B")
    [sub_b] = sent(proto)
    proto.receive(json.dumps({"reqid": sub_b["reqid"], "type": "error", "error": {"code": "1", "msg": "no"}}))
    with pytest.raises(VenueRejected):
        refused.result()


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([], CancelState.ALREADY_GONE),
        ([entry("A", "New")], CancelState.FAILED),
        ([entry("A", "PendingCancel")], None),
        ([entry("A", "Canceled")], CancelState.CANCELLED),
    ],
)
def test_what_a_query_proves(entries: list[dict[str, Any]], expected: CancelState | None) -> None:
    outcome = query_outcome("A", entries)
    assert (outcome.state if outcome is not None else None) is expected


def test_pings_both_ways_and_a_bad_frame_is_skipped() -> None:
    proto, _, _ = live()
    proto.receive(json.dumps({"reqid": 77, "type": "Ping", "data": [{"x": 1}]}))
    [pong] = sent(proto)
    assert pong["type"] == "Pong" and pong["data"] == [{"x": 1}]
    assert proto.ping()
    [ping] = sent(proto)
    assert ping["type"] == "Ping" and ping["data"] and ping["reqid"] > 0
    proto.receive("{nope")
    proto.receive(json.dumps({"reqid": 1, "type": "Order", "data": "not a list"}))
    assert proto.failure is None


def test_one_malformed_order_is_one_skipped_order() -> None:
    proto, order_reqid, _ = live("A")
    proto.events_received()
    bad = entry("B")
    bad["Side"] = "Sideways"
    proto.receive(stream(order_reqid, "Order", [bad, entry("C")]))
    problem, upsert = proto.events_received()
    assert problem.kind is StreamKind.PROBLEM and "Sideways" in (problem.detail or "")
    assert [o.order_id for o in upsert.orders] == ["C"] and proto.failure is None

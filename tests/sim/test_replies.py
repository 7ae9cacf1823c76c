"""Kraken's real replies (API-FACTS 11): unknown ids, batch refusals, client ids, reasons, ratecounter."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sim.kraken import Sim, Ws

pytestmark = pytest.mark.timeout(30)

UNKNOWN = "EOrder:Unknown order"
INVALID = "EOrder:Invalid order"
MADE_UP = "OAAAAA-BBBBB-CCCCCC"


def _v2(sim: Sim, method: str, req_id: int = 1, **params: Any) -> dict[str, Any]:
    return {"method": method, "params": {**params, "token": sim.spot_token()}, "req_id": req_id}


# --------------------------------------------------------------------------- unknown ids


async def _rest_cancel_error(sim: Sim, params: dict[str, Any]) -> str:
    reply = await sim.spot().call("CancelOrder", params)
    return str(reply["error"][0])


async def test_rest_unknown_and_gone_ids_follow_their_choices(sim: Sim) -> None:
    gone = sim.add(cl_ord_id="was-here")
    sim.exchange.cancel("spot", gone.order_id)
    faults = sim.faults("spot_rest")
    # Defaults: Kraken's guides for a made-up id (API-FACTS 11), the v1 docs' words for a closed one.
    assert await _rest_cancel_error(sim, {"txid": MADE_UP}) == INVALID
    assert await _rest_cancel_error(sim, {"txid": gone.order_id}) == UNKNOWN
    faults.never_known_error = "unknown"
    assert await _rest_cancel_error(sim, {"txid": MADE_UP}) == UNKNOWN
    faults.never_known_error = "invalid"
    assert await _rest_cancel_error(sim, {"txid": MADE_UP}) == INVALID
    assert await _rest_cancel_error(sim, {"cl_ord_id": "never-was"}) == INVALID
    assert await _rest_cancel_error(sim, {"txid": gone.order_id}) == UNKNOWN  # closed: still Unknown
    assert await _rest_cancel_error(sim, {"cl_ord_id": "was-here"}) == UNKNOWN
    faults.gone_order_error = "invalid"
    assert await _rest_cancel_error(sim, {"txid": gone.order_id}) == INVALID
    queried = await sim.spot().call("QueryOrders", {"txid": MADE_UP})
    assert queried == {"error": [INVALID]}


async def test_ws_unknown_ids(sim: Sim, v1: Ws, v2: Ws) -> None:
    sim.faults("spot_ws").never_known_error = "invalid"
    await v2.send(_v2(sim, "cancel_order", order_id=[MADE_UP]))
    reply = await v2.recv()
    assert reply["success"] is False and reply["error"] == INVALID
    await v1.send({"event": "cancelOrder", "token": sim.spot_token(), "txid": [MADE_UP], "reqid": 3})
    assert await v1.recv() == {
        "errorMessage": INVALID,
        "event": "cancelOrderStatus",
        "status": "error",
        "reqid": 3,
    }


# --------------------------------------------------------------------------- batches


async def _rest_batch(sim: Sim, mode: str) -> tuple[dict[str, Any], list[str]]:
    sim.faults("spot_rest").batch_unknown_id = mode
    known = [sim.add().order_id for _ in range(2)]
    body = {"orders": [*known, MADE_UP]}
    return await sim.spot().call("CancelOrderBatch", body, as_json=True), known


async def test_rest_batch_with_an_unknown_id_skips_it_by_default(sim: Sim) -> None:
    reply, known = await _rest_batch(sim, "skip")
    assert reply == {"error": [], "result": {"count": 2}}
    assert {sim.status(o) for o in known} == {"canceled"}


async def test_rest_batch_refused_after_applying_the_rest(sim: Sim) -> None:
    reply, known = await _rest_batch(sim, "refuse_after_apply")
    assert reply == {"error": [INVALID]}  # says nothing of the others...
    assert {sim.status(o) for o in known} == {"canceled"}  # ...which were cancelled
    assert (await sim.truth())["counts"]["by"]["cancelled"] == {"request": 2}


async def test_rest_batch_refused_with_nothing_applied(sim: Sim) -> None:
    reply, known = await _rest_batch(sim, "refuse_all")
    assert reply == {"error": [INVALID]}
    assert {sim.status(o) for o in known} == {"open"}


@pytest.mark.parametrize(("mode", "left"), [("refuse_after_apply", "canceled"), ("refuse_all", "open")])
async def test_v2_batch_cancel_refusals(sim: Sim, v2: Ws, mode: str, left: str) -> None:
    faults = sim.faults("spot_ws")
    faults.patch({"batch_unknown_id": mode, "never_known_error": "invalid"})
    known = [sim.add().order_id for _ in range(2)]
    await v2.send(_v2(sim, "batch_cancel", orders=[*known, MADE_UP]))
    reply = await v2.recv()
    assert reply["success"] is False and reply["error"] == INVALID and "result" not in reply
    assert {sim.status(o) for o in known} == {left}


# --------------------------------------------------------------------------- client ids


async def test_cancel_order_batch_client_id_shapes(sim: Sim) -> None:
    a, b, c = sim.add(cl_ord_id="cl-a"), sim.add(cl_ord_id="cl-b"), sim.add()
    sim.faults("spot_rest").strict_cl_ord_ids = False  # the lenient reading accepts both shapes
    body = {"orders": [{"txid": c.order_id}], "cl_ord_ids": [{"cl_ord_id": "cl-a"}, "cl-b"]}
    assert (await sim.spot().call("CancelOrderBatch", body, as_json=True))["result"] == {"count": 3}
    assert {sim.status(o.order_id) for o in (a, b, c)} == {"canceled"}
    sim.faults("spot_rest").strict_cl_ord_ids = True
    d = sim.add(cl_ord_id="cl-d")
    bare = await sim.spot().call("CancelOrderBatch", {"cl_ord_ids": ["cl-d"]}, as_json=True)
    assert bare == {"error": ["EGeneral:Invalid arguments:cl_ord_ids"]} and sim.status(d.order_id) == "open"
    shaped = await sim.spot().call("CancelOrderBatch", {"cl_ord_ids": [{"cl_ord_id": "cl-d"}]}, as_json=True)
    assert shaped["result"] == {"count": 1}


async def test_v1_cancel_order_txid_required_when_asked(sim: Sim, v1: Ws) -> None:
    order = sim.add(cl_ord_id="cl-1")
    sim.faults("spot_ws").v1_txid_required = True
    await v1.send({"event": "cancelOrder", "token": sim.spot_token(), "cl_ord_id": ["cl-1"], "reqid": 1})
    reply = await v1.recv()
    assert reply["status"] == "error" and reply["errorMessage"] == "EGeneral:Invalid arguments:txid"
    await v1.send(
        {"event": "cancelOrder", "token": sim.spot_token(), "txid": [], "cl_ord_id": ["cl-1"], "reqid": 2}
    )
    assert (await v1.recv())["status"] == "ok" and sim.status(order.order_id) == "canceled"


async def test_v2_cancel_order_one_id_kind_and_client_id_replies(sim: Sim, v2: Ws) -> None:
    a, b = sim.add(cl_ord_id="cl-a"), sim.add(userref=7)
    await v2.send(_v2(sim, "cancel_order", order_id=[a.order_id], order_userref=[7]))
    mixed = await v2.recv()
    assert mixed["success"] is False and mixed["error"] == "EGeneral:Invalid arguments"
    assert sim.status(a.order_id) == sim.status(b.order_id) == "open"
    await v2.send(_v2(sim, "cancel_order", req_id=2, cl_ord_id=["cl-a"]))
    by_client = await v2.recv()
    assert by_client["success"] is True and by_client["result"] == {"cl_ord_id": "cl-a"}
    await v2.send(_v2(sim, "cancel_order", req_id=3, order_userref=[7]))
    assert (await v2.recv())["result"] == {"order_id": b.order_id}


# --------------------------------------------------------------------------- stream reasons


async def test_v1_reasons_canceled_and_replaced(sim: Sim, v1: Ws) -> None:
    cancelled, edited = sim.add(), sim.add()
    await v1.send({"event": "subscribe", "subscription": {"name": "openOrders", "token": sim.spot_token()}})
    await v1.recv()  # subscriptionStatus
    await v1.recv()  # snapshot
    sim.exchange.cancel("spot", cancelled.order_id)
    update = await v1.recv()
    fields = update[0][0][cancelled.order_id]
    assert fields["status"] == "canceled" and fields["cancel_reason"] == "User requested"
    new = sim.exchange.replace("spot", edited.order_id, price="59000")
    assert new is not None
    closed = (await v1.recv())[0][0][edited.order_id]
    assert closed["status"] == "closed" and closed["cancel_reason"] == "Order replaced"
    assert "vol_exec" not in closed  # not a fill
    pending = (await v1.recv())[0][0]
    assert list(pending) == [new.order_id] and pending[new.order_id]["status"] == "pending"


async def test_v2_reasons_canceled_and_replaced(sim: Sim, v2: Ws) -> None:
    cancelled, edited = sim.add(), sim.add()
    await v2.send(_v2(sim, "subscribe", channel="executions"))
    await v2.recv()
    await v2.recv()
    sim.exchange.expire("spot", cancelled.order_id)
    sim.exchange.cancel("spot", sim.add().order_id)
    expired = (await v2.until(lambda m: m["data"][0]["exec_type"] == "expired"))["data"][0]
    assert expired["order_status"] == "expired" and expired["reason"] == "Order expired"
    gone = (await v2.until(lambda m: m["data"][0]["exec_type"] == "canceled"))["data"][0]
    assert gone["reason"] == "User requested"
    sim.exchange.replace("spot", edited.order_id, qty="0.25")
    replaced = (await v2.until(lambda m: m["data"][0]["order_id"] == edited.order_id))["data"][0]
    assert (replaced["exec_type"], replaced["order_status"], replaced["reason"]) == (
        "canceled",
        "canceled",
        "Order replaced",
    )


# --------------------------------------------------------------------------- ratecounter


async def test_v2_ratecounter(sim: Sim, v2: Ws) -> None:
    young = sim.add(age_s=1)
    await v2.send(_v2(sim, "subscribe", channel="executions", ratecounter=True))
    ack = await v2.recv()
    assert ack["result"]["maxratecount"] == 125  # intermediate tier threshold
    (entry,) = (await v2.recv())["data"]
    assert entry["ratecount"] == 0
    sim.exchange.limits.enabled = True
    await v2.send(_v2(sim, "cancel_order", req_id=2, order_id=[young.order_id]))
    update = await v2.until(lambda m: m.get("channel") == "executions")
    assert update["data"][0]["order_status"] == "canceled" and update["data"][0]["ratecount"] == 8


async def test_v2_without_ratecounter_has_no_ratecount(sim: Sim, v2: Ws) -> None:
    sim.add()
    await v2.send(_v2(sim, "subscribe", channel="executions"))
    await v2.recv()
    assert "ratecount" not in (await v2.recv())["data"][0]


async def test_v1_ratecounter_as_the_docs_example_writes_it(sim: Sim, v1: Ws) -> None:
    young = sim.add(age_s=1)
    sub = {"name": "openOrders", "token": sim.spot_token(), "ratecounter": "true"}
    await v1.send({"event": "subscribe", "subscription": sub})
    status = await v1.recv()
    assert status["status"] == "subscribed" and status["subscription"]["maxratecount"] == 125
    snapshot = await v1.recv()
    assert snapshot[0][0][young.order_id]["ratecount"] == 0
    sim.exchange.limits.enabled = True
    await v1.send({"event": "cancelOrder", "token": sim.spot_token(), "txid": [young.order_id]})
    update = await v1.until(lambda m: isinstance(m, list))
    assert update[0][0][young.order_id]["ratecount"] == 8

"""Ground truth: ``/_sim/truth`` says what became of every order, and who did it."""

from __future__ import annotations

import asyncio
import random

import pytest

from app.sim.state import MarketActivity
from tests.sim.kraken import Sim, ws_connect

pytestmark = pytest.mark.timeout(30)


async def test_a_rest_cancel_is_the_requests_doing(sim: Sim) -> None:
    order = sim.add()
    kept = sim.add()
    assert (await sim.spot().call("CancelOrder", {"txid": order.order_id}))["result"]["count"] == 1
    truth = await sim.truth()
    assert truth["orders"][order.order_id]["state"] == "cancelled"
    assert truth["orders"][order.order_id]["by"] == {
        "kind": "request",
        "host": "spot_rest",
        "method": "POST",
        "path": "/0/private/CancelOrder",
    }
    assert truth["orders"][order.order_id]["reason"] == "User requested"
    assert truth["orders"][kept.order_id]["state"] == "open" and "by" not in truth["orders"][kept.order_id]
    assert truth["counts"]["cancelled"] == 1 and truth["counts"]["open"] == 1
    assert truth["counts"]["by"]["cancelled"] == {"request": 1}


async def test_cancel_all_deadman_and_ws_cancels_are_told_apart(sim: Sim) -> None:
    first, second = sim.add(), sim.add()
    await sim.spot().call("CancelAll")
    by_ws = sim.add()
    async with ws_connect(sim.urls["spot_ws_v2"]) as ws:
        await ws.recv()  # status
        token = sim.spot_token()
        await ws.send({"method": "cancel_order", "params": {"order_id": [by_ws.order_id], "token": token}})
        assert (await ws.recv())["success"] is True
    by_switch = sim.add()
    sim.exchange.arm_deadman("spot", 0.05)
    for _ in range(100):
        if sim.status(by_switch.order_id) == "canceled":
            break
        await asyncio.sleep(0.02)
    orders = (await sim.truth())["orders"]
    assert orders[first.order_id]["by"]["kind"] == orders[second.order_id]["by"]["kind"] == "cancel_all"
    assert orders[first.order_id]["by"]["path"] == "/0/private/CancelAll"
    assert orders[by_ws.order_id]["by"] == {
        "kind": "request",
        "host": "spot_ws",
        "method": "cancel_order",
        "path": "/v2",
    }
    assert orders[by_switch.order_id]["by"] == {"kind": "deadman"}
    assert orders[by_switch.order_id]["reason"] == "dead_man_switch"


async def test_futures_cancel_all_is_a_cancel_all(sim: Sim) -> None:
    order = sim.add("futures", "PF_XBTUSD")
    reply = await sim.futures().call("POST", "cancelallorders")
    assert reply["cancelStatus"]["status"] == "cancelled"
    by = (await sim.truth("futures"))["orders"][order.order_id]["by"]
    assert by == {
        "kind": "cancel_all",
        "host": "futures",
        "method": "POST",
        "path": "/derivatives/api/v3/cancelallorders",
    }


async def test_market_activity_marks_its_fills_cancels_edits_and_new_orders(sim: Sim) -> None:
    for _ in range(6):
        sim.add()

    def activity(**shares: float) -> MarketActivity:
        return MarketActivity(sim.exchange, random.Random(5), accounts=["spot"], **shares)

    cancel = activity(expire_share=0, cancel_share=1, replace_share=0)
    cancelled = cancel.step()
    replace = activity(expire_share=0, cancel_share=0, replace_share=1)
    replaced = replace.step()
    fill = activity(expire_share=0, cancel_share=0, replace_share=0)
    fills = [fill.step() for _ in range(6)]
    assert cancelled is not None and cancelled.kind == "canceled"
    assert replaced is not None and replaced.kind == "replaced" and replaced.replaced_by
    truth = await sim.truth()
    orders = truth["orders"]
    assert orders[cancelled.order.order_id]["state"] == "cancelled"
    assert orders[cancelled.order.order_id]["by"] == {"kind": "activity"}
    old = orders[replaced.order.order_id]
    assert old["state"] == "replaced" and old["replaced_by"] == replaced.replaced_by
    assert old["by"] == {"kind": "activity"} and old["reason"] == "Order replaced"
    assert orders[replaced.replaced_by]["created_by"] == {"kind": "activity"}
    filled = [e for e in fills if e is not None and e.kind == "fill"]
    assert filled
    for event in filled:
        assert all(f["by"] == {"kind": "activity"} for f in orders[event.order.order_id]["fills"])
    assert truth["counts"]["by"]["cancelled"] == {"activity": 1}


async def test_control_and_seed_orders_are_attributed(sim: Sim) -> None:
    sim.exchange.seed_demo(3, seed=1, kinds=("spot",), n_other=0)
    made = await sim.control("/_sim/orders", {"account": "spot", "n": 2})
    filled = made["order_ids"][0]
    await sim.control("/_sim/fill", {"account": "spot", "order_id": filled})
    await sim.control("/_sim/cancel", {"account": "spot", "order_id": made["order_ids"][1]})
    truth = await sim.truth()
    assert truth["counts"]["by"]["created"] == {"seed": 3, "control": 2}
    assert truth["orders"][filled]["state"] == "filled"
    assert truth["orders"][filled]["by"] == {
        "kind": "control",
        "host": "control",
        "method": "POST",
        "path": "/_sim/fill",
    }
    assert truth["orders"][made["order_ids"][1]]["by"]["path"] == "/_sim/cancel"


async def test_every_host_answers_truth_and_unknown_accounts_are_404(sim: Sim) -> None:
    sim.add()
    bases = [sim.urls["spot_rest"], sim.urls["futures_rest"], sim.urls["control"]]
    bases += [sim.urls["prime_ws"].replace("ws://", "http://").removesuffix("/ws/v1")]
    bases += [sim.urls["spot_ws_v1"].replace("ws://", "http://").rstrip("/")]
    for base in bases:
        reply = await sim.http.get(base + "/_sim/truth", params={"account": "spot"})
        assert reply.status_code == 200 and reply.json()["counts"]["open"] == 1, base
    assert (
        await sim.http.get(sim.urls["control"] + "/_sim/truth", params={"account": "nobody"})
    ).status_code == 404

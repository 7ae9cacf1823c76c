"""Faults after the cancel was applied: the exchange acts, then the reply goes wrong (truth says so)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.sim.kraken import Sim

pytestmark = pytest.mark.timeout(30)

SPOT = "spot_rest"


async def _spot_cancels(sim: Sim, form: str) -> tuple[list[str], httpx.Response | Exception]:
    """Send one Spot REST cancel of the given form; return the ids it names and what came back."""
    orders = [sim.add().order_id for _ in range(3)]
    requests: dict[str, tuple[str, dict[str, Any], bool]] = {
        "single": ("CancelOrder", {"txid": orders[0]}, False),
        "batch": ("CancelOrderBatch", {"orders": orders}, True),
        "all": ("CancelAll", {}, False),
    }
    method, params, as_json = requests[form]
    try:
        reply: httpx.Response | Exception = await sim.spot().raw(method, params, as_json=as_json, timeout=1.0)
    except httpx.HTTPError as e:
        reply = e
    return orders[:1] if form == "single" else orders, reply


async def _cancelled_by(sim: Sim, order_ids: list[str], account: str = "spot") -> set[str]:
    orders = (await sim.truth(account))["orders"]
    assert all(orders[o]["state"] == "cancelled" for o in order_ids), {
        o: orders[o]["state"] for o in order_ids
    }
    return {orders[o]["by"]["kind"] for o in order_ids}


@pytest.mark.parametrize("form", ["single", "batch", "all"])
async def test_reply_lost_to_a_dropped_connection(sim: Sim, form: str) -> None:
    sim.faults(SPOT).drop_after_apply = 1
    ids, reply = await _spot_cancels(sim, form)
    assert isinstance(reply, httpx.TransportError)
    assert await _cancelled_by(sim, ids) <= {"request", "cancel_all"}


async def test_no_reply_after_apply(sim: Sim) -> None:
    sim.faults(SPOT).hang_after_apply = 1
    ids, reply = await _spot_cancels(sim, "batch")
    assert isinstance(reply, httpx.ReadTimeout)
    assert await _cancelled_by(sim, ids) == {"request"}


@pytest.mark.parametrize("status", [500, 502, 503, 504, 520, 521, 522, 523, 524])
async def test_5xx_and_cloudflare_pages_after_apply(sim: Sim, status: int) -> None:
    sim.faults(SPOT).patch({"http_5xx_after_apply": 1, "after_apply_status": status})
    ids, reply = await _spot_cancels(sim, "single")
    assert isinstance(reply, httpx.Response) and reply.status_code == status
    assert reply.headers["content-type"].startswith("text/html") and f"Error code {status}" in reply.text
    assert await _cancelled_by(sim, ids) == {"request"}


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        (
            "html_200_after_apply",
            lambda r: r.status_code == 200 and r.text.lstrip().startswith("<!DOCTYPE html>"),
        ),
        ("empty_after_apply", lambda r: r.status_code == 200 and r.content == b""),
        ("garbled_after_apply", lambda r: r.status_code == 200 and b"\x00" in r.content),
    ],
)
async def test_bodies_that_do_not_parse_after_apply(sim: Sim, kind: str, check: Any) -> None:
    sim.faults(SPOT).patch({kind: 1})
    ids, reply = await _spot_cancels(sim, "all")
    assert isinstance(reply, httpx.Response) and check(reply)
    if kind != "html_200_after_apply":
        with pytest.raises(ValueError):
            json.loads(reply.content)
    assert await _cancelled_by(sim, ids) == {"cancel_all"}


async def test_huge_body_after_apply_still_holds_the_answer(sim: Sim) -> None:
    sim.faults(SPOT).huge_after_apply = 1
    ids, reply = await _spot_cancels(sim, "batch")
    assert isinstance(reply, httpx.Response) and len(reply.content) == 4 * 1024 * 1024
    assert reply.json() == {"error": [], "result": {"count": 3}}
    assert await _cancelled_by(sim, ids) == {"request"}


async def test_before_apply_faults_apply_nothing(sim: Sim) -> None:
    sim.faults(SPOT).patch({"drop_connection": 1, "html_error_page": 1})
    for _ in range(2):
        ids, reply = await _spot_cancels(sim, "single")
        assert isinstance(reply, httpx.TransportError) or reply.status_code == 502
        assert sim.status(ids[0]) == "open"
    truth = await sim.truth()
    assert truth["counts"]["cancelled"] == 0


async def test_scope_cancels_spares_listings(sim: Sim) -> None:
    sim.faults(SPOT).patch({"scope": "cancels", "drop_after_apply": 1})
    listing = await sim.spot().call("OpenOrders")
    assert listing["error"] == []
    ids, reply = await _spot_cancels(sim, "single")
    assert isinstance(reply, httpx.TransportError) and sim.status(ids[0]) == "canceled"


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [("cancelorder", "single"), ("batchorder", "batch"), ("cancelallorders", "all")],
)
async def test_futures_after_apply(sim: Sim, endpoint: str, params: str) -> None:
    orders = [sim.add("futures", "PF_XBTUSD").order_id for _ in range(2)]
    body: dict[str, str] = {}
    if params == "single":
        body = {"order_id": orders[0]}
        orders = orders[:1]
    elif params == "batch":
        body = {"json": json.dumps({"batchOrder": [{"order": "cancel", "order_id": o} for o in orders]})}
    sim.faults("futures").patch({"http_5xx_after_apply": 1, "after_apply_status": 524})
    reply = await sim.futures().raw("POST", endpoint, body)
    assert reply.status_code == 524 and "A timeout occurred" in reply.text
    assert await _cancelled_by(sim, orders, "futures") <= {"request", "cancel_all"}
    sim.faults("futures").drop_after_apply = 1
    more = sim.add("futures", "PF_XBTUSD").order_id
    with pytest.raises(httpx.TransportError):
        await sim.futures().raw("POST", "cancelorder", {"order_id": more})
    assert await _cancelled_by(sim, [more], "futures") == {"request"}

"""Kraken's own status (SystemStatus, WS status messages, Futures notifications) and instrument data."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.sim.kraken import Sim, ws_connect

pytestmark = pytest.mark.timeout(30)


async def test_system_status_rest_and_pushed_on_both_ws_versions(sim: Sim) -> None:
    status = (await sim.http.get(sim.urls["spot_rest"] + "/0/public/SystemStatus")).json()
    assert status["error"] == [] and status["result"]["status"] == "online"
    datetime.strptime(status["result"]["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    async with ws_connect(sim.urls["spot_ws_v2"]) as v2, ws_connect(sim.urls["spot_ws_v1"]) as v1:
        first2, first1 = await v2.recv(), await v1.recv()
        assert first2["channel"] == "status" and first2["data"][0]["system"] == "online"
        assert first1["event"] == "systemStatus" and first1["status"] == "online"
        await sim.control("/_sim/status", {"status": "maintenance"})
        pushed2, pushed1 = await v2.recv(), await v1.recv()
        assert (pushed2["channel"], pushed2["type"], pushed2["data"][0]["system"]) == (
            "status",
            "update",
            "maintenance",
        )
        assert (pushed1["event"], pushed1["status"]) == ("systemStatus", "maintenance")
        assert pushed1["connectionID"] == first1["connectionID"]
        sim.faults("spot_ws").system_status = "cancel_only"  # its own faults now: only it changes
        assert (await v2.recv())["data"][0]["system"] == "cancel_only"
        assert (await v1.recv())["status"] == "cancel_only"
        assert await v2.quiet(0.2) == []
    status = (await sim.http.get(sim.urls["spot_rest"] + "/0/public/SystemStatus")).json()
    assert status["result"]["status"] == "maintenance"


async def test_maintenance_fails_cancels_and_cancel_only_lets_them_through(sim: Sim) -> None:
    order = sim.add()
    future = sim.add("futures", "PF_XBTUSD")
    await sim.control("/_sim/status", {"status": "maintenance"})
    assert (await sim.spot().call("CancelOrder", {"txid": order.order_id}))["error"] == [
        "EService:Unavailable"
    ]
    assert (await sim.futures().call("POST", "cancelorder", {"order_id": future.order_id}))[
        "error"
    ] == "Unavailable"
    async with ws_connect(sim.urls["spot_ws_v2"]) as v2:
        await v2.recv()
        await v2.send({"method": "cancel_all", "params": {"token": sim.spot_token()}, "req_id": 1})
        assert (await v2.recv())["error"] == "EService:Unavailable"
    assert sim.status(order.order_id) == "open"
    await sim.control("/_sim/status", {"status": "cancel_only", "hosts": ["spot_rest"]})
    assert (await sim.spot().call("CancelOrder", {"txid": order.order_id}))["result"]["count"] == 1
    add = await sim.spot().call(
        "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "1", "price": "1"}
    )
    assert add["error"] == ["EService:Market in cancel_only mode"]


async def test_futures_notifications_with_scheduled_maintenance(sim: Sim) -> None:
    empty = await sim.futures().call("GET", "notifications")
    assert empty["result"] == "success" and empty["notifications"] == []
    settings = await sim.control(
        "/_sim/hosts/futures/settings",
        {"schedule_maintenance": {"effective_time": "2030-01-02T03:04:05Z", "expected_downtime_minutes": 45}},
    )
    (notice,) = settings["notifications"]
    listed = await sim.futures().call("GET", "notifications")
    assert listed["notifications"] == [notice]
    assert notice["type"] == "maintenance" and notice["priority"] == "high"
    assert notice["effectiveTime"] == "2030-01-02T03:04:05.000Z" and notice["expectedDowntimeMinutes"] == 45
    unsigned = await sim.http.get(sim.urls["futures_rest"] + "/derivatives/api/v3/notifications")
    assert unsigned.json()["error"] == "authenticationError"  # the spec asks for a (read-only) key
    bad = await sim.http.post(
        sim.urls["control"] + "/_sim/hosts/futures/settings", json={"auth_failure": "maybe"}
    )
    assert bad.status_code == 400


async def test_spot_asset_pairs(sim: Sim) -> None:
    reply = (await sim.http.get(sim.urls["spot_rest"] + "/0/public/AssetPairs")).json()
    assert reply["error"] == []
    pairs = reply["result"]
    assert {"XXBTZUSD", "XETHZEUR", "SOLUSD", "ADAUSD", "XXRPZEUR", "XLTCZUSD"} <= set(pairs)
    xbt = pairs["XXBTZUSD"]
    assert (xbt["altname"], xbt["wsname"], xbt["base"], xbt["quote"]) == ("XBTUSD", "XBT/USD", "XXBT", "ZUSD")
    assert (xbt["pair_decimals"], xbt["lot_decimals"], xbt["tick_size"], xbt["status"]) == (
        1,
        8,
        "0.1",
        "online",
    )
    assert pairs["ADAUSD"]["pair_decimals"] == 6 and pairs["ADAUSD"]["tick_size"] == "0.000001"
    some = (
        await sim.http.get(sim.urls["spot_rest"] + "/0/public/AssetPairs", params={"pair": "XBTUSD,ETH/EUR"})
    ).json()
    assert set(some["result"]) == {"XXBTZUSD", "XETHZEUR"}
    bad = (
        await sim.http.get(sim.urls["spot_rest"] + "/0/public/AssetPairs", params={"pair": "DOGEUSD"})
    ).json()
    assert bad == {"error": ["EQuery:Unknown asset pair"]}


async def test_futures_instruments(sim: Sim) -> None:
    reply = (await sim.http.get(sim.urls["futures_rest"] + "/derivatives/api/v3/instruments")).json()
    assert reply["result"] == "success" and reply["serverTime"].endswith("Z")
    by_symbol = {i["symbol"]: i for i in reply["instruments"]}
    assert set(by_symbol) == {"PF_XBTUSD", "PF_ETHUSD", "PF_SOLUSD", "PF_XRPUSD"}
    xbt = by_symbol["PF_XBTUSD"]
    assert (xbt["tickSize"], xbt["contractValueTradePrecision"], xbt["pair"], xbt["tradeable"]) == (
        1.0,
        4,
        "XBT:USD",
        True,
    )
    assert (by_symbol["PF_XRPUSD"]["tickSize"], by_symbol["PF_XRPUSD"]["contractValueTradePrecision"]) == (
        0.0001,
        0,
    )
    assert json.dumps(reply)  # plain JSON

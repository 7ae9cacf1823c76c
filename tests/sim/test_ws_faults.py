"""WebSocket faults: lost, doubled and reordered replies, sequence gaps, late and malformed snapshots."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.sim.kraken import Sim, Ws, sign_challenge, ws_connect

pytestmark = pytest.mark.timeout(30)


async def _v2(sim: Sim) -> AsyncIterator[Ws]:
    async with ws_connect(sim.urls["spot_ws_v2"]) as ws:
        assert (await ws.recv())["channel"] == "status"
        yield ws


def _cancel(sim: Sim, ids: list[str], req_id: int = 1, key: str = "order_id") -> dict[str, Any]:
    return {"method": "cancel_order", "params": {key: ids, "token": sim.spot_token()}, "req_id": req_id}


async def _subscribe_v2(sim: Sim, ws: Ws, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    await ws.send(
        {"method": "subscribe", "params": {"channel": "executions", "token": sim.spot_token(), **params}}
    )
    ack = await ws.recv()
    snapshot = await ws.until(lambda m: m.get("type") == "snapshot")
    return ack, snapshot


# --------------------------------------------------------------------------- replies


async def test_lost_reply_applies_the_cancel_and_keeps_the_socket(sim: Sim, v2: Ws) -> None:
    order = sim.add()
    sim.faults("spot_ws").lost_reply = 1
    await v2.send(_cancel(sim, [order.order_id]))
    assert await v2.quiet(0.4) == []
    assert sim.status(order.order_id) == "canceled"
    await v2.send({"method": "ping", "req_id": 9})
    assert (await v2.recv())["method"] == "pong"
    orders = (await sim.truth())["orders"]
    assert orders[order.order_id]["state"] == "cancelled"
    assert orders[order.order_id]["by"]["method"] == "cancel_order"


async def test_duplicate_replies(sim: Sim, v2: Ws) -> None:
    orders = [sim.add().order_id for _ in range(2)]
    sim.faults("spot_ws").duplicate_reply = 1
    token = sim.spot_token()
    await v2.send({"method": "batch_cancel", "params": {"orders": orders, "token": token}, "req_id": 4})
    first, second = await v2.recv(), await v2.recv()
    assert first == second and first["result"] == {"count": 2}
    assert await v2.quiet(0.3) == []


async def test_replies_out_of_order(sim: Sim, v2: Ws) -> None:
    a, b = sim.add().order_id, sim.add().order_id
    sim.faults("spot_ws").reorder_replies = 2
    await v2.send(_cancel(sim, [a, b], req_id=1))
    replies = [await v2.recv(), await v2.recv()]
    assert [r["result"]["order_id"] for r in replies] == [b, a]  # several replies: reversed
    c, d = sim.add().order_id, sim.add().order_id
    await v2.send(_cancel(sim, [c], req_id=2))  # a single reply: held back...
    await v2.send(_cancel(sim, [d], req_id=3))
    later = [await v2.recv(), await v2.recv()]
    assert [r["req_id"] for r in later] == [3, 2]  # ...until after the next request's


async def test_drop_after_apply_on_the_socket(sim: Sim, v2: Ws) -> None:
    order = sim.add()
    sim.faults("spot_ws").drop_after_apply = 1
    await v2.send({"method": "cancel_all", "params": {"token": sim.spot_token()}, "req_id": 1})
    with pytest.raises(ConnectionClosed):
        await v2.recv()
    assert (await sim.truth())["orders"][order.order_id]["by"]["kind"] == "cancel_all"


async def test_v1_lost_and_duplicate_replies(sim: Sim, v1: Ws) -> None:
    a, b = sim.add().order_id, sim.add().order_id
    faults = sim.faults("spot_ws")
    faults.lost_reply = 1
    await v1.send({"event": "cancelOrder", "token": sim.spot_token(), "txid": [a], "reqid": 1})
    assert await v1.quiet(0.3) == [] and sim.status(a) == "canceled"
    faults.duplicate_reply = 1
    await v1.send({"event": "cancelOrder", "token": sim.spot_token(), "txid": [b], "reqid": 2})
    assert [await v1.recv(), await v1.recv()] == [
        {"event": "cancelOrderStatus", "status": "ok", "reqid": 2}
    ] * 2


async def test_business_faults_answer_ws_cancels_unapplied(sim: Sim, v2: Ws) -> None:
    order = sim.add()
    faults = sim.faults("spot_ws")
    faults.patch({"too_many_requests": 1, "throttled_no_ts": 1})
    await v2.send(_cancel(sim, [order.order_id], req_id=1))
    assert (await v2.recv())["error"] == "EGeneral:Too many requests"
    await v2.send(_cancel(sim, [order.order_id], req_id=2))
    assert (await v2.recv())["error"] == "EService:Throttled"
    assert sim.status(order.order_id) == "open"


# --------------------------------------------------------------------------- streams


async def test_skipped_sequence_and_lost_delta(sim: Sim, v2: Ws) -> None:
    _ack, snapshot = await _subscribe_v2(sim, v2)
    assert snapshot["sequence"] == 1
    faults = sim.faults("spot_ws")
    faults.skip_sequence = 1
    sim.add()  # pending_new (seq 3: 2 skipped), new (4)
    updates = [await v2.recv(), await v2.recv()]
    assert [u["sequence"] for u in updates] == [3, 4]
    faults.lost_delta = 1
    order = sim.add()  # pending_new lost (5), new (6)
    update = await v2.recv()
    assert update["sequence"] == 6 and update["data"][0]["exec_type"] == "new"
    assert update["data"][0]["order_id"] == order.order_id


async def test_snapshot_delayed_after_the_ack(sim: Sim, v2: Ws) -> None:
    sim.add()
    sim.faults("spot_ws").snapshot_delay_ms = 300
    await v2.send({"method": "subscribe", "params": {"channel": "executions", "token": sim.spot_token()}})
    ack = await v2.recv()
    acked = time.monotonic()
    assert ack["success"] is True
    snapshot = await v2.recv()
    assert snapshot["type"] == "snapshot" and time.monotonic() - acked >= 0.25
    assert len(snapshot["data"]) == 1


async def test_malformed_order_in_snapshots_v2_and_v1(sim: Sim, v2: Ws, v1: Ws) -> None:
    sim.add()
    sim.add(symbol="ETH/USD", price="3000")
    faults = sim.faults("spot_ws")
    faults.malformed_order = 1
    _ack, snapshot = await _subscribe_v2(sim, v2)
    bad, good = snapshot["data"]
    assert bad["order_qty"] == "not-a-number" and good["order_qty"] == 0.5
    faults.malformed_order = 1
    await v1.send({"event": "subscribe", "subscription": {"name": "openOrders", "token": sim.spot_token()}})
    await v1.recv()  # subscriptionStatus
    entries = (await v1.recv())[0]
    values = [next(iter(e.values()))["vol"] for e in entries]
    assert values == ["not-a-number", "0.50000000"]


async def test_malformed_order_in_rest_listings(sim: Sim) -> None:
    sim.add()
    sim.add()
    sim.faults("spot_rest").malformed_order = 1
    listing = (await sim.spot().call("OpenOrders"))["result"]["open"]
    assert sorted(o["vol"] for o in listing.values()) == ["0.50000000", "not-a-number"]
    again = (await sim.spot().call("OpenOrders"))["result"]["open"]
    assert {o["vol"] for o in again.values()} == {"0.50000000"}
    sim.add("futures", "PF_XBTUSD")
    sim.faults("futures").malformed_order = 1
    (entry,) = (await sim.futures().call("GET", "openorders"))["openOrders"]
    assert entry["unfilledSize"] == "not-a-number"


# --------------------------------------------------------------------------- sessions


async def test_invalid_session_on_the_next_request_and_token_expiry(sim: Sim, v2: Ws) -> None:
    order = sim.add()
    sim.faults("spot_ws").invalid_session = 1
    await v2.send(_cancel(sim, [order.order_id]))
    assert (await v2.recv())["error"] == "ESession:Invalid session"
    await sim.control("/_sim/tokens", {"ttl_s": 0.2})
    token = sim.spot_token()
    await asyncio.sleep(0.3)
    await v2.send({"method": "cancel_all", "params": {"token": token}, "req_id": 2})
    assert (await v2.recv())["error"] == "ESession:Invalid session"
    reply = await sim.spot().call("GetWebSocketsToken")
    assert reply["result"]["expires"] == 1  # GetWebSocketsToken says the TTL in force (whole seconds)
    assert sim.status(order.order_id) == "open"


async def test_socket_without_a_private_subscription_is_closed(sim: Sim) -> None:
    await sim.control("/_sim/hosts/spot_ws/settings", {"unsubscribed_close_s": 0.3})
    async with ws_connect(sim.urls["spot_ws_v2"]) as bare:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            while True:
                await bare.recv(within=3)
        assert time.monotonic() - started >= 0.25
    async for ws in _v2(sim):
        await _subscribe_v2(sim, ws)
        assert await ws.quiet(0.6) == []  # subscribed: kept open
    await sim.control("/_sim/hosts/spot_ws/settings", {"unsubscribed_close_s": None})


# --------------------------------------------------------------------------- futures and prime


async def _futures_feed(sim: Sim, ws: Ws, secret: str | None = None) -> None:
    acct = sim.exchange.account("futures")
    await ws.send({"event": "challenge", "api_key": acct.api_key})
    challenge = (await ws.until(lambda m: m.get("event") == "challenge"))["message"]
    await ws.send(
        {
            "event": "subscribe",
            "feed": "open_orders",
            "api_key": acct.api_key,
            "original_challenge": challenge,
            "signed_challenge": sign_challenge(challenge, secret or acct.secret),
        }
    )


async def test_futures_feed_qty_is_what_remains(sim: Sim) -> None:
    order = sim.add("futures", "PF_XBTUSD", qty="1", price="60000")
    async with ws_connect(sim.urls["futures_ws"]) as ws:
        await _futures_feed(sim, ws)
        snapshot = await ws.until(lambda m: m.get("feed") == "open_orders_snapshot")
        assert (snapshot["orders"][0]["qty"], snapshot["orders"][0]["filled"]) == (1.0, 0.0)
        sim.exchange.fill("futures", order.order_id, "0.14")
        partial = await ws.until(lambda m: m.get("feed") == "open_orders")
        assert (partial["order"]["qty"], partial["order"]["filled"]) == (0.86, 0.14)
        assert partial["reason"] == "partial_fill" and partial["is_cancel"] is False
        sim.exchange.fill("futures", order.order_id)
        full = await ws.until(lambda m: m.get("feed") == "open_orders")
        assert (full["order"]["qty"], full["order"]["filled"]) == (0.0, 1.0)
        assert full["is_cancel"] is True and full["reason"] == "full_fill"
    listing = sim.add("futures", "PF_XBTUSD", qty="1", filled="0.25")
    (entry,) = (await sim.futures().call("GET", "openorders"))["openOrders"]
    assert entry["order_id"] == listing.order_id
    assert (entry["unfilledSize"], entry["filledSize"]) == (0.75, 0.25)


async def test_futures_feed_faults(sim: Sim) -> None:
    sim.add("futures", "PF_XBTUSD")
    faults = sim.faults("futures")
    faults.patch({"snapshot_delay_ms": 300, "malformed_order": 1, "lost_delta": 1})
    async with ws_connect(sim.urls["futures_ws"]) as ws:
        await _futures_feed(sim, ws)
        ack = await ws.until(lambda m: m.get("event") == "subscribed")
        acked = time.monotonic()
        assert ack["feed"] == "open_orders"
        snapshot = await ws.until(lambda m: m.get("feed") == "open_orders_snapshot")
        assert time.monotonic() - acked >= 0.25 and snapshot["orders"][0]["qty"] == "not-a-number"
        lost = sim.add("futures", "PF_XBTUSD")
        seen = sim.add("futures", "PF_XBTUSD")
        delta = await ws.until(lambda m: m.get("feed") == "open_orders")
        assert delta["order"]["order_id"] == seen.order_id != lost.order_id


async def test_futures_sign_in_refused_by_alert(sim: Sim) -> None:
    async with ws_connect(sim.urls["futures_ws"]) as ws:
        await _futures_feed(sim, ws, secret="A" * 88)
        assert (await ws.until(lambda m: m.get("event") != "challenge" and "event" in m))[
            "event"
        ] == "subscribed_failed"
    await sim.control("/_sim/hosts/futures/settings", {"auth_failure": "alert"})
    async with ws_connect(sim.urls["futures_ws"]) as ws:
        await _futures_feed(sim, ws, secret="A" * 88)
        refused = await ws.until(lambda m: m.get("event") not in ("challenge", "info"))
        assert refused == {"event": "alert", "message": "Failed to subscribe to authenticated feed"}


async def test_prime_stream_gaps_and_malformed_initial(sim: Sim) -> None:
    for _ in range(2):
        sim.add("prime", "BTC-USD", cl_ord_id=f"c-{time.time_ns()}")
    acct = sim.exchange.account("prime")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    mac = hmac.new(acct.secret.encode(), f"GET\n{stamp}\n127.0.0.1\n/ws/v1".encode(), hashlib.sha256).digest()
    headers = {
        "ApiKey": acct.api_key,
        "ApiSign": base64.urlsafe_b64encode(mac).decode(),
        "ApiTimestamp": stamp,
    }
    faults = sim.faults("prime")
    faults.malformed_order = 1
    async with connect(sim.urls["prime_ws"], additional_headers=headers) as raw:
        ws = Ws(raw)
        assert (await ws.recv())["type"] == "hello"
        await ws.send({"reqid": 5, "type": "subscribe", "streams": [{"name": "Order"}]})
        initial = await ws.until(lambda m: m.get("type") == "Order")
        assert initial["seqNum"] == 1 and [e["OrderQty"] for e in initial["data"]].count("not-a-number") == 1
        faults.skip_sequence = 1
        sim.add("prime", "BTC-USD", cl_ord_id="x-1")
        assert (await ws.until(lambda m: m.get("type") == "Order"))["seqNum"] == 3
        faults.lost_delta = 1
        sim.add("prime", "BTC-USD", cl_ord_id="x-2")  # lost (4)
        sim.add("prime", "BTC-USD", cl_ord_id="x-3")
        update = await ws.until(lambda m: m.get("type") == "Order")
        assert update["seqNum"] == 5 and update["data"][0]["ClOrdID"] == "x-3"
        assert json.dumps(update)  # still a well-formed message

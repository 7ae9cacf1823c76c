"""The simulated ws-auth host, spoken to by a bare websockets client exactly as Kraken documents."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
import websockets.asyncio.client
import websockets.exceptions

from app.sim.server import SimServer
from app.sim.state import Exchange
from tests.helpers.spot_ws import ACCOUNT, WsSim, ws_simulator

pytestmark = pytest.mark.timeout(30)

US_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TXID = re.compile(r"^O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}$")


@pytest.fixture
async def ws_sim() -> AsyncIterator[WsSim]:
    async with ws_simulator() as sim:
        yield sim


class Client:
    """A bare Kraken WS client: send JSON, read JSON, skipping heartbeats."""

    def __init__(self, ws: websockets.asyncio.client.ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, *, heartbeats: bool = False, within: float = 3.0) -> Any:
        async with asyncio.timeout(within):
            while True:
                message = json.loads(await self.ws.recv())
                if heartbeats or message not in ({"channel": "heartbeat"}, {"event": "heartbeat"}):
                    return message

    async def recv_n(self, n: int) -> list[Any]:
        return [await self.recv() for _ in range(n)]


async def connect(sim: WsSim, which: str = "spot_ws_v2") -> AsyncIterator[Client]:
    async with websockets.asyncio.client.connect(sim.endpoints[which]) as ws:
        client = Client(ws)
        yield client


@pytest.fixture
async def v2(ws_sim: WsSim) -> AsyncIterator[Client]:
    async for client in connect(ws_sim):
        status = await client.recv()
        assert status["channel"] == "status" and status["data"][0]["system"] == "online"
        yield client


@pytest.fixture
async def v1(ws_sim: WsSim) -> AsyncIterator[Client]:
    async for client in connect(ws_sim, "spot_ws_v1"):
        status = await client.recv()
        assert status["event"] == "systemStatus" and status["status"] == "online"
        yield client


def token(sim: WsSim, account: str = ACCOUNT) -> str:
    return sim.exchange.issue_token(account).token


# --------------------------------------------------------------------------- v2


async def test_v2_status_on_connect_and_ping(ws_sim: WsSim) -> None:
    async for client in connect(ws_sim):
        status = await client.recv()
        assert status["type"] == "update" and status["data"][0]["api_version"] == "v2"
        assert isinstance(status["data"][0]["connection_id"], int)
        await client.send({"method": "ping", "req_id": 101})
        pong = await client.recv()
        assert pong["method"] == "pong" and pong["req_id"] == 101
        assert US_TIME.match(pong["time_in"]) and US_TIME.match(pong["time_out"])


async def test_v2_subscribe_ack_snapshot_and_sparse_updates(ws_sim: WsSim, v2: Client) -> None:
    [resting] = ws_sim.add(1, userref=3)
    tok = token(ws_sim)
    await v2.send({"method": "subscribe", "params": {"channel": "executions", "token": tok}, "req_id": 1})
    ack, snapshot = await v2.recv_n(2)
    assert ack["method"] == "subscribe" and ack["success"] is True and ack["req_id"] == 1
    assert ack["result"]["channel"] == "executions" and ack["result"]["maxratecount"] == 125
    assert (snapshot["channel"], snapshot["type"], snapshot["sequence"]) == ("executions", "snapshot", 1)
    [report] = snapshot["data"]
    assert report["order_id"] == resting.order_id and report["symbol"] == "BTC/USD"
    assert report["order_qty"] == 0.5 and report["limit_price"] == 60000.0 and report["order_userref"] == 3
    assert report["order_status"] == "new" and US_TIME.match(report["timestamp"])

    [new] = ws_sim.add(1, cl_ord_id="c-1")
    pending, live = await v2.recv_n(2)
    assert [pending["sequence"], live["sequence"]] == [2, 3]
    assert pending["data"][0]["exec_type"] == "pending_new" and pending["data"][0]["symbol"] == "BTC/USD"
    assert live["data"][0] == {
        "order_id": new.order_id,
        "exec_type": "new",
        "order_status": "new",
        "timestamp": live["data"][0]["timestamp"],
        "cl_ord_id": "c-1",
    }
    ws_sim.exchange.fill(ACCOUNT, new.order_id)
    trade, filled = await v2.recv_n(2)
    assert trade["data"][0]["exec_type"] == "trade" and trade["data"][0]["last_qty"] == 0.5
    assert filled["data"][0]["exec_type"] == "filled" and filled["data"][0]["order_status"] == "filled"
    ws_sim.exchange.cancel(ACCOUNT, resting.order_id)
    [cancelled] = (await v2.recv())["data"]
    assert cancelled["order_status"] == "canceled" and cancelled["reason"] == "User requested"
    assert "symbol" not in cancelled  # updates are sparse


async def test_v2_subscribe_refuses_bad_tokens(ws_sim: WsSim, v2: Client) -> None:
    await v2.send({"method": "subscribe", "params": {"channel": "executions", "token": "nope"}, "req_id": 9})
    reply = await v2.recv()
    assert reply["success"] is False and reply["error"] == "ESession:Invalid session" and reply["req_id"] == 9
    await v2.send(
        {"method": "subscribe", "params": {"channel": "book", "token": token(ws_sim)}, "req_id": 10}
    )
    assert (await v2.recv())["success"] is False


async def test_v2_cancel_order_answers_once_per_order(ws_sim: WsSim, v2: Client) -> None:
    a, b = ws_sim.add(2)
    shared = ws_sim.add(3, userref=77)
    tok = token(ws_sim)
    params = {"order_id": [a.order_id, "OUNKNO-WNAAA-AAAAAA", b.order_id], "token": tok}
    await v2.send({"method": "cancel_order", "params": params, "req_id": 5})
    replies = await v2.recv_n(3)
    assert all(r["method"] == "cancel_order" and r["req_id"] == 5 for r in replies)
    assert [r["result"]["order_id"] for r in replies if r["success"]] == [a.order_id, b.order_id]
    [error] = [r for r in replies if not r["success"]]
    assert error["error"] == "EOrder:Invalid order" and "result" not in error  # never known
    await v2.send({"method": "cancel_order", "params": {"order_userref": [77], "token": tok}, "req_id": 6})
    replies = await v2.recv_n(3)
    assert {r["result"]["order_id"] for r in replies} == {o.order_id for o in shared}
    assert ws_sim.exchange.open_count(ACCOUNT) == 0


async def test_v2_batch_cancel_as_in_the_seed(ws_sim: WsSim, v2: Client) -> None:
    made = ws_sim.add(3, userref=1)
    tok = token(ws_sim)
    request = {
        "method": "batch_cancel",
        "params": {"orders": ["1", made[0].order_id, "ORDERX-IDXXX-XXXXX3"], "token": tok},
        "req_id": 1234567890,
    }
    await v2.send(request)
    reply = await v2.recv()
    assert reply["method"] == "batch_cancel" and reply["req_id"] == 1234567890 and reply["success"] is True
    assert reply["result"] == {"count": 3}
    assert US_TIME.match(reply["time_in"]) and reply["time_in"] <= reply["time_out"]
    for n in (1, 51):
        ids = [f"O{i:05d}-AAAAA-AAAAAA" for i in range(n)]
        await v2.send({"method": "batch_cancel", "params": {"orders": ids, "token": tok}, "req_id": n})
        refused = await v2.recv()
        assert refused["success"] is False and refused["error"].startswith("EGeneral:Invalid arguments")


async def test_v2_cancel_all_and_dead_mans_switch(ws_sim: WsSim, v2: Client) -> None:
    ws_sim.add(4)
    tok = token(ws_sim)
    await v2.send({"method": "cancel_all", "params": {"token": tok}, "req_id": 1})
    assert (await v2.recv())["result"] == {"count": 4}
    await v2.send({"method": "cancel_all_orders_after", "params": {"timeout": 60, "token": tok}, "req_id": 2})
    armed = await v2.recv()
    assert armed["success"] and armed["result"]["triggerTime"] != "0"
    assert ws_sim.exchange.deadman_trigger_time(ACCOUNT) is not None
    await v2.send({"method": "cancel_all_orders_after", "params": {"timeout": 0, "token": tok}, "req_id": 3})
    assert (await v2.recv())["result"]["triggerTime"] == "0"
    assert ws_sim.exchange.deadman_trigger_time(ACCOUNT) is None
    await v2.send(
        {"method": "cancel_all_orders_after", "params": {"timeout": 86400, "token": tok}, "req_id": 4}
    )
    assert (await v2.recv())["error"] == "EGeneral:Invalid arguments:timeout"


async def test_v2_tokens_expire_unless_used_and_can_be_invalidated(ws_sim: WsSim, v2: Client) -> None:
    unused, used = token(ws_sim), token(ws_sim)
    await v2.send({"method": "subscribe", "params": {"channel": "executions", "token": used}, "req_id": 1})
    await v2.recv_n(2)
    ws_sim.clock.offset += 901
    await v2.send({"method": "cancel_all", "params": {"token": unused}, "req_id": 2})
    assert (await v2.recv())["error"] == "ESession:Invalid session"
    await v2.send({"method": "cancel_all", "params": {"token": used}, "req_id": 3})
    assert (await v2.recv())["success"] is True
    ws_sim.exchange.invalidate_tokens(ACCOUNT)
    await v2.send({"method": "cancel_all", "params": {"token": used}, "req_id": 4})
    assert (await v2.recv())["error"] == "ESession:Invalid session"


async def test_v2_permission_and_maintenance(ws_sim: WsSim, v2: Client) -> None:
    ws_sim.exchange.add_account("ro", "spot", permissions=["query", "websocket"])
    await v2.send({"method": "cancel_all", "params": {"token": token(ws_sim, "ro")}, "req_id": 1})
    assert (await v2.recv())["error"] == "EGeneral:Permission denied"
    ws_sim.ws_faults.system_status = "maintenance"
    pushed = await v2.recv()  # the status channel says so first
    assert pushed["channel"] == "status" and pushed["data"][0]["system"] == "maintenance"
    await v2.send({"method": "cancel_all", "params": {"token": token(ws_sim)}, "req_id": 2})
    assert (await v2.recv())["error"] == "EService:Unavailable"


async def test_v2_heartbeats_when_quiet(v2: Client) -> None:
    assert await v2.recv(heartbeats=True, within=1.0) == {"channel": "heartbeat"}


async def test_idle_connection_is_closed(ws_sim: WsSim) -> None:
    ws_sim.host.idle_timeout_s = 0.3
    async for client in connect(ws_sim):
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            async with asyncio.timeout(3):
                while True:
                    await client.ws.recv()


async def test_latency_applies_to_requests_after_their_arrival_is_recorded(ws_sim: WsSim, v2: Client) -> None:
    ws_sim.ws_faults.latency_ms = 300
    started = time.monotonic()
    await v2.send({"method": "ping", "req_id": 1})
    await asyncio.sleep(0.15)
    assert ws_sim.arrivals("v2:ping") == 1  # recorded on receipt, as the wire saw it, not after the delay
    await v2.recv()
    assert time.monotonic() - started >= 0.3


async def test_drop_fault_closes_without_answer_or_effect(ws_sim: WsSim, v2: Client) -> None:
    [order] = ws_sim.add(1)
    ws_sim.ws_faults.drop_connection = 1
    await v2.send(
        {"method": "cancel_order", "params": {"order_id": [order.order_id], "token": token(ws_sim)}}
    )
    with pytest.raises(websockets.exceptions.ConnectionClosedError):
        await v2.recv()
    assert ws_sim.status(order.order_id) == "open"


async def test_mid_batch_drop_cancels_part_then_drops(ws_sim: WsSim, v2: Client) -> None:
    made = ws_sim.add(4)
    ws_sim.host.drop_mid_batch = 1
    params = {"orders": [o.order_id for o in made], "token": token(ws_sim)}
    await v2.send({"method": "batch_cancel", "params": params, "req_id": 1})
    with pytest.raises(websockets.exceptions.ConnectionClosedError):
        await v2.recv()
    assert [ws_sim.status(o.order_id) for o in made] == ["canceled", "canceled", "open", "open"]


async def test_control_endpoint_and_drop_all(ws_sim: WsSim, v2: Client) -> None:
    base = ws_sim.endpoints["spot_ws_v2"].replace("ws://", "http://").removesuffix("/v2")
    async with httpx.AsyncClient() as http:
        settings = (await http.get(base + "/_sim/ws")).json()
        assert settings["connections"] == 1 and settings["idle_timeout_s"] == 60.0
        patched = (await http.post(base + "/_sim/ws", json={"drop_mid_batch": 2, "drop_all": True})).json()
    assert patched["drop_mid_batch"] == 2
    with pytest.raises(websockets.exceptions.ConnectionClosedError):
        await v2.recv()


# --------------------------------------------------------------------------- v1


async def test_v1_ping_subscribe_snapshot_and_updates(ws_sim: WsSim, v1: Client) -> None:
    [order] = ws_sim.add(1, userref=5, cl_ord_id="c-9")
    await v1.send({"event": "ping", "reqid": 42})
    assert await v1.recv() == {"event": "pong", "reqid": 42}
    await v1.send(
        {"event": "subscribe", "reqid": 7, "subscription": {"name": "openOrders", "token": token(ws_sim)}}
    )
    status, snapshot = await v1.recv_n(2)
    assert status == {
        "channelName": "openOrders",
        "event": "subscriptionStatus",
        "reqid": 7,
        "subscription": {"name": "openOrders"},
        "status": "subscribed",
    }
    assert snapshot[1:] == ["openOrders", {"sequence": 1}]
    [[txid, fields]] = [next(iter(entry.items())) for entry in snapshot[0]]
    assert txid == order.order_id and TXID.match(txid)
    assert fields["descr"]["pair"] == "XBT/USD" and fields["descr"]["price"] == "60000.0"
    assert (fields["vol"], fields["status"], fields["userref"], fields["cl_ord_id"]) == (
        "0.50000000",
        "open",
        5,
        "c-9",
    )
    ws_sim.exchange.cancel(ACCOUNT, order.order_id)
    update = await v1.recv()
    assert update[1:] == ["openOrders", {"sequence": 2}]
    assert update[0][0][order.order_id]["status"] == "canceled"
    assert update[0][0][order.order_id]["cancel_reason"] == "User requested"


async def test_v1_cancel_order_as_in_the_seed(ws_sim: WsSim, v1: Client) -> None:
    a, b = ws_sim.add(2)
    request = {
        "event": "cancelOrder",
        "token": token(ws_sim),
        "txid": [a.order_id, "OGTT3Y-C6I3P-X2I6HX", b.order_id],
    }
    await v1.send({**request, "reqid": 3})
    replies = await v1.recv_n(3)
    assert replies.count({"event": "cancelOrderStatus", "status": "ok", "reqid": 3}) == 2
    assert {
        "errorMessage": "EOrder:Invalid order",  # an id the exchange never knew (API-FACTS 11)
        "event": "cancelOrderStatus",
        "status": "error",
        "reqid": 3,
    } in replies
    await v1.send(request)  # without reqid, exactly the seed's request: the answers carry none
    replies = await v1.recv_n(3)
    assert all(r["status"] == "error" and "reqid" not in r for r in replies)


async def test_v1_cancel_all_cancel_after_and_token_errors(ws_sim: WsSim, v1: Client) -> None:
    ws_sim.add(2)
    tok = token(ws_sim)
    await v1.send({"event": "cancelAll", "token": tok, "reqid": 1})
    assert await v1.recv() == {"count": 2, "event": "cancelAllStatus", "status": "ok", "reqid": 1}
    await v1.send({"event": "cancelAllOrdersAfter", "token": tok, "timeout": 0, "reqid": 2})
    reply = await v1.recv()
    assert (
        reply["event"] == "cancelAllOrdersAfterStatus"
        and reply["triggerTime"] == "0"
        and reply["currentTime"]
    )
    await v1.send({"event": "cancelAll", "token": "stale", "reqid": 3})
    assert await v1.recv() == {
        "errorMessage": "ESession:Invalid session",
        "event": "cancelAllStatus",
        "status": "error",
        "reqid": 3,
    }
    await v1.send({"event": "addBananas", "reqid": 4})
    assert (await v1.recv())["event"] == "error"


async def test_v1_heartbeats(v1: Client) -> None:
    assert await v1.recv(heartbeats=True, within=1.0) == {"event": "heartbeat"}


async def test_default_server_serves_both_paths() -> None:
    exchange = Exchange(seed=1)
    server = SimServer(exchange)
    endpoints = await server.start()
    try:
        assert endpoints["spot_ws_v2"].endswith("/v2")
        assert endpoints["spot_ws_v1"].endswith("/")
        assert endpoints["spot_ws_v1"].removesuffix("/") == endpoints["spot_ws_v2"].removesuffix("/v2")
    finally:
        await server.stop()

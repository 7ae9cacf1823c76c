"""The simulated Prime host over real sockets, driven by a bare websockets client (no app.venues code)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.sim.faults import Faults
from app.sim.prime import PrimeHost
from app.sim.server import HostContext, HostSpec, SimServer
from app.sim.state import Account, Exchange

pytestmark = pytest.mark.timeout(30)


@dataclass
class PrimeSim:
    exchange: Exchange
    host: PrimeHost
    url: str
    account: Account
    faults: Faults


@pytest.fixture
async def prime() -> AsyncIterator[PrimeSim]:
    exchange = Exchange(seed=11, rate_limits=False)
    account = exchange.add_account("prime", "prime")
    exchange.generate_orders("prime", 8, random.Random(3))
    hosts: list[PrimeHost] = []

    def build(ctx: HostContext) -> Any:
        hosts.append(PrimeHost(ctx))
        return hosts[0].app()

    faults = Faults()
    server = SimServer(
        exchange, faults, hosts=[HostSpec("prime", build=build, urls=(("prime_ws", "ws://{addr}/ws/v1"),))]
    )
    endpoints = await server.start()
    try:
        yield PrimeSim(exchange, hosts[0], endpoints["prime_ws"], account, faults)
    finally:
        await server.stop()


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _headers(key: str, secret: str, *, t: float | None = None, alphabet: str = "urlsafe") -> dict[str, str]:
    # Kraken's documented steps (API-FACTS 9.1), written here on their own.
    stamp = _stamp(time.time() if t is None else t)
    mac = hmac.new(secret.encode(), f"GET\n{stamp}\n127.0.0.1\n/ws/v1".encode(), hashlib.sha256).digest()
    sign = base64.urlsafe_b64encode(mac) if alphabet == "urlsafe" else base64.b64encode(mac)
    return {"ApiKey": key, "ApiSign": sign.decode(), "ApiTimestamp": stamp}


async def _open(sim: PrimeSim, **kw: Any) -> ClientConnection:
    ws = await connect(sim.url, additional_headers=_headers(sim.account.api_key, sim.account.secret, **kw))
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello" and hello["session_id"]
    return ws


async def _next(ws: ClientConnection, pred: Any = lambda m: True, wait_s: float = 3.0) -> dict[str, Any]:
    async with asyncio.timeout(wait_s):
        while True:
            msg: dict[str, Any] = json.loads(await ws.recv())
            if pred(msg):
                return msg


async def _quiet(ws: ClientConnection, seconds: float = 0.3) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                got.append(json.loads(await ws.recv()))
    except TimeoutError:
        return got


async def _subscribe(ws: ClientConnection, reqid: int, *streams: dict[str, Any]) -> list[dict[str, Any]]:
    await ws.send(json.dumps({"reqid": reqid, "type": "subscribe", "streams": list(streams)}))
    return [await _next(ws, lambda m: m.get("reqid") == reqid and m.get("initial")) for _ in streams]


OPEN = {"name": "Order", "Statuses": "PendingNew,New,PartiallyFilled,PendingCancel"}


async def test_sign_in_then_hello_and_open_order_snapshot(prime: PrimeSim) -> None:
    async with await _open(prime) as ws:
        (snap,) = await _subscribe(ws, 1, OPEN)
    assert snap["type"] == "Order" and snap["initial"] is True and snap["action"] == "Update"
    ids = {e["OrderID"] for e in snap["data"]}
    assert ids == {o.order_id for o in prime.exchange.open_orders("prime")}
    entry = snap["data"][0]
    assert entry["Side"] in ("Buy", "Sell") and entry["Symbol"].count("-") == 1
    assert entry["OrdStatus"] in ("New", "PartiallyFilled") and entry["OrderQty"] and entry["ClOrdID"]


async def test_standard_base64_signature_is_accepted_too(prime: PrimeSim) -> None:
    async with await _open(prime, alphabet="standard") as ws:
        await ws.send(json.dumps({"reqid": 1, "type": "Ping", "ts": "t", "data": [{"x": 1}]}))
        assert (await _next(ws))["type"] == "Pong"


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"secret": "wrong"}, "Invalid signature"),
        ({"t_offset": -31.0}, "30 s"),
        ({"t_offset": 31.0}, "30 s"),
        ({"key": "nobody"}, "Invalid API key"),
    ],
)
async def test_bad_sign_in_is_refused_with_401(prime: PrimeSim, headers: dict[str, Any], words: str) -> None:
    key = headers.get("key", prime.account.api_key)
    secret = headers.get("secret", prime.account.secret)
    t = time.time() + headers.get("t_offset", 0.0)
    with pytest.raises(InvalidStatus) as info:
        await connect(prime.url, additional_headers=_headers(key, secret, t=t))
    assert info.value.response.status_code == 401
    assert words in bytes(info.value.response.body or b"").decode()


async def test_timestamp_inside_the_tolerance_is_accepted(prime: PrimeSim) -> None:
    async with await _open(prime, t=time.time() - 25.0):
        pass


async def test_ping_needs_data_and_errors_carry_seq(prime: PrimeSim) -> None:
    async with await _open(prime) as ws:
        await ws.send(json.dumps({"reqid": 4, "type": "Ping", "ts": "t", "data": [{"n": 7}]}))
        pong = await _next(ws)
        await ws.send(json.dumps({"reqid": 5, "type": "Ping", "ts": "t", "data": []}))
        err = await _next(ws)
        await ws.send(json.dumps({"reqid": 0, "type": "subscribe", "streams": [OPEN]}))
        err0 = await _next(ws)
    assert pong == {"reqid": 4, "type": "Pong", "ts": pong["ts"], "data": [{"n": 7}]}
    assert err["type"] == "error" and err["reqid"] == 5 and err["error"]["msg"] == "missing Ping data"
    assert isinstance(err["seq"], int) and "seqNum" not in err
    assert err0["error"]["code"] and err0["seq"] == err["seq"] + 1


async def test_cancel_request_answers_on_the_streams(prime: PrimeSim) -> None:
    victim = prime.exchange.open_orders("prime")[0]
    async with await _open(prime) as ws:
        await _subscribe(ws, 1, OPEN)
        await _subscribe(ws, 2, {"name": "ExecutionReport"})
        request = {
            "reqid": 13,
            "type": "OrderCancelRequest",
            "data": [
                {
                    "Symbol": victim.symbol,
                    "ClOrdID": "c0be17e0-15da-11ec-b5e7-7f4881f01b7d",
                    "OrderID": victim.order_id,
                    "TransactTime": _stamp(time.time()),
                },
                {
                    "Symbol": "BTC-USD",
                    "ClOrdID": "11111111-15da-11ec-b5e7-7f4881f01b7d",
                    "OrderID": "16a55364-4248-4575-aa0b-dddd3f694ca3",
                    "TransactTime": _stamp(time.time()),
                },
            ],
        }
        await ws.send(json.dumps(request))
        got = await _quiet(ws)
    reports = [e for m in got if m["type"] == "ExecutionReport" for e in m["data"]]
    mine = [(r["ExecType"], r["OrdStatus"]) for r in reports if r["ClOrdID"] == request["data"][0]["ClOrdID"]]  # type: ignore[index]
    assert mine == [("PendingCancel", "PendingCancel"), ("Canceled", "Canceled")]
    unknown = next(r for r in reports if r["ClOrdID"] == request["data"][1]["ClOrdID"])  # type: ignore[index]
    assert unknown["ExecType"] == "CancelRejected" and unknown["OrderID"] == "NONE"
    assert unknown["Text"] == "Unknown order"
    order_msgs = [m for m in got if m["type"] == "Order"]
    assert [m["action"] for m in order_msgs] == ["Update", "Remove"]
    assert order_msgs[1]["data"][0]["OrdStatus"] == "Canceled"
    assert prime.exchange.get_order("prime", victim.order_id).status == "canceled"  # type: ignore[union-attr]
    assert not any(m.get("reqid") == 13 for m in got)  # no dedicated ack (API-FACTS 9.2)


async def test_cancel_of_a_filled_order_is_rejected_as_filled(prime: PrimeSim) -> None:
    victim = prime.exchange.open_orders("prime")[0]
    prime.exchange.fill("prime", victim.order_id)
    async with await _open(prime) as ws:
        await _subscribe(ws, 2, {"name": "ExecutionReport"})
        entry = {
            "Symbol": victim.symbol,
            "ClOrdID": "r-1",
            "OrderID": victim.order_id,
            "TransactTime": _stamp(time.time()),
        }
        await ws.send(json.dumps({"reqid": 3, "type": "OrderCancelRequest", "data": [entry]}))
        report = (await _next(ws, lambda m: m["type"] == "ExecutionReport" and not m["initial"]))["data"][0]
    assert (report["ExecType"], report["OrdStatus"], report["ClOrdID"]) == ("CancelRejected", "Filled", "r-1")


async def test_malformed_cancel_request_is_an_error_and_changes_nothing(prime: PrimeSim) -> None:
    victim = prime.exchange.open_orders("prime")[0]
    async with await _open(prime) as ws:
        good = {
            "Symbol": victim.symbol,
            "ClOrdID": "r-1",
            "OrderID": victim.order_id,
            "TransactTime": _stamp(time.time()),
        }
        await ws.send(
            json.dumps({"reqid": 3, "type": "OrderCancelRequest", "data": [good, {"Symbol": "BTC-USD"}]})
        )
        err = await _next(ws)
    assert err["type"] == "error" and err["reqid"] == 3
    assert victim.is_open


async def test_stream_cancel_stops_the_stream_not_the_orders(prime: PrimeSim) -> None:
    async with await _open(prime) as ws:
        await _subscribe(ws, 1, OPEN)
        await _subscribe(ws, 2, {"name": "ExecutionReport"})
        await ws.send(json.dumps({"reqid": 1, "type": "cancel"}))
        await _quiet(ws, 0.1)
        order = prime.exchange.open_orders("prime")[0]
        prime.exchange.fill("prime", order.order_id, "0.00000001")
        got = await _quiet(ws)
        await ws.send(json.dumps({"reqid": 99, "type": "cancel"}))
        err = await _next(ws)
    assert [m["type"] for m in got] == ["ExecutionReport"]
    assert prime.exchange.open_count("prime") == 8
    assert err["type"] == "error" and err["reqid"] == 99


async def test_order_id_subscription_shows_a_closed_order(prime: PrimeSim) -> None:
    order = prime.exchange.open_orders("prime")[0]
    prime.exchange.cancel("prime", order.order_id)
    async with await _open(prime) as ws:
        (snap,) = await _subscribe(ws, 5, {"name": "Order", "OrderID": order.order_id})
        (none,) = await _subscribe(ws, 6, {"name": "Order", "OrderID": "no-such-order"})
    assert [(e["OrderID"], e["OrdStatus"]) for e in snap["data"]] == [(order.order_id, "Canceled")]
    assert none["data"] == []


async def test_updates_follow_exchange_events(prime: PrimeSim) -> None:
    async with await _open(prime) as ws:
        await _subscribe(ws, 1, OPEN)
        new = prime.exchange.add_order("prime", "ETH-USD", "buy", "limit", "2", "3000", cl_ord_id="cl-new")
        added = await _next(ws, lambda m: m["type"] == "Order")
        prime.exchange.fill("prime", new.order_id, "0.5")
        partial = await _next(ws, lambda m: m["type"] == "Order")
        prime.exchange.fill("prime", new.order_id)
        gone = await _next(ws, lambda m: m["type"] == "Order")
    assert added["initial"] is False and added["data"][0]["OrdStatus"] == "New"
    assert added["data"][0]["ClOrdID"] == "cl-new"
    assert (
        partial["data"][0]["OrdStatus"] == "PartiallyFilled" and partial["data"][0]["CumQty"] == "0.50000000"
    )
    assert gone["action"] == "Remove" and gone["data"][0]["OrdStatus"] == "Filled"


async def test_latency_fault_delays_answers(prime: PrimeSim) -> None:
    async with await _open(prime) as ws:
        prime.faults.latency_ms = 150
        started = time.monotonic()
        await ws.send(json.dumps({"reqid": 1, "type": "Ping", "ts": "t", "data": [{}]}))
        await _next(ws)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.3  # 150 ms in, 150 ms out


async def test_drop_switch_and_drop_fault_abort_sockets(prime: PrimeSim) -> None:
    ws = await _open(prime)
    assert prime.host.drop_all() == 1
    with pytest.raises(ConnectionClosed):
        await _next(ws)
    await ws.close()
    prime.faults.drop_connection = 1
    async with await _open(prime) as ws2:
        await ws2.send(json.dumps({"reqid": 1, "type": "Ping", "ts": "t", "data": [{}]}))
        with pytest.raises(ConnectionClosed):
            await _next(ws2)

"""The simulator's Futures host, driven by a plain third-party-style client written from Kraken's docs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from app.sim.faults import Faults
from app.sim.futures import FuturesControls, FuturesHost, FuturesNonces, futures_host_spec, iso_ms
from app.sim.server import HOSTS, SimServer
from app.sim.state import Exchange

pytestmark = pytest.mark.timeout(30)


# --------------------------------------------------------------------------- a client from the docs


def authent(post_data: str, nonce: str, path: str, secret: str) -> str:
    """Futures REST Authent as the docs describe it (API-FACTS 5.1), written for this test."""
    message = (post_data + nonce + path.removeprefix("/derivatives")).encode()
    digest = hashlib.sha256(message).digest()
    return base64.b64encode(hmac.new(base64.b64decode(secret), digest, hashlib.sha512).digest()).decode()


def sign_challenge(challenge: str, secret: str) -> str:
    digest = hashlib.sha256(challenge.encode()).digest()
    return base64.b64encode(hmac.new(base64.b64decode(secret), digest, hashlib.sha512).digest()).decode()


def test_test_signer_matches_the_published_sdk_vector() -> None:
    # API-FACTS 0.3 (python-kraken-sdk unit test) and 0.2 (Kraken's WS example).
    got = authent(
        "orderType=lmt&symbol=PI_XBTUSD",
        "1616492376594",
        "/derivatives/api/v3/sendorder",
        "cHl0aG9uLWtyYWtlbi1zZGsgdW5pdC10ZXN0IHNlY3JldCB2YWx1ZQ==",
    )
    assert got == "Txi+gJVXe3EN1brXYQ46FuV6UVtEVSKhc6dYMhPb7a/HXZLGvO6m9UUg+KVKqhLxrbllOPI7qRkHYmPfJZZSGA=="
    ws = sign_challenge(
        "c100b894-1729-464d-ace1-52dbce11db42",
        "7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm",
    )
    assert ws == "4JEpF3ix66GA2B+ooK128Ift4XQVtc137N9yeg4Kqsn9PI0Kpzbysl9M1IeCEdjg0zl00wkVqcsnG4bmnlMb3A=="


@dataclass
class Client:
    """A minimal Kraken Futures client in the style of python-kraken-sdk (form body, Nonce)."""

    http: httpx.AsyncClient
    base: str
    key: str
    secret: str
    nonce: int = 0

    def next_nonce(self) -> str:
        self.nonce = max(self.nonce + 1, int(time.time() * 1000))
        return str(self.nonce)

    async def request(
        self,
        method: str,
        endpoint: str,
        params: dict[str, str] | None = None,
        *,
        nonce: str | None = "auto",
        in_query: bool = False,
        secret: str | None = None,
        key: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        path = f"/derivatives/api/v3/{endpoint}"
        post_data = urlencode(params or {}, quote_via=quote)
        headers = {"APIKey": key or self.key}
        nonce_text = self.next_nonce() if nonce == "auto" else nonce
        if nonce_text is not None:
            headers["Nonce"] = nonce_text
        headers["Authent"] = authent(post_data, nonce_text or "", path, secret or self.secret)
        url = self.base + path
        if method == "GET" or in_query:
            resp = await self.http.request(
                method, url + (f"?{post_data}" if post_data else ""), headers=headers
            )
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            resp = await self.http.request(method, url, content=post_data.encode(), headers=headers)
        return resp.status_code, resp.json() if resp.headers.get("content-type", "").startswith(
            "application/json"
        ) else {}

    async def ok(self, method: str, endpoint: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        status, data = await self.request(method, endpoint, params)
        assert status == 200, data
        assert data["result"] == "success", data
        return data

    async def place(self, **params: str) -> str:
        defaults = {
            "orderType": "lmt",
            "symbol": "PF_XBTUSD",
            "side": "buy",
            "size": "0.5",
            "limitPrice": "60000",
        }
        data = await self.ok("POST", "sendorder", {**defaults, **params})
        assert data["sendStatus"]["status"] == "placed", data
        return str(data["sendStatus"]["order_id"])


@dataclass
class Sim:
    exchange: Exchange
    server: SimServer
    endpoints: dict[str, str]
    controls: FuturesControls
    host: FuturesHost
    faults: Faults
    client: Client


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    exchange = Exchange(seed=5)
    account = exchange.add_account("futures", "futures")
    exchange.add_account("spot", "spot")
    controls = FuturesControls()
    hosts: list[FuturesHost] = []
    faults = Faults()
    server = SimServer(exchange, faults, hosts=[futures_host_spec(controls, hosts.append)])
    endpoints = await server.start()
    async with httpx.AsyncClient(timeout=5) as http:
        client = Client(http, endpoints["futures_rest"], account.api_key, account.secret)
        try:
            yield Sim(exchange, server, endpoints, controls, hosts[0], faults, client)
        finally:
            await server.stop()


# --------------------------------------------------------------------------- registry


async def test_default_server_runs_the_futures_host() -> None:
    assert any(spec.name == "futures" for spec in HOSTS)
    exchange = Exchange(seed=1)
    server = SimServer(exchange)
    try:
        endpoints = await server.start()
        assert endpoints["futures_rest"].startswith("http://127.0.0.1:")
        assert endpoints["futures_ws"] == endpoints["futures_rest"].replace("http://", "ws://") + "/ws/v1"
    finally:
        await server.stop()


# --------------------------------------------------------------------------- REST shapes


async def test_send_list_cancel_in_the_documented_shapes(sim: Sim) -> None:
    c = sim.client
    order_id = await c.place(cliOrdId="abc-1", reduceOnly="true")
    listing = await c.ok("GET", "openorders")
    assert isinstance(listing["serverTime"], str) and listing["serverTime"].endswith("Z")
    (entry,) = listing["openOrders"]
    assert entry["order_id"] == order_id and entry["cliOrdId"] == "abc-1"
    assert entry["symbol"] == "PF_XBTUSD" and entry["side"] == "buy" and entry["orderType"] == "lmt"
    assert entry["status"] == "untouched" and entry["reduceOnly"] is True
    assert entry["limitPrice"] == 60000 and entry["unfilledSize"] == 0.5 and entry["filledSize"] == 0
    assert "stopPrice" not in entry

    data = await c.ok("POST", "cancelorder", {"order_id": order_id})
    status = data["cancelStatus"]
    assert status["status"] == "cancelled" and status["order_id"] == order_id
    assert status["cliOrdId"] == "abc-1" and status["receivedTime"].endswith("Z")
    (event,) = status["orderEvents"]
    assert event["type"] == "CANCEL" and event["uid"] == order_id
    assert set(event["order"]) == {
        "orderId", "cliOrdId", "type", "symbol", "side", "quantity", "filled",
        "limitPrice", "reduceOnly", "timestamp", "lastUpdateTimestamp",
    }  # fmt: skip
    assert (await c.ok("GET", "openorders"))["openOrders"] == []

    again = await c.ok("POST", "cancelorder", {"order_id": order_id})
    assert again["cancelStatus"]["status"] == "notFound"


async def test_stop_orders_list_their_stop_price(sim: Sim) -> None:
    await sim.client.place(orderType="stp", side="sell", stopPrice="59000", limitPrice="58900")
    (entry,) = (await sim.client.ok("GET", "openorders"))["openOrders"]
    assert entry["orderType"] == "stp" and entry["stopPrice"] == 59000 and entry["limitPrice"] == 58900


async def test_cancel_by_cli_ord_id_and_filled(sim: Sim) -> None:
    c = sim.client
    order_id = await c.place(cliOrdId="to-fill")
    sim.controls.fill_before_cancel.add(order_id)
    data = await c.ok("POST", "cancelorder", {"cliOrdId": "to-fill"})
    assert data["cancelStatus"]["status"] == "filled"
    assert data["cancelStatus"]["order_id"] == order_id
    # Still "filled" afterwards, by client id, though the order left the book.
    data = await c.ok("POST", "cancelorder", {"cliOrdId": "to-fill"})
    assert data["cancelStatus"]["status"] == "filled"
    data = await c.ok("POST", "cancelorder", {"cliOrdId": "never-existed"})
    assert data["cancelStatus"] == {
        "receivedTime": data["cancelStatus"]["receivedTime"],
        "status": "notFound",
        "orderEvents": [],
        "cliOrdId": "never-existed",
    }


async def test_params_in_the_query_string_without_nonce_like_ccxt(sim: Sim) -> None:
    order_id = await sim.client.place()
    status, data = await sim.client.request(
        "POST", "cancelorder", {"order_id": order_id}, nonce=None, in_query=True
    )
    assert status == 200 and data["cancelStatus"]["status"] == "cancelled"


async def test_query_and_body_signed_together_like_python_kraken_sdk(sim: Sim) -> None:
    c = sim.client
    order_id = await c.place()
    path = "/derivatives/api/v3/cancelorder"
    query, body = "processBefore=" + quote(iso_ms(time.time() + 5)), f"order_id={order_id}"
    nonce = c.next_nonce()
    headers = {"APIKey": c.key, "Nonce": nonce, "Authent": authent(query + body, nonce, path, c.secret)}
    resp = await c.http.post(f"{c.base}{path}?{query}", content=body.encode(), headers=headers)
    assert resp.json()["cancelStatus"]["status"] == "cancelled"


async def test_wrong_http_method_is_refused(sim: Sim) -> None:
    status, _ = await sim.client.request("POST", "openorders")
    assert status == 405
    status, _ = await sim.client.request("GET", "cancelorder", {"order_id": "x"})
    assert status == 405


async def test_process_before(sim: Sim) -> None:
    c = sim.client
    order_id = await c.place()
    past = iso_ms(time.time() - 1)
    data = await c.ok("POST", "cancelorder", {"order_id": order_id, "processBefore": past})
    assert data["cancelStatus"]["status"] == "wouldProcessAfterSpecifiedTime"
    assert sim.exchange.get_order("futures", order_id).is_open  # type: ignore[union-attr]
    _, bad = await c.request("POST", "cancelorder", {"order_id": order_id, "processBefore": "soon"})
    assert bad == {"result": "error", "serverTime": bad["serverTime"], "error": "invalidArgument"}
    future = iso_ms(time.time() + 5)
    data = await c.ok("POST", "cancelorder", {"order_id": order_id, "processBefore": future})
    assert data["cancelStatus"]["status"] == "cancelled"


async def test_missing_arguments(sim: Sim) -> None:
    _, data = await sim.client.request("POST", "cancelorder", {})
    assert data["error"] == "requiredArgumentMissing"
    _, data = await sim.client.request("POST", "sendorder", {"orderType": "lmt"})
    assert data["error"] == "requiredArgumentMissing"


async def test_send_order_rejections(sim: Sim) -> None:
    c = sim.client
    await c.place(cliOrdId="dup")
    base = {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy", "size": "1", "limitPrice": "1"}
    cases = [
        ({"cliOrdId": "dup"}, "clientOrderIdAlreadyExist"),
        ({"symbol": "PF_NOPE"}, "marketInactive"),
        ({"orderType": "xyz"}, "invalidOrderType"),
        ({"size": "-1"}, "invalidSize"),
    ]
    for change, expected in cases:
        data = await c.ok("POST", "sendorder", {**base, **change})
        assert data["sendStatus"]["status"] == expected, change


# --------------------------------------------------------------------------- auth and nonces


async def test_bad_signature_spot_key_and_unknown_key(sim: Sim) -> None:
    other = sim.exchange.add_account("other", "futures")
    _, data = await sim.client.request("GET", "openorders", secret=other.secret)
    assert data["error"] == "authenticationError"
    spot = sim.exchange.account("spot")
    _, data = await sim.client.request("GET", "openorders", key=spot.api_key, secret=spot.secret)
    assert data["error"] == "authenticationError"
    _, data = await sim.client.request("GET", "openorders", key="nobody")
    assert data["error"] == "authenticationError"


async def test_signature_covers_the_encoded_post_data(sim: Sim) -> None:
    c = sim.client
    path = "/derivatives/api/v3/cancelorder"
    body = "cliOrdId=a%20b"
    nonce = c.next_nonce()
    # Signed over the decoded text (the pre-2024 way): refused.
    headers = {"APIKey": c.key, "Nonce": nonce, "Authent": authent("cliOrdId=a b", nonce, path, c.secret)}
    resp = await c.http.post(c.base + path, content=body.encode(), headers=headers)
    assert resp.json()["error"] == "authenticationError"
    nonce = c.next_nonce()
    headers = {"APIKey": c.key, "Nonce": nonce, "Authent": authent(body, nonce, path, c.secret)}
    resp = await c.http.post(c.base + path, content=body.encode(), headers=headers)
    assert resp.json()["cancelStatus"]["status"] == "notFound"


async def test_nonce_duplicate_and_below_threshold(sim: Sim) -> None:
    c = sim.client
    assert (await c.request("GET", "openorders", nonce="1000"))[1]["result"] == "success"
    assert (await c.request("GET", "openorders", nonce="1000"))[1]["error"] == "nonceDuplicate"
    assert (await c.request("GET", "openorders", nonce="999"))[1]["result"] == "success"  # brief reordering
    for n in range(2000, 2070):
        assert (await c.request("GET", "openorders", nonce=str(n)))[1]["result"] == "success"
    assert (await c.request("GET", "openorders", nonce="1500"))[1]["error"] == "nonceBelowThreshold"
    assert (await c.request("GET", "openorders", nonce="abc"))[1]["error"] == "nonceBelowThreshold"


def test_nonce_window_rules() -> None:
    nonces = FuturesNonces(window=3)
    assert [nonces.check("k", n) for n in ("10", "12", "11")] == [None, None, None]
    assert nonces.check("k", "12") == "nonceDuplicate"
    assert nonces.check("k", "13") is None  # 10 leaves the window: it is the threshold now
    assert nonces.check("k", "10") == "nonceBelowThreshold"
    assert nonces.check("k", "9") == "nonceBelowThreshold"
    assert nonces.check("other", "1") is None  # keys are independent


async def test_read_only_key_cannot_cancel(sim: Sim) -> None:
    ro = sim.exchange.add_account("ro", "futures", permissions={"query"})
    _, data = await sim.client.request("GET", "openorders", key=ro.api_key, secret=ro.secret)
    assert data["result"] == "success"
    _, data = await sim.client.request(
        "POST", "cancelorder", {"order_id": "x"}, key=ro.api_key, secret=ro.secret
    )
    assert data["error"] == "authenticationError"


# --------------------------------------------------------------------------- batch, cancel all, deadman


async def test_batchorder_form_field_json(sim: Sim) -> None:
    c = sim.client
    a = await c.place()
    b = await c.place(cliOrdId="bee")
    instructions = {
        "batchOrder": [
            {"order": "cancel", "order_id": a},
            {"order": "cancel", "cliOrdId": "bee"},
            {"order": "cancel", "order_id": "not-there"},
        ]
    }
    data = await c.ok("POST", "batchorder", {"json": json.dumps(instructions)})
    statuses = {(i.get("order_id"), i["status"]) for i in data["batchStatus"]}
    assert statuses == {(a, "cancelled"), (b, "cancelled"), ("not-there", "notFound")}
    assert sim.exchange.open_count("futures") == 0


async def test_batchorder_as_raw_json_body_is_refused(sim: Sim) -> None:
    c = sim.client
    order_id = await c.place()
    path = "/derivatives/api/v3/batchorder"
    body = json.dumps({"batchOrder": [{"order": "cancel", "order_id": order_id}]})
    nonce = c.next_nonce()
    headers = {"APIKey": c.key, "Nonce": nonce, "Authent": authent(body, nonce, path, c.secret)}
    headers["Content-Type"] = "application/json"
    resp = await c.http.post(c.base + path, content=body.encode(), headers=headers)
    assert resp.json()["result"] == "error"
    assert sim.exchange.get_order("futures", order_id).is_open  # type: ignore[union-attr]


async def test_batchorder_bad_json(sim: Sim) -> None:
    _, data = await sim.client.request("POST", "batchorder", {"json": "{nope"})
    assert data["error"] == "Json Parse Error"


async def test_budget_exceeded_is_api_limit_exceeded_and_does_nothing(sim: Sim) -> None:
    c = sim.client
    order_id = await c.place()
    instructions = [{"order": "cancel", "order_id": order_id}] + [
        {"order": "cancel", "order_id": f"x-{i}"} for i in range(490)
    ]  # cost 9 + 491 = 500 plus the sendorder's 10 already spent
    _, data = await c.request("POST", "batchorder", {"json": json.dumps({"batchOrder": instructions})})
    assert data["error"] == "apiLimitExceeded"
    assert sim.exchange.get_order("futures", order_id).is_open  # type: ignore[union-attr]


async def test_cancel_all_orders_by_symbol(sim: Sim) -> None:
    c = sim.client
    xbt = await c.place()
    eth = await c.place(symbol="PF_ETHUSD", limitPrice="3000")
    data = await c.ok("POST", "cancelallorders", {"symbol": "PF_XBTUSD"})
    status = data["cancelStatus"]
    assert status["status"] == "cancelled" and status["cancelOnly"] == "PF_XBTUSD"
    assert status["cancelledOrders"] == [{"order_id": xbt}]
    assert [e["uid"] for e in status["orderEvents"]] == [xbt]
    assert sim.exchange.get_order("futures", eth).is_open  # type: ignore[union-attr]
    data = await c.ok("POST", "cancelallorders", {"symbol": "PF_XBTUSD"})
    assert data["cancelStatus"]["status"] == "noOrdersToCancel"
    data = await c.ok("POST", "cancelallorders")
    assert data["cancelStatus"]["cancelOnly"] == "all"
    assert data["cancelStatus"]["cancelledOrders"] == [{"order_id": eth}]


async def test_cancel_all_orders_after(sim: Sim) -> None:
    c = sim.client
    data = await c.ok("POST", "cancelallordersafter", {"timeout": "60"})
    assert data["status"]["triggerTime"] != "0"
    assert sim.exchange.deadman_trigger_time("futures") is not None
    data = await c.ok("POST", "cancelallordersafter", {"timeout": "0"})
    assert data["status"]["triggerTime"] == "0"
    for bad in ("-1", "abc", "86400"):
        _, data = await c.request("POST", "cancelallordersafter", {"timeout": bad})
        assert data["error"] == "invalidArgument"


async def test_errors_list_form_and_maintenance(sim: Sim) -> None:
    sim.controls.use_errors_list = True
    _, data = await sim.client.request("GET", "openorders", key="nobody")
    assert data["errors"] == [{"code": "authenticationError", "message": "authenticationError"}]
    sim.controls.use_errors_list = False
    sim.faults.system_status = "maintenance"
    _, data = await sim.client.request("GET", "openorders")
    assert data["error"] == "Unavailable"


async def test_faults(sim: Sim) -> None:
    sim.faults.rate_limit = 1
    assert (await sim.client.request("GET", "openorders"))[1]["error"] == "apiLimitExceeded"
    sim.faults.throttled = 1
    assert (await sim.client.request("GET", "openorders"))[0] == 429
    sim.faults.html_error_page = 1
    status, data = await sim.client.request("GET", "openorders")
    assert status == 502 and data == {}
    sim.faults.drop_connection = 1
    with pytest.raises(httpx.RemoteProtocolError):
        await sim.client.request("GET", "openorders")
    assert (await sim.client.request("GET", "openorders"))[1]["result"] == "success"
    assert [a.path for a in sim.exchange.arrivals][-1] == "/derivatives/api/v3/openorders"


async def test_control_api(sim: Sim) -> None:
    base = sim.endpoints["futures_rest"]
    resp = await sim.client.http.post(
        base + "/_sim/futures/controls", json={"fill_before_cancel": ["x"], "shuffle_batch": True}
    )
    assert resp.json()["fill_before_cancel"] == ["x"] and resp.json()["shuffle_batch"] is True
    assert sim.controls.fill_before_cancel == {"x"}
    resp = await sim.client.http.post(base + "/_sim/futures/drop_ws")
    assert resp.json() == {"dropped": 0}


# --------------------------------------------------------------------------- websocket


async def recv(ws: ClientConnection) -> dict[str, Any]:
    data = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert isinstance(data, dict)
    return data


async def sign_in(sim: Sim, ws: ClientConnection, feed: str = "open_orders") -> dict[str, Any]:
    assert await recv(ws) == {"event": "info", "version": 1}
    await ws.send(json.dumps({"event": "challenge", "api_key": sim.client.key}))
    challenge = await recv(ws)
    assert challenge["event"] == "challenge"
    signed = sign_challenge(challenge["message"], sim.client.secret)
    await ws.send(
        json.dumps(
            {
                "event": "subscribe",
                "feed": feed,
                "api_key": sim.client.key,
                "original_challenge": challenge["message"],
                "signed_challenge": signed,
            }
        )
    )
    ack = await recv(ws)
    assert ack["event"] == "subscribed" and ack["feed"] == feed
    return await recv(ws)


async def test_ws_snapshot_and_deltas(sim: Sim) -> None:
    c = sim.client
    first = await c.place(cliOrdId="snap-me")
    async with connect(sim.endpoints["futures_ws"]) as ws:
        snap = await sign_in(sim, ws)
        assert snap["feed"] == "open_orders_snapshot" and isinstance(snap["account"], str)
        (order,) = snap["orders"]
        assert order["order_id"] == first and order["cli_ord_id"] == "snap-me"
        assert order["instrument"] == "PF_XBTUSD" and order["direction"] == 0 and order["type"] == "limit"
        assert order["qty"] == 0.5 and order["filled"] == 0 and order["limit_price"] == 60000
        assert isinstance(order["time"], int) and order["reduce_only"] is False

        second = await c.place(side="sell", size="2", limitPrice="70000")
        new = await recv(ws)
        assert new["feed"] == "open_orders" and new["is_cancel"] is False
        assert new["reason"] == "new_placed_order_by_user" and new["order"]["direction"] == 1

        sim.exchange.fill("futures", second, "0.5")
        partial = await recv(ws)
        assert partial["reason"] == "partial_fill" and partial["order"]["filled"] == 0.5

        await c.ok("POST", "cancelorder", {"order_id": first})
        assert await recv(ws) == {
            "feed": "open_orders",
            "order_id": first,
            "is_cancel": True,
            "reason": "cancelled_by_user",
        }
        sim.exchange.fill("futures", second)
        assert (await recv(ws))["reason"] == "full_fill"

        third = await c.place()
        await recv(ws)
        sim.exchange.expire("futures", third)
        assert await recv(ws) == {
            "feed": "open_orders",
            "order_id": third,
            "is_cancel": True,
            "reason": "contract_expired",
        }

        fourth = await c.place()
        await recv(ws)
        await c.ok("POST", "cancelallordersafter", {"timeout": "1"})
        removal = await asyncio.wait_for(recv(ws), 5)
        assert removal == {
            "feed": "open_orders",
            "order_id": fourth,
            "is_cancel": True,
            "reason": "dead_man_switch",
        }

        await ws.send(json.dumps({"event": "unsubscribe", "feed": "open_orders"}))
        assert (await recv(ws))["event"] == "unsubscribed"
        await c.place()
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)  # protocol ping answered, and no delta after unsubscribing
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)


async def test_ws_sign_in_failures(sim: Sim) -> None:
    async with connect(sim.endpoints["futures_ws"]) as ws:
        await recv(ws)
        await ws.send(json.dumps({"event": "challenge", "api_key": sim.client.key}))
        challenge = (await recv(ws))["message"]
        wrong = sign_challenge(challenge, sim.exchange.add_account("x", "futures").secret)
        subscribe = {
            "event": "subscribe",
            "feed": "open_orders",
            "api_key": sim.client.key,
            "original_challenge": challenge,
            "signed_challenge": wrong,
        }
        await ws.send(json.dumps(subscribe))
        assert (await recv(ws))["event"] == "subscribed_failed"
        # A challenge this connection never received is refused even when signed right.
        other = "c100b894-1729-464d-ace1-52dbce11db42"
        subscribe.update(original_challenge=other, signed_challenge=sign_challenge(other, sim.client.secret))
        await ws.send(json.dumps(subscribe))
        assert (await recv(ws))["event"] == "subscribed_failed"


async def test_ws_errors_and_heartbeat(sim: Sim) -> None:
    async with connect(sim.endpoints["futures_ws"]) as ws:
        await recv(ws)
        await ws.send("{nope")
        assert await recv(ws) == {"event": "error", "message": "Json Error"}
        await ws.send(json.dumps({"event": "subscribe", "feed": "no_such_feed"}))
        assert await recv(ws) == {"event": "error", "message": "Invalid feed"}
        await ws.send(json.dumps({"event": "dance"}))
        assert (await recv(ws))["event"] == "error"
        await ws.send(json.dumps({"event": "subscribe", "feed": "heartbeat"}))
        assert await recv(ws) == {"event": "subscribed", "feed": "heartbeat"}


async def test_ws_verbose_feed_and_drop(sim: Sim) -> None:
    await sim.client.place()
    async with connect(sim.endpoints["futures_ws"]) as ws:
        snap = await sign_in(sim, ws, "open_orders_verbose")
        assert snap["feed"] == "open_orders_verbose_snapshot" and len(snap["orders"]) == 1
        assert sim.host.drop_ws() == 1
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), 5)


async def test_server_stop_closes_ws(sim: Sim) -> None:
    async with connect(sim.endpoints["futures_ws"]) as ws:
        await sign_in(sim, ws)
        await sim.server.stop()
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001

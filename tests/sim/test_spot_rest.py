"""The Spot REST host over real sockets: Kraken's paths, replies, auth, limits and faults."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio

from app.sim.faults import Faults
from app.sim.server import HostContext, SimServer
from app.sim.spot_rest import build_spot_rest_app
from app.sim.state import Exchange

_nonces = itertools.count(time.time_ns())


def kraken_sign(path: str, nonce: str, body: bytes, secret: str) -> str:
    """API-Sign as Kraken's docs describe it (written here, not shared with the simulator)."""
    digest = hashlib.sha256(nonce.encode() + body).digest()
    mac = hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def test_test_signer_matches_kraken_vector() -> None:
    body = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    secret = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
    expected = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    assert kraken_sign("/0/private/AddOrder", "1616492376594", body, secret) == expected


@dataclass
class Client:
    """Signs and posts private calls like a Kraken client would."""

    http: httpx.AsyncClient
    key: str
    secret: str

    async def raw(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        as_json: bool = False,
        nonce: int | None = None,
        secret: str | None = None,
        key: str | None = None,
        read_timeout: float | None = None,
    ) -> httpx.Response:
        nonce = next(_nonces) if nonce is None else nonce
        data = {"nonce": nonce, **(params or {})}
        if as_json:
            body = json.dumps(data).encode()
            ctype = "application/json"
        else:
            body = urlencode(data).encode()
            ctype = "application/x-www-form-urlencoded"
        path = f"/0/private/{method}"
        headers = {
            "API-Key": self.key if key is None else key,
            "API-Sign": kraken_sign(path, str(nonce), body, secret or self.secret),
            "Content-Type": ctype,
        }
        extra = {} if read_timeout is None else {"timeout": read_timeout}
        return await self.http.post(path, content=body, headers=headers, **extra)

    async def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        reply = await self.raw(method, params, **kw)
        assert reply.status_code == 200
        return reply.json()


@dataclass
class Sim:
    exchange: Exchange
    faults: Faults
    server: SimServer
    url: str
    http: httpx.AsyncClient
    client: Client

    def client_for(self, account: str) -> Client:
        acct = self.exchange.account(account)
        return Client(self.http, acct.api_key, acct.secret)

    def add(self, **kw: Any) -> str:
        args: dict[str, Any] = {"symbol": "XBT/USD", "side": "buy", "order_type": "limit"}
        args.update({"qty": "1.25", "price": "37500"})
        args.update(kw)
        return self.exchange.add_order("spot", **args).order_id

    def status(self, order_id: str) -> str:
        order = self.exchange.get_order("spot", order_id)
        assert order is not None
        return order.status


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Sim]:
    exchange = Exchange(seed=21, rate_limits=False)
    account = exchange.add_account("spot", "spot")
    faults = Faults()
    server = SimServer(exchange, faults)
    urls = await server.start()
    async with httpx.AsyncClient(base_url=urls["spot_rest"], timeout=5.0) as http:
        yield Sim(
            exchange,
            faults,
            server,
            urls["spot_rest"],
            http,
            Client(http, account.api_key, account.secret),
        )
    await server.stop()


# --------------------------------------------------------------------------- listing


async def test_open_orders_shape(sim: Sim) -> None:
    txid = sim.add(userref=7)
    with_cl = sim.add(symbol="ETH/USD", side="sell", qty="3", price="3500.5", cl_ord_id="abc-1")
    stop = sim.add(order_type="stop-loss-limit", price="29900", stop_price="30000", side="sell")
    reply = await sim.client.call("OpenOrders")
    assert reply["error"] == []
    open_ = reply["result"]["open"]
    assert set(open_) == {txid, with_cl, stop}
    order = open_[txid]
    assert order == {
        "refid": None,
        "userref": 7,
        "status": "open",
        "opentm": order["opentm"],
        "starttm": 0,
        "expiretm": 0,
        "descr": {
            "pair": "XBTUSD",
            "type": "buy",
            "ordertype": "limit",
            "price": "37500.0",
            "price2": "0",
            "leverage": "none",
            "order": "buy 1.25000000 XBTUSD @ limit 37500.0",
            "close": "",
        },
        "vol": "1.25000000",
        "vol_exec": "0.00000000",
        "cost": "0.00000",
        "fee": "0.00000",
        "price": "0.00000",
        "stopprice": "0.00000",
        "limitprice": "0.00000",
        "misc": "",
        "oflags": "fciq",
    }
    assert isinstance(order["opentm"], float) and abs(order["opentm"] - time.time()) < 60
    assert open_[with_cl]["cl_ord_id"] == "abc-1" and open_[with_cl]["userref"] is None
    assert open_[with_cl]["descr"]["order"] == "sell 3.00000000 ETHUSD @ limit 3500.50"
    descr = open_[stop]["descr"]
    assert (descr["price"], descr["price2"]) == ("30000.0", "29900.0")
    assert descr["order"] == "sell 1.25000000 XBTUSD @ stop loss 30000.0 -> limit 29900.0"
    filtered = await sim.client.call("OpenOrders", {"userref": 7})
    assert list(filtered["result"]["open"]) == [txid]


async def test_json_bodies_are_accepted_and_signed_over_the_bytes_sent(sim: Sim) -> None:
    sim.add()
    reply = await sim.client.call("OpenOrders", as_json=True)
    assert reply["error"] == [] and len(reply["result"]["open"]) == 1


async def test_public_endpoints(sim: Sim) -> None:
    status = (await sim.http.get("/0/public/SystemStatus")).json()
    assert status["error"] == [] and status["result"]["status"] == "online"
    sim.faults.system_status = "cancel_only"
    status = (await sim.http.get("/0/public/SystemStatus")).json()
    assert status["result"]["status"] == "cancel_only"
    now = (await sim.http.get("/0/public/Time")).json()["result"]
    assert abs(now["unixtime"] - time.time()) < 5 and now["rfc1123"]


# --------------------------------------------------------------------------- cancels


async def test_cancel_by_txid_then_again_is_unknown(sim: Sim) -> None:
    txid = sim.add()
    reply = await sim.client.call("CancelOrder", {"txid": txid})
    assert reply == {"error": [], "result": {"count": 1, "pending": False}}
    assert sim.status(txid) == "canceled"
    again = await sim.client.call("CancelOrder", {"txid": txid})
    assert again == {"error": ["EOrder:Unknown order"]}


async def test_cancel_by_userref_cancels_every_order_carrying_it(sim: Sim) -> None:
    shared = [sim.add(userref=42) for _ in range(3)]
    other = sim.add(userref=43)
    reply = await sim.client.call("CancelOrder", {"txid": 42})  # form: "txid=42"
    assert reply["result"] == {"count": 3, "pending": False}
    assert all(sim.status(t) == "canceled" for t in shared) and sim.status(other) == "open"
    reply = await sim.client.call("CancelOrder", {"txid": 43}, as_json=True)  # JSON integer
    assert reply["result"]["count"] == 1


async def test_cancel_by_cl_ord_id(sim: Sim) -> None:
    target = sim.add(cl_ord_id="my-order-1")
    keep = sim.add(cl_ord_id="my-order-2")
    reply = await sim.client.call("CancelOrder", {"cl_ord_id": "my-order-1"})
    assert reply["result"] == {"count": 1, "pending": False}
    assert sim.status(target) == "canceled" and sim.status(keep) == "open"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        # Ids the exchange never knew: "Invalid order", as Kraken's guides say (API-FACTS 11).
        ({"txid": "OAAAAA-BBBBB-CCCCCC"}, "EOrder:Invalid order"),
        ({"txid": 99}, "EOrder:Unknown order"),  # a userref naming nothing: like a closed id
        ({"cl_ord_id": "never-placed"}, "EOrder:Invalid order"),
        ({"txid": "not-a-txid"}, "EGeneral:Invalid arguments:txid"),
        ({}, "EGeneral:Invalid arguments"),
        ({"txid": "OAAAAA-BBBBB-CCCCCC", "cl_ord_id": "x"}, "EGeneral:Invalid arguments:txid"),
    ],
)
async def test_cancel_order_errors(sim: Sim, params: dict[str, Any], error: str) -> None:
    sim.add()
    assert (await sim.client.call("CancelOrder", params)) == {"error": [error]}
    assert sim.exchange.open_count("spot") == 1


async def test_cancel_order_batch_50_ok_51_rejected(sim: Sim) -> None:
    txids = [sim.add() for _ in range(51)]
    too_many = await sim.client.call("CancelOrderBatch", {"orders": txids}, as_json=True)
    assert too_many == {"error": ["EGeneral:Invalid arguments"]}
    assert sim.exchange.open_count("spot") == 51
    reply = await sim.client.call("CancelOrderBatch", {"orders": txids[:50]}, as_json=True)
    assert reply == {"error": [], "result": {"count": 50}}
    assert sim.exchange.open_count("spot") == 1


async def test_cancel_order_batch_mixes_refs_and_skips_unknown(sim: Sim) -> None:
    a = sim.add()
    b, c = sim.add(userref=5), sim.add(userref=5)
    d = sim.add(cl_ord_id="cl-d")
    keep = sim.add()
    gone = sim.add()
    sim.exchange.cancel("spot", gone)
    body = {
        "orders": [a, "5", gone, "OZZZZZ-ZZZZZ-ZZZZZZ"],
        "cl_ord_ids": [{"cl_ord_id": "cl-d"}, {"cl_ord_id": "cl-zz"}],
    }
    reply = await sim.client.call("CancelOrderBatch", body, as_json=True)
    assert reply == {"error": [], "result": {"count": 4}}
    assert {sim.status(t) for t in (a, b, c, d)} == {"canceled"} and sim.status(keep) == "open"


@pytest.mark.parametrize(
    "body",
    [{"orders": []}, {}, {"orders": "OAAAAA-BBBBB-CCCCCC"}, {"orders": [True]}, {"orders": ["bad id"]}],
)
async def test_cancel_order_batch_invalid_bodies(sim: Sim, body: dict[str, Any]) -> None:
    reply = await sim.client.call("CancelOrderBatch", body, as_json=True)
    assert reply["error"][0].startswith("EGeneral:Invalid arguments")


async def test_cancel_order_batch_as_form_is_rejected(sim: Sim) -> None:
    txid = sim.add()
    reply = await sim.client.call("CancelOrderBatch", {"orders": txid})
    assert reply["error"][0].startswith("EGeneral:Invalid arguments")
    assert sim.status(txid) == "open"


async def test_cancel_all(sim: Sim) -> None:
    for _ in range(7):
        sim.add()
    assert (await sim.client.call("CancelAll"))["result"] == {"count": 7}
    assert (await sim.client.call("CancelAll"))["result"] == {"count": 0}


async def test_cancel_all_orders_after_arms_and_its_timer_cancels(sim: Sim) -> None:
    txids = [sim.add() for _ in range(3)]
    bad = await sim.client.call("CancelAllOrdersAfter", {"timeout": 86400})
    assert bad == {"error": ["EGeneral:Invalid arguments:timeout"]}
    reply = await sim.client.call("CancelAllOrdersAfter", {"timeout": 60})
    result = reply["result"]
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    current = datetime.strptime(result["currentTime"], fmt)
    trigger = datetime.strptime(result["triggerTime"], fmt)
    assert (trigger - current).total_seconds() == pytest.approx(60, abs=1)
    off = await sim.client.call("CancelAllOrdersAfter", {"timeout": 0})
    assert off["result"]["triggerTime"] == "0"
    await sim.client.call("CancelAllOrdersAfter", {"timeout": 1})
    for _ in range(60):
        if sim.exchange.open_count("spot") == 0:
            break
        await asyncio.sleep(0.05)
    assert sim.exchange.open_count("spot") == 0
    order = sim.exchange.get_order("spot", txids[0])
    assert order is not None and order.cancel_reason == "dead_man_switch"


# --------------------------------------------------------------------------- query, add, token


async def test_query_orders_statuses_after_cancel_and_fill(sim: Sim) -> None:
    open_, cancelled, filled, partial = (sim.add() for _ in range(4))
    sim.exchange.cancel("spot", cancelled)
    sim.exchange.fill("spot", filled)
    sim.exchange.fill("spot", partial, "0.25")
    ids = ",".join((open_, cancelled, filled, partial))
    result = (await sim.client.call("QueryOrders", {"txid": ids}))["result"]
    assert {k: v["status"] for k, v in result.items()} == {
        open_: "open",
        cancelled: "canceled",
        filled: "closed",
        partial: "open",
    }
    assert result[cancelled]["reason"] == "User requested" and "closetm" in result[cancelled]
    assert result[filled]["vol_exec"] == "1.25000000"
    assert result[filled]["cost"] == "46875.00000" and result[filled]["price"] == "37500.0"
    assert result[partial]["vol_exec"] == "0.25000000" and "reason" not in result[partial]
    unknown = await sim.client.call("QueryOrders", {"txid": f"{open_},OZZZZZ-ZZZZZ-ZZZZZZ"})
    assert unknown == {"error": ["EOrder:Invalid order"]}
    too_many = await sim.client.call("QueryOrders", {"txid": ",".join([open_] * 51)})
    assert too_many == {"error": ["EGeneral:Invalid arguments:txid"]}


async def test_add_order(sim: Sim) -> None:
    params = {
        "pair": "XBTUSD",
        "type": "buy",
        "ordertype": "limit",
        "price": "37500",
        "volume": "1.25",
        "userref": 12,
    }
    reply = await sim.client.call("AddOrder", params)
    assert reply["error"] == []
    assert reply["result"]["descr"] == {"order": "buy 1.25000000 XBTUSD @ limit 37500.0"}
    (txid,) = reply["result"]["txid"]
    order = sim.exchange.get_order("spot", txid)
    assert order is not None and order.userref == 12 and order.symbol == "XBT/USD"
    both = await sim.client.call("AddOrder", {**params, "cl_ord_id": "x"})
    assert both["error"] == ["EGeneral:Invalid arguments:userref"]
    unknown = await sim.client.call("AddOrder", {**params, "pair": "FOOBAR"})
    assert unknown["error"] == ["EQuery:Unknown asset pair"]
    sim.faults.system_status = "cancel_only"
    refused = await sim.client.call("AddOrder", params)
    assert refused["error"] == ["EService:Market in cancel_only mode"]
    assert (await sim.client.call("CancelOrder", {"txid": txid}))["result"]["count"] == 1


async def test_websocket_token_is_stored_for_ws_hosts(sim: Sim) -> None:
    result = (await sim.client.call("GetWebSocketsToken"))["result"]
    assert result["expires"] == 900 and len(result["token"]) >= 30
    assert sim.exchange.validate_token(result["token"]) == "spot"
    sim.exchange.invalidate_tokens("spot")
    assert sim.exchange.validate_token(result["token"]) is None


# --------------------------------------------------------------------------- auth


async def test_bad_key_bad_signature_stale_nonce(sim: Sim) -> None:
    unknown = await sim.client.call("OpenOrders", key="bm9wZQ==")
    assert unknown == {"error": ["EAPI:Invalid key"]}
    missing = await sim.http.post("/0/private/OpenOrders", content=b"nonce=1")
    assert missing.json() == {"error": ["EAPI:Invalid key"]}
    wrong_secret = base64.b64encode(b"x" * 64).decode()
    bad = await sim.client.call("OpenOrders", secret=wrong_secret)
    assert bad == {"error": ["EAPI:Invalid signature"]}
    nonce = next(_nonces)
    assert (await sim.client.call("OpenOrders", nonce=nonce))["error"] == []
    assert (await sim.client.call("OpenOrders", nonce=nonce)) == {"error": ["EAPI:Invalid nonce"]}
    assert (await sim.client.call("OpenOrders", nonce=nonce - 1)) == {"error": ["EAPI:Invalid nonce"]}
    assert (await sim.client.call("OpenOrders", nonce=nonce + 1))["error"] == []


async def test_a_bad_signature_does_not_burn_the_nonce(sim: Sim) -> None:
    nonce = next(_nonces)
    wrong_secret = base64.b64encode(b"y" * 64).decode()
    assert (await sim.client.call("OpenOrders", nonce=nonce, secret=wrong_secret))["error"]
    assert (await sim.client.call("OpenOrders", nonce=nonce))["error"] == []


async def test_missing_permissions(sim: Sim) -> None:
    txid = sim.add()
    sim.exchange.add_account("readonly", "spot", permissions={"query"})
    readonly = sim.client_for("readonly")
    assert (await readonly.call("OpenOrders"))["error"] == []
    for method, params in (("CancelOrder", {"txid": txid}), ("CancelAll", {}), ("GetWebSocketsToken", {})):
        assert (await readonly.call(method, params)) == {"error": ["EGeneral:Permission denied"]}
    sim.exchange.add_account("canceller", "spot", permissions={"cancel"})
    canceller = sim.client_for("canceller")
    assert (await canceller.call("OpenOrders")) == {"error": ["EGeneral:Permission denied"]}
    assert (await canceller.call("CancelAll"))["result"] == {"count": 0}  # its own orders only
    assert sim.status(txid) == "open"


async def test_malformed_bodies(sim: Sim) -> None:
    headers = {"API-Key": sim.client.key, "API-Sign": "x", "Content-Type": "application/json"}
    reply = await sim.http.post("/0/private/OpenOrders", content=b"{nope", headers=headers)
    assert reply.json() == {"error": ["EGeneral:Invalid arguments"]}
    reply = await sim.http.post("/0/private/OpenOrders", content=b"[1]", headers=headers)
    assert reply.json() == {"error": ["EGeneral:Invalid arguments"]}
    unknown = await sim.client.call("Withdraw")
    assert unknown == {"error": ["EGeneral:Unknown method"]}


# --------------------------------------------------------------------------- rate limits


async def test_call_counter_rate_limit(sim: Sim) -> None:
    frozen = time.monotonic()
    sim.exchange.monotonic = lambda: frozen
    sim.exchange.rate_limits_enabled = True
    for _ in range(20):
        assert (await sim.client.call("OpenOrders"))["error"] == []
    assert (await sim.client.call("OpenOrders")) == {"error": ["EAPI:Rate limit exceeded"]}
    txid = sim.add()
    # CancelOrder is not on the call counter (API-FACTS 7.1).
    assert (await sim.client.call("CancelOrder", {"txid": txid}))["result"]["count"] == 1


async def test_trading_counter_rate_limit_on_young_orders(sim: Sim) -> None:
    frozen = time.monotonic()
    sim.exchange.monotonic = lambda: frozen
    sim.exchange.rate_limits_enabled = True
    txids = [sim.add() for _ in range(20)]  # just placed: 8 each
    for txid in txids[:15]:
        assert (await sim.client.call("CancelOrder", {"txid": txid}))["error"] == []
    limited = await sim.client.call("CancelOrder", {"txid": txids[15]})
    assert limited == {"error": ["EOrder:Rate limit exceeded"]}
    assert sim.status(txids[15]) == "open"
    # A batch that overflows the counter is still accepted (API-FACTS 7.2): 120 -> 144.
    batch = await sim.client.call("CancelOrderBatch", {"orders": txids[15:18]}, as_json=True)
    assert batch == {"error": [], "result": {"count": 3}}
    # Now the pair is over its threshold: even a batch is refused until it decays.
    again = await sim.client.call("CancelOrderBatch", {"orders": txids[18:]}, as_json=True)
    assert again == {"error": ["EOrder:Rate limit exceeded"]}
    assert sim.status(txids[18]) == "open"


# --------------------------------------------------------------------------- faults


async def test_fault_html_error_page_then_recovery(sim: Sim) -> None:
    sim.faults.html_error_page = 1
    reply = await sim.client.raw("OpenOrders")
    assert reply.status_code == 502 and reply.headers["content-type"].startswith("text/html")
    assert "<html" in reply.text
    assert (await sim.client.call("OpenOrders"))["error"] == []


async def test_fault_http_5xx(sim: Sim) -> None:
    sim.faults.http_5xx = 1
    sim.faults.http_5xx_status = 500
    reply = await sim.http.get("/0/public/Time")
    assert reply.status_code == 500
    assert (await sim.http.get("/0/public/Time")).status_code == 200


async def test_fault_drop_connection(sim: Sim) -> None:
    txid = sim.add()
    sim.faults.drop_connection = 1
    with pytest.raises(httpx.RemoteProtocolError):
        await sim.client.raw("CancelOrder", {"txid": txid})
    assert sim.status(txid) == "open"  # dropped before it was processed
    assert (await sim.client.call("CancelOrder", {"txid": txid}))["result"]["count"] == 1


async def test_fault_hang_hits_client_timeout(sim: Sim) -> None:
    sim.faults.hang = 1
    with pytest.raises(httpx.ReadTimeout):
        await sim.client.raw("OpenOrders", read_timeout=0.3)
    assert (await sim.client.call("OpenOrders"))["error"] == []


async def test_fault_rate_limit_service_unavailable_and_throttled(sim: Sim) -> None:
    sim.faults.patch({"service_unavailable": 1, "rate_limit": 1, "throttled": 1})
    assert (await sim.client.call("OpenOrders")) == {"error": ["EService:Unavailable"]}
    assert (await sim.client.call("OpenOrders")) == {"error": ["EAPI:Rate limit exceeded"]}
    throttled = (await sim.client.call("OpenOrders"))["error"][0]
    assert throttled.startswith("EService: Throttled: ")
    assert int(throttled.rsplit(" ", 1)[1]) >= int(time.time())
    assert (await sim.client.call("OpenOrders"))["error"] == []


async def test_maintenance_fails_cancels(sim: Sim) -> None:
    txid = sim.add()
    sim.faults.system_status = "maintenance"
    reply = await sim.client.call("CancelOrder", {"txid": txid})
    assert reply == {"error": ["EService:Unavailable"]} and sim.status(txid) == "open"


async def test_latency_is_added(sim: Sim) -> None:
    sim.faults.latency_ms = 120
    started = time.monotonic()
    await sim.http.get("/0/public/Time")
    assert time.monotonic() - started >= 0.12


async def test_per_host_faults_override_the_default(sim: Sim) -> None:
    sim.server.own_faults("spot_rest").html_error_page = 1
    assert (await sim.http.get("/0/public/Time")).status_code == 502
    assert sim.faults.html_error_page == 0


# --------------------------------------------------------------------------- arrivals, control


async def test_arrivals_are_recorded_before_processing(sim: Sim) -> None:
    before = time.monotonic_ns()
    sim.faults.latency_ms = 50
    await sim.client.call("OpenOrders")
    arrival = sim.exchange.arrivals[-1]
    assert arrival.host == "spot_rest" and arrival.path == "/0/private/OpenOrders"
    assert arrival.account == "spot" and before <= arrival.t_ns
    # Recorded on arrival, not after the injected latency.
    assert arrival.t_ns - before < 50_000_000


async def test_control_api(sim: Sim) -> None:
    patched = (await sim.http.post("/_sim/faults", json={"latency_ms": 5, "rate_limit": 1})).json()
    assert patched["latency_ms"] == 5 and sim.faults.rate_limit == 1
    assert (await sim.http.post("/_sim/faults", json={"nope": 1})).status_code == 400
    await sim.http.post("/_sim/faults", json={"clear": True})
    assert sim.faults.rate_limit == 0 and sim.faults.latency_ms == 0
    host = (await sim.http.post("/_sim/faults", json={"host": "spot_rest", "hang": 2})).json()
    assert host["hang"] == 2 and sim.faults.hang == 0
    sim.server.host_faults.clear()

    made = (await sim.http.post("/_sim/orders", json={"account": "spot", "n": 5})).json()
    assert len(made["order_ids"]) == 5 and sim.exchange.open_count("spot") == 5
    filled = await sim.http.post("/_sim/fill", json={"account": "spot", "order_id": made["order_ids"][0]})
    assert filled.json()["status"] == "closed"
    assert (await sim.http.post("/_sim/fill", json={"order_id": "nope"})).status_code == 404

    await sim.client.call("OpenOrders")
    arrivals = (await sim.http.get("/_sim/arrivals")).json()["arrivals"]
    assert arrivals[-1][1:] == ["spot_rest", "/0/private/OpenOrders", "spot"]
    assert not any(a[2].startswith("/_sim/") for a in arrivals)
    await sim.http.delete("/_sim/arrivals")
    assert len(sim.exchange.arrivals) == 0

    state = (await sim.http.get("/_sim/state")).json()
    assert state["accounts"]["spot"]["open"] == 4 and state["accounts"]["spot"]["closed"] == 1

    created = (await sim.http.post("/_sim/accounts", json={"name": "ro", "permissions": ["query"]})).json()
    ro = Client(sim.http, created["key"], created["secret"])
    assert len((await ro.call("OpenOrders"))["result"]["open"]) == 0
    assert (await ro.call("CancelAll"))["error"] == ["EGeneral:Permission denied"]


async def test_control_api_is_not_served_off_loopback() -> None:
    exchange = Exchange(seed=1)
    server = SimServer(exchange, host="0.0.0.0")
    ctx = HostContext("spot_rest", exchange, server, "0.0.0.0", asyncio.Event(), random.Random(0))
    app = build_spot_rest_app(ctx)
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert not any(p.startswith("/_sim/") for p in paths)
    assert "/0/private/{method}" in paths

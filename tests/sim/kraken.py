"""Bare Kraken clients for the simulator's tests, written from Kraken's documents (never app.venues)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import selectors
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from websockets.asyncio.client import ClientConnection, connect

from app.sim.faults import Faults
from app.sim.server import SimServer
from app.sim.state import Exchange, SimOrder

_nonces = itertools.count(time.time_ns())


def spot_sign(path: str, nonce: str, body: bytes, secret: str) -> str:
    """API-Sign (API-FACTS 1.1): HMAC-SHA512(b64decode(secret), path + SHA256(nonce + body))."""
    digest = hashlib.sha256(nonce.encode() + body).digest()
    return base64.b64encode(
        hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512).digest()
    ).decode()


def futures_authent(post_data: str, nonce: str, path: str, secret: str) -> str:
    """Authent (API-FACTS 5.1): over postData + nonce + the path without ``/derivatives``."""
    digest = hashlib.sha256((post_data + nonce + path.removeprefix("/derivatives")).encode()).digest()
    return base64.b64encode(hmac.new(base64.b64decode(secret), digest, hashlib.sha512).digest()).decode()


def sign_challenge(challenge: str, secret: str) -> str:
    """Futures WS signed challenge (API-FACTS 5.5 step 3)."""
    digest = hashlib.sha256(challenge.encode()).digest()
    return base64.b64encode(hmac.new(base64.b64decode(secret), digest, hashlib.sha512).digest()).decode()


@dataclass
class SpotClient:
    """Signs and posts Spot REST private calls (form or JSON bodies)."""

    http: httpx.AsyncClient
    base: str
    key: str
    secret: str

    async def raw(
        self, method: str, params: dict[str, Any] | None = None, *, as_json: bool = False, **kw: Any
    ) -> httpx.Response:
        nonce = next(_nonces)
        data = {"nonce": nonce, **(params or {})}
        body = json.dumps(data).encode() if as_json else urlencode(data).encode()
        path = f"/0/private/{method}"
        headers = {
            "API-Key": self.key,
            "API-Sign": spot_sign(path, str(nonce), body, self.secret),
            "Content-Type": "application/json" if as_json else "application/x-www-form-urlencoded",
        }
        return await self.http.post(self.base + path, content=body, headers=headers, **kw)

    async def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        reply = await self.raw(method, params, **kw)
        assert reply.status_code == 200, reply.text[:200]
        return reply.json()


@dataclass
class FuturesClient:
    """Futures REST v3 calls, signed with a Nonce header, params in a form body (GET: query)."""

    http: httpx.AsyncClient
    base: str
    key: str
    secret: str
    nonce: int = 0

    async def raw(self, method: str, endpoint: str, params: dict[str, str] | None = None) -> httpx.Response:
        path = f"/derivatives/api/v3/{endpoint}"
        post_data = urlencode(params or {}, quote_via=quote)
        self.nonce = max(self.nonce + 1, int(time.time() * 1000))
        nonce = str(self.nonce)
        headers = {
            "APIKey": self.key,
            "Nonce": nonce,
            "Authent": futures_authent(post_data, nonce, path, self.secret),
        }
        if method == "GET":
            return await self.http.get(
                self.base + path + (f"?{post_data}" if post_data else ""), headers=headers
            )
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await self.http.post(self.base + path, content=post_data.encode(), headers=headers)

    async def call(self, method: str, endpoint: str, params: dict[str, str] | None = None) -> Any:
        reply = await self.raw(method, endpoint, params)
        assert reply.status_code == 200, reply.text[:200]
        return reply.json()


class Ws:
    """A bare WebSocket client: JSON in and out, heartbeats skipped."""

    HEARTBEATS = ({"channel": "heartbeat"}, {"event": "heartbeat"}, {"feed": "heartbeat"})

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self, within: float = 3.0) -> Any:
        async with asyncio.timeout(within):
            while True:
                message = json.loads(await self.ws.recv())
                if message not in self.HEARTBEATS:
                    return message

    async def until(self, pred: Callable[[Any], bool], within: float = 3.0) -> Any:
        async with asyncio.timeout(within):
            while True:
                message = await self.recv(within)
                if pred(message):
                    return message

    async def quiet(self, seconds: float = 0.3) -> list[Any]:
        """Everything that arrives within ``seconds`` (heartbeats skipped)."""
        got: list[Any] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    message = json.loads(await self.ws.recv())
                    if message not in self.HEARTBEATS:
                        got.append(message)
        return got


@contextlib.asynccontextmanager
async def ws_connect(url: str) -> AsyncIterator[Ws]:
    async with connect(url, max_size=2**24) as ws:
        yield Ws(ws)


@dataclass
class Sim:
    """Every host plus the control host on loopback, one exchange, bare clients at hand."""

    exchange: Exchange
    server: SimServer
    urls: dict[str, str]
    http: httpx.AsyncClient

    def spot(self, account: str = "spot") -> SpotClient:
        acct = self.exchange.account(account)
        return SpotClient(self.http, self.urls["spot_rest"], acct.api_key, acct.secret)

    def futures(self, account: str = "futures") -> FuturesClient:
        acct = self.exchange.account(account)
        return FuturesClient(self.http, self.urls["futures_rest"], acct.api_key, acct.secret)

    def faults(self, host: str) -> Faults:
        return self.server.own_faults(host)

    def add(
        self, account: str = "spot", symbol: str = "XBT/USD", *, age_s: float = 600.0, **kw: Any
    ) -> SimOrder:
        params: dict[str, Any] = {"side": "buy", "order_type": "limit", "qty": "0.5", "price": "60000"}
        params.update(kw)
        return self.exchange.add_order(
            account,
            symbol,
            params.pop("side"),
            params.pop("order_type"),
            params.pop("qty"),
            params.pop("price"),
            opened_at=self.exchange.clock() - age_s,
            **params,
        )

    def status(self, order_id: str, account: str = "spot") -> str:
        order = self.exchange.get_order(account, order_id)
        return "unknown" if order is None else order.status

    async def truth(self, account: str = "spot") -> dict[str, Any]:
        reply = await self.http.get(self.urls["control"] + "/_sim/truth", params={"account": account})
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.urls["control"] + path
        reply = await (self.http.get(url) if body is None else self.http.post(url, json=body))
        assert reply.status_code == 200, reply.text
        return reply.json()

    def spot_token(self, account: str = "spot") -> str:
        return self.exchange.issue_token(account).token


@contextlib.asynccontextmanager
async def running_sim(*, seed: int = 3, rate_limits: bool = False, **server_kw: Any) -> AsyncIterator[Sim]:
    """A fresh exchange with ``spot``, ``futures`` and ``prime`` accounts and every host running."""
    exchange = Exchange(seed=seed, rate_limits=rate_limits)
    for kind in ("spot", "futures", "prime"):
        exchange.add_account(kind, kind)  # type: ignore[arg-type]
    server = SimServer(exchange, Faults(), control=True, **server_kw)
    urls = await server.start()
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            yield Sim(exchange, server, urls, http)
    finally:
        await server.stop()


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line of a child's stdout, or AssertionError after ``timeout`` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError("no line from python -m app.sim in time")
    return proc.stdout.readline()

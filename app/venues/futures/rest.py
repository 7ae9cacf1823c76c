"""Kraken Futures REST v3 client: signed, nonce-ordered, budgeted calls around ``futures_wire``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from app.core.accounts import Credentials
from app.core.errors import RateLimited
from app.core.orders import CancelRef, Order
from app.venues.base import NO_OBSERVER, SendObserver
from app.venues.futures import wire
from app.venues.http import error_for_transport, new_client
from app.venues.lanes import PriorityLock
from app.venues.nonces import NonceSource, key_id, retry_after_nonce_clash
from app.venues.signing import futures_rest_sign

log = logging.getLogger("app.venues.futures.rest")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_FORM = "application/x-www-form-urlencoded"


def rest_origin(base_url: str) -> str:
    """The origin to put ``/derivatives/api/v3/...`` after, whatever base URL the user typed.

    ``https://futures.kraken.com``, ``.../derivatives`` and ``.../derivatives/api/v3`` all give
    ``https://futures.kraken.com``.
    """
    base = base_url.rstrip("/")
    for suffix in (wire.API_PREFIX, "/derivatives"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


class CostBudget:
    """The client's copy of Kraken's 500-units-per-10-s budget (API-FACTS 7.3), as a token bucket.

    Rules: a call takes its cost from the bucket, which refills at 50 units/s up to 480 (20 kept
    in hand for clock skew, see ``wire.CLIENT_BUDGET``); a call that does not fit waits until it
    does; ordinary calls leave ``held`` units (the emergency lane: two cancel-alls and a dead man's
    switch) for urgent calls, which only need their own cost. After ``apiLimitExceeded`` (our
    estimate was wrong: another program shares the key, or Kraken counts differently) the bucket
    empties and calls
    wait a back-off that doubles on each miss (1 s up to 10 s) and resets on success.
    """

    def __init__(
        self,
        capacity: float = wire.CLIENT_BUDGET,
        refill_per_s: float = wire.BUDGET_REFILL_PER_S,
        clock: Callable[[], float] = time.monotonic,
        held: float = wire.BUDGET_HELD_FOR_URGENT,
    ) -> None:
        self.capacity = capacity
        self.held = held
        self.rate = refill_per_s
        self._clock = clock
        self._level = capacity
        self._at = clock()
        self._blocked_until = 0.0
        self._backoff = 0.0

    def level(self) -> float:
        """Units available now."""
        now = self._clock()
        return min(self.capacity, self._level + (now - self._at) * self.rate)

    def reserve(self, cost: float, *, urgent: bool = False) -> float:
        """Take ``cost`` if it fits now; else take nothing and say how long to wait.

        Args:
            cost: the call's cost (more than the capacity is capped at the capacity).
            urgent: the emergency lane may use the held units.

        Returns:
            0.0 when taken, else the seconds to wait before asking again.
        """
        now = self._clock()
        cost = min(cost, self.capacity)
        if now < self._blocked_until:
            return self._blocked_until - now
        level = min(self.capacity, self._level + (now - self._at) * self.rate)
        self._at = now
        need = cost if urgent else min(self.capacity, cost + self.held)
        if level >= need:
            self._level = level - cost
            return 0.0
        self._level = level
        return (need - level) / self.rate

    def penalize(self) -> float:
        """Record an ``apiLimitExceeded``; returns the back-off in seconds."""
        self._backoff = min(wire.BUDGET_WINDOW_S, max(1.0, self._backoff * 2))
        now = self._clock()
        self._level = 0.0
        self._at = now
        self._blocked_until = now + self._backoff
        return self._backoff

    def succeeded(self) -> None:
        """A call went through: the back-off starts from 1 s again next time."""
        self._backoff = 0.0


class FuturesRest:
    """Private Kraken Futures REST calls for one API key.

    Rules: every call is signed over the URL-encoded postData exactly as sent plus the Nonce
    header plus the path without ``/derivatives`` (API-FACTS 5.1); nonces come from the shared
    per-key NonceSource and calls are sent one at a time per key, so nonces arrive in order;
    each call first takes its cost from the budget (waiting when short).
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        nonces: NonceSource,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        budget: CostBudget | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.origin = rest_origin(base_url)
        self._creds = credentials
        self._nonces = nonces
        self._key_id = key_id(credentials.api_key)
        self._client = client or new_client(timeout)
        self._owns_client = client is None
        self._lock = PriorityLock()
        self.budget = budget or CostBudget()
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"FuturesRest({self.origin!r})"

    async def _take_budget(self, cost: float, urgent: bool, observer: SendObserver) -> None:
        while True:
            wait = self.budget.reserve(cost, urgent=urgent)
            if wait <= 0:
                return
            log.info("futures budget short: waiting %.2f s for %.0f units", wait, cost)
            observer.waiting(wait, "Kraken Futures' cost budget")
            await self._sleep(wait)

    async def call(
        self,
        http_method: str,
        endpoint: str,
        params: Sequence[tuple[str, str]],
        cost: float,
        *,
        urgent: bool = False,
        observer: SendObserver = NO_OBSERVER,
    ) -> dict[str, Any]:
        """``_call_once``, sent once more after a nonce refusal (nothing was applied: another
        program used the key), the nonce jumped ahead; a second refusal says so."""
        return await retry_after_nonce_clash(
            lambda: self._call_once(http_method, endpoint, params, cost, urgent=urgent, observer=observer),
            self._nonces,
            self._key_id,
            (wire.E_NONCE_LOW, wire.E_NONCE_DUP),
            "Kraken Futures",
        )

    async def _call_once(
        self,
        http_method: str,
        endpoint: str,
        params: Sequence[tuple[str, str]],
        cost: float,
        *,
        urgent: bool = False,
        observer: SendObserver = NO_OBSERVER,
    ) -> dict[str, Any]:
        """Send one signed request and return the success reply.

        Args:
            http_method: ``GET`` or ``POST``.
            endpoint: the name after ``/derivatives/api/v3/``.
            params: parameters in send order.
            cost: the call's budget cost.
            urgent: the emergency lane: held budget units, first in line for the key.
            observer: told of budget waits and when the bytes leave.

        Returns:
            The reply object (``result`` was ``success``).

        Raises:
            VenueError: as ``wire.parse_envelope``; TransportError on timeout or a
                dropped connection; VenueUnavailable when the connection could not be made.
        """
        path = f"{wire.API_PREFIX}/{endpoint}"
        post_data = wire.encode_form(params)
        # The budget is waited for outside the key's lock, so a cancel-all never queues behind
        # ordinary requests waiting for budget (the kill switch once reached Kraken 13.5 s late).
        await self._take_budget(cost, urgent, observer)
        # An urgent call does not wait for the request in flight either: Kraken Futures tolerates
        # briefly reordered nonces (API-FACTS 5.1), so the kill switch leaves at once on a pooled
        # connection of its own. Ordinary calls stay one at a time, in nonce order.
        lane = contextlib.nullcontext() if urgent else self._lock.hold()
        async with lane:
            nonce = str(self._nonces.next(self._key_id))
            headers = {
                "APIKey": self._creds.api_key,
                "Authent": futures_rest_sign(path, nonce, post_data, self._creds.secret),
                "Nonce": nonce,
                "User-Agent": "kraken-cancel-console",
            }
            observer.sent()
            try:
                if http_method == "GET":
                    url = self.origin + path + (f"?{post_data}" if post_data else "")
                    resp = await self._client.get(url, headers=headers)
                else:
                    headers["Content-Type"] = _FORM
                    resp = await self._client.post(
                        self.origin + path, content=post_data.encode(), headers=headers
                    )
            except httpx.TransportError as e:
                raise error_for_transport(e, f"Futures {endpoint}") from e
        try:
            data = wire.parse_envelope(resp.status_code, resp.headers.get("content-type", ""), resp.content)
        except RateLimited as e:
            e.retry_after = self.budget.penalize()
            log.warning("%s: rate limited by Kraken Futures; backing off %.1f s", endpoint, e.retry_after)
            raise
        self.budget.succeeded()
        return data

    async def open_orders(self, account_id: str, problems: list[str] | None = None) -> list[Order]:
        """GET openorders (cost 2); malformed entries are skipped and told to ``problems``."""
        data = await self.call("GET", "openorders", (), wire.COST_OPEN_ORDERS)
        return wire.parse_open_orders(account_id, data, problems)

    async def cancel_order(
        self,
        ref: CancelRef,
        before: str | None = None,
        *,
        urgent: bool = False,
        observer: SendObserver = NO_OBSERVER,
    ) -> tuple[wire.CancelItem, str | None]:
        """POST cancelorder (cost 10); returns the cancelStatus and the serverTime."""
        params = wire.cancel_order_params(ref, before)
        data = await self.call(
            "POST", "cancelorder", params, wire.COST_CANCEL, urgent=urgent, observer=observer
        )
        return wire.parse_cancel_order(data), _server_time(data)

    async def batch_cancel(
        self, refs: Sequence[CancelRef], *, urgent: bool = False, observer: SendObserver = NO_OBSERVER
    ) -> tuple[list[wire.CancelItem], str | None]:
        """POST batchorder with cancel instructions (cost 9 + n)."""
        params, cost = wire.batch_cancel_params(refs), wire.batch_cost(len(refs))
        data = await self.call("POST", "batchorder", params, cost, urgent=urgent, observer=observer)
        return wire.parse_batch(data), _server_time(data)

    async def cancel_all(
        self, symbol: str | None = None, *, urgent: bool = False, observer: SendObserver = NO_OBSERVER
    ) -> tuple[wire.CancelAllResult, str | None]:
        """POST cancelallorders, account-wide or for one symbol (cost 25)."""
        params = [("symbol", symbol)] if symbol is not None else []
        data = await self.call(
            "POST", "cancelallorders", params, wire.COST_CANCEL_ALL, urgent=urgent, observer=observer
        )
        return wire.parse_cancel_all(data), _server_time(data)

    async def notifications(self) -> list[dict[str, Any]]:
        """GET notifications (read-only key; not in the cost table): platform notices."""
        data = await self.call("GET", "notifications", (), 0.0)
        raw = data.get("notifications")
        return [n for n in raw if isinstance(n, dict)] if isinstance(raw, list) else []

    async def cancel_all_after(self, timeout_s: int) -> tuple[str | None, str | None]:
        """POST cancelallordersafter (cost 25); 0 disarms."""
        data = await self.call(
            "POST", "cancelallordersafter", [("timeout", str(int(timeout_s)))], wire.COST_CANCEL_ALL_AFTER
        )
        return wire.parse_deadman(data)

    async def aclose(self) -> None:
        """Close the HTTP client if we made it."""
        if self._owns_client:
            await self._client.aclose()


def _server_time(data: dict[str, Any]) -> str | None:
    value = data.get("serverTime")
    return str(value) if value else None

"""Spot's per-pair trading counter applied to one account's cancels: wait, charge, learn."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.core.plan import CancelRequest, RequestForm
from app.core.ratelimits import SpotTradingCounters, pair_key, spot_tier_for
from app.venues.base import SendObserver


class SpotPacer:
    """Keeps one Spot account's cancels inside Kraken's per-pair trading counter (API-FACTS 7.2).

    The counter is shared by every transport of the account (REST, WS v2, WS v1), so the account
    has one pacer. Rules: an ordinary request waits (telling its observer how long) until the
    model lets it go; an urgent one (cancel-all, kill switch) never waits; what goes is charged
    at once; a rate-limit answer puts the pairs at the threshold; Kraken's own ``ratecount`` and
    tier replace the estimate.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.counters = SpotTradingCounters()
        self._queue: dict[int, dict[str, int]] = {}  # requests waiting: their costs, in arrival order
        self._tokens = itertools.count()
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep

    def wait_s(self, request: CancelRequest) -> float:
        """How long an ordinary ``request`` would wait now (for an estimate; charges nothing)."""
        costs = self.counters.costs(request.orders, self._wall())
        return self.counters.wait_s(costs, self._clock(), batch=request.form is not RequestForm.SINGLE)

    async def take_turn(
        self, request: CancelRequest, *, urgent: bool, observer: SendObserver
    ) -> dict[str, int]:
        """Wait until ``request`` may go, charge it, and return what it cost per pair."""
        batch = request.form is not RequestForm.SINGLE
        mine: dict[str, int] = {}
        token = next(self._tokens)
        self._queue[token] = mine
        try:
            while True:
                costs = self.counters.costs(request.orders, self._wall())
                mine.clear()
                mine.update(costs)
                wait = 0.0 if urgent else self.counters.wait_s(costs, self._clock(), batch=batch)
                if wait <= 0:
                    self.counters.charge(costs, self._clock())
                    return costs
                # What the trader is told: the wait behind the requests queued ahead of this one
                # on its pairs (each will be charged first), not only the next decay.
                observer.waiting(max(wait, self._queued_wait(token, batch)), "Kraken's per-pair rate limit")
                await self._sleep(wait)
        finally:
            del self._queue[token]

    def _queued_wait(self, token: int, batch: bool) -> float:
        """Seconds until request ``token`` may go once every request waiting ahead of it went."""
        mine = self._queue[token]
        ahead: dict[str, int] = {}
        for other, costs in self._queue.items():
            if other == token:
                break
            for pair, cost in costs.items():
                if pair in mine:
                    ahead[pair] = ahead.get(pair, 0) + cost
        return self.counters.wait_s(mine, self._clock(), batch=batch, ahead=ahead) if ahead else 0.0

    def refused(self, costs: dict[str, int]) -> None:
        """Kraken answered ``EOrder:Rate limit exceeded``: those pairs are full."""
        self.counters.refused(costs, self._clock())

    def observe(self, symbol: str, count: float) -> None:
        """Kraken streamed a pair's counter."""
        self.counters.observe(pair_key(symbol), count, self._clock())

    def set_max(self, max_ratecount: float) -> None:
        """Kraken told the account's threshold (v2 ``maxratecount``): its tier's decay follows."""
        tier = spot_tier_for(max_ratecount)
        if tier is not self.counters.tier:
            self.counters.set_tier(tier)

"""Kraken's rate limits as models the cancel path plans against (API-FACTS 7): pure, time passed in.

Three limits matter to a cancel console:

- Spot's per-pair trading counter (7.2), shared by REST, WebSocket and FIX: a cancel costs more
  the younger the order (8 under 5 s, nothing after 300 s); the counter decays per second by tier;
  above the tier's threshold Kraken answers ``EOrder:Rate limit exceeded``. A batch that overflows
  is still accepted when the pair was below the threshold, so the first batch on a busy pair is
  best spent on its youngest orders.
- Spot's REST call counter per key (7.1): most private calls cost 1 (QueryOrders, OpenOrders,
  GetWebSocketsToken); cancels are counted by the engine instead.
- Futures' budget per key (7.3): 500 cost units per 10 s.

The models never claim more than Kraken said: they are estimates that keep the console inside the
limits, corrected when Kraken answers a rate limit anyway or streams its own counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.core.orders import Order


@dataclass(frozen=True, slots=True)
class SpotTier:
    """One verification tier's limits (API-FACTS 7.1, 7.2)."""

    name: str
    trading_threshold: float
    trading_decay_per_s: float
    call_max: float
    call_decay_per_s: float


SPOT_TIERS: dict[str, SpotTier] = {
    "starter": SpotTier("starter", 60, 1.0, 15, 0.33),
    "intermediate": SpotTier("intermediate", 125, 2.34, 20, 0.5),
    "pro": SpotTier("pro", 180, 3.75, 20, 1.0),
}
DEFAULT_SPOT_TIER = SPOT_TIERS["starter"]  # the slowest: never assume more than we are given

# Extra cost of a cancel by how long the order rested: (rested less than s, cost), API-FACTS 7.2.
_CANCEL_COST = ((5.0, 8), (10.0, 6), (15.0, 5), (45.0, 4), (90.0, 2), (300.0, 1))


def spot_tier_for(max_ratecount: float | None) -> SpotTier:
    """The tier whose threshold Kraken reported (v2 ``maxratecount``); the slowest if unknown."""
    if max_ratecount is None:
        return DEFAULT_SPOT_TIER
    return min(SPOT_TIERS.values(), key=lambda t: abs(t.trading_threshold - max_ratecount))


def spot_cancel_cost(age_s: float) -> int:
    """What cancelling an order that rested ``age_s`` seconds adds to its pair's counter."""
    for limit, cost in _CANCEL_COST:
        if age_s < limit:
            return cost
    return 0


def pair_key(symbol: str) -> str:
    """One name per Spot pair whatever the transport spells it (XBTUSD, XBT/USD, BTC/USD)."""
    return symbol.replace("/", "").replace("-", "").upper().replace("XBT", "BTC")


class DecayingCounter:
    """A level that falls linearly to zero at ``decay_per_s`` and rises by what is added."""

    __slots__ = ("_at", "_decay", "_value")

    def __init__(self, decay_per_s: float) -> None:
        self._decay = decay_per_s
        self._value = 0.0
        self._at = 0.0

    def value(self, now: float) -> float:
        """The level at ``now`` (monotonic seconds)."""
        return max(0.0, self._value - (now - self._at) * self._decay)

    def set(self, value: float, now: float) -> None:
        """Put the level at ``value`` (Kraken said so, or refused us)."""
        self._value, self._at = max(0.0, value), now

    def add(self, amount: float, now: float) -> None:
        """Raise the level by ``amount``."""
        self.set(self.value(now) + amount, now)

    def seconds_until(self, level: float, now: float) -> float:
        """How long until the level is at or below ``level`` (0 if it is already)."""
        excess = self.value(now) - level
        return max(0.0, excess / self._decay) if self._decay > 0 else (0.0 if excess <= 0 else float("inf"))


class SpotTradingCounters:
    """One Spot account's per-pair trading counters, as the console estimates them.

    Rules (API-FACTS 7.2): a single cancel may go when it keeps its pair at or under the
    threshold; a batch may go when every pair it touches is under the threshold (it may then
    overflow); what is sent is charged at once; a refusal puts the pair at the threshold; a
    ``ratecount`` Kraken streams replaces the estimate.
    """

    def __init__(self, tier: SpotTier = DEFAULT_SPOT_TIER) -> None:
        self.tier = tier
        self._pairs: dict[str, DecayingCounter] = {}

    def set_tier(self, tier: SpotTier) -> None:
        """Use another tier's threshold and decay (Kraken told us the account's)."""
        self.tier = tier
        self._pairs = {}

    def _counter(self, pair: str) -> DecayingCounter:
        counter = self._pairs.get(pair)
        if counter is None:
            counter = self._pairs[pair] = DecayingCounter(self.tier.trading_decay_per_s)
        return counter

    def costs(self, orders: Iterable[Order], now_wall: float) -> dict[str, int]:
        """What cancelling ``orders`` now would add, per pair (an order of unknown age is young)."""
        out: dict[str, int] = {}
        for o in orders:
            age = now_wall - o.opened_at if o.opened_at > 0 else 0.0
            key = pair_key(o.symbol)
            out[key] = out.get(key, 0) + spot_cancel_cost(age)
        return out

    def level(self, pair: str, now: float) -> float:
        """The estimated counter of ``pair`` (a ``pair_key``)."""
        return self._counter(pair).value(now)

    def wait_s(
        self, costs: dict[str, int], now: float, *, batch: bool, ahead: Mapping[str, int] | None = None
    ) -> float:
        """Seconds until a request with these per-pair costs may go (0: now); with ``ahead``, the
        costs of requests that go first on those pairs (they are charged before this one)."""
        limit = self.tier.trading_threshold
        wait = 0.0
        for pair, cost in costs.items():
            if cost == 0:
                continue
            counter = self._counter(pair)
            # A batch needs the pair under the threshold; a single must stay at or under it.
            target = max(0.0, limit - 1 if batch else limit - cost)
            if ahead:
                target -= ahead.get(pair, 0)  # the pair first decays through what goes before
            wait = max(wait, counter.seconds_until(target, now))
        return wait

    def charge(self, costs: dict[str, int], now: float) -> None:
        """The request went: its costs are on the counters."""
        for pair, cost in costs.items():
            if cost:
                self._counter(pair).add(cost, now)

    def refused(self, costs: dict[str, int], now: float) -> None:
        """Kraken refused a request charged with ``costs`` for a rate limit.

        Nothing was applied, so nothing was charged at Kraken: take the request's costs back off;
        and the pair is at least at the threshold (that is why Kraken refused).
        """
        for pair, cost in costs.items():
            counter = self._counter(pair)
            counter.set(max(counter.value(now) - cost, self.tier.trading_threshold), now)

    def observe(self, pair: str, count: float, now: float) -> None:
        """Kraken streamed the pair's counter: it replaces the estimate."""
        self._counter(pair).set(count, now)


class CallCounter:
    """A per-key call counter with a ceiling and a decay (Spot REST, API-FACTS 7.1).

    Rules: a call may go when its cost keeps the counter at or under the ceiling, less what is
    held back for the emergency lane (cancel-all, kill switch) unless it is such a call; a
    background call (the listing poll) also leaves ``headroom`` for cancels and their re-checks.
    """

    def __init__(
        self, ceiling: float, decay_per_s: float, *, reserve: float = 0.0, headroom: float = 0.0
    ) -> None:
        self.ceiling = ceiling
        self.reserve = reserve
        self.headroom = headroom
        self._counter = DecayingCounter(decay_per_s)

    def wait_s(self, cost: float, now: float, *, urgent: bool = False, background: bool = False) -> float:
        """Seconds until a call of ``cost`` may go."""
        room = self.ceiling - (0.0 if urgent else self.reserve) - (self.headroom if background else 0.0)
        return self._counter.seconds_until(max(0.0, room - cost), now)

    def charge(self, cost: float, now: float) -> None:
        """The call went."""
        self._counter.add(cost, now)

    def refused(self, now: float) -> None:
        """Kraken answered a rate limit: the counter is full."""
        self._counter.set(max(self._counter.value(now), self.ceiling), now)

    def level(self, now: float) -> float:
        """The estimated counter."""
        return self._counter.value(now)

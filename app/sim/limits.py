"""The rate-limit room: the Spot call counter, the per-pair trading counters and the Futures budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.sim.clock import SimClock
from app.sim.orders import SimOrder


@dataclass(frozen=True, slots=True)
class SpotTier:
    """Spot rate limits of one verification tier (API-FACTS 7.1, 7.2)."""

    name: str
    call_max: float
    call_decay_per_s: float
    trading_threshold: float
    trading_decay_per_s: float
    max_open_per_pair: int


SPOT_TIERS: dict[str, SpotTier] = {
    "starter": SpotTier("starter", 15, 0.33, 60, 1.0, 60),
    "intermediate": SpotTier("intermediate", 20, 0.5, 125, 2.34, 80),
    "pro": SpotTier("pro", 20, 1.0, 180, 3.75, 225),
}

# Futures: 500 cost units per 10 s per key (API-FACTS 7.3), modelled as a budget that refills
# continuously at 50 units/s.
FUTURES_BUDGET = 500.0
FUTURES_REFILL_PER_S = 50.0


class DecayingCounter:
    """A counter that decays linearly to zero over time, as Kraken's rate counters do."""

    __slots__ = ("_at", "_value", "decay_per_s")

    def __init__(self, decay_per_s: float) -> None:
        """Start at zero.

        Args:
            decay_per_s: How much the value drops each second.
        """
        self.decay_per_s = decay_per_s
        self._value = 0.0
        self._at = 0.0

    def value(self, now: float) -> float:
        """Return the value at monotonic time ``now``.

        Args:
            now: Monotonic seconds.

        Returns:
            The decayed value, never below zero.
        """
        return max(0.0, self._value - (now - self._at) * self.decay_per_s)

    def add(self, amount: float, now: float) -> float:
        """Add ``amount`` at time ``now``.

        Args:
            amount: The cost.
            now: Monotonic seconds.

        Returns:
            The new value.
        """
        self._value = self.value(now) + amount
        self._at = now
        return self._value


def spot_cancel_cost(age_s: float) -> int:
    """Trading-counter cost of cancelling a Spot order that rested ``age_s`` (API-FACTS 7.2).

    Args:
        age_s: Seconds since the order was placed.

    Returns:
        8, 6, 5, 4, 2, 1 or 0.
    """
    for limit, cost in ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1)):
        if age_s < limit:
            return cost
    return 0


class RateLimits:
    """Every rate counter of every account, charged by the hosts before they act.

    Rules kept (API-FACTS 7): the Spot REST call counter decays by tier and refuses a call that
    would pass the tier's maximum; each Spot pair has its own trading counter, +1 per AddOrder
    and a cancel cost that falls with the order's age; a single cancel is refused when it would
    pass the threshold, a batch only when a pair it touches is already over; the Futures budget
    is 500 per 10 s, refilled continuously; a refused request charges nothing; switched off
    (``enabled`` False), everything passes and nothing is charged.
    """

    def __init__(self, clock: SimClock, tier_of: Callable[[str], str], *, enabled: bool = True) -> None:
        """Start with every counter at zero.

        Args:
            clock: The exchange's clocks (counters run on monotonic time, order ages on wall time).
            tier_of: The Spot tier name of an account (KeyError for an unknown one).
            enabled: Enforce the limits.
        """
        self.clock = clock
        self.tier_of = tier_of
        self.enabled = enabled
        self._call_counters: dict[str, DecayingCounter] = {}
        self._trade_counters: dict[tuple[str, str], DecayingCounter] = {}
        self._futures_budgets: dict[str, DecayingCounter] = {}

    def spot_tier(self, account: str) -> SpotTier:
        """Return the Spot tier limits of an account.

        Args:
            account: Account name.

        Returns:
            The tier.
        """
        return SPOT_TIERS[self.tier_of(account)]

    def charge_spot_call(self, account: str, cost: float = 1.0) -> bool:
        """Charge the Spot REST call counter (API-FACTS 7.1).

        A rejected call is not added to the counter.

        Args:
            account: Account name.
            cost: 1 for most calls, 2 for ledger/trade history.

        Returns:
            False if the call must fail with ``EAPI:Rate limit exceeded``.
        """
        if not self.enabled:
            return True
        tier = self.spot_tier(account)
        counter = _counter(self._call_counters, account, tier.call_decay_per_s)
        return self._charge(counter, cost, tier.call_max)

    def _charge(self, counter: DecayingCounter, cost: float, limit: float) -> bool:
        now = self.clock.monotonic()
        if counter.value(now) + cost > limit:
            return False
        counter.add(cost, now)
        return True

    def _trade_counter(self, account: str, symbol: str) -> DecayingCounter:
        key = (account, symbol)
        counter = self._trade_counters.get(key)
        if counter is None:
            counter = self._trade_counters[key] = DecayingCounter(self.spot_tier(account).trading_decay_per_s)
        return counter

    def spot_rate_count(self, account: str, symbol: str) -> float:
        """Return the per-pair trading counter (for ``ratecounter`` feeds).

        Args:
            account: Account name.
            symbol: Spot pair.

        Returns:
            The current decayed value.
        """
        return self._trade_counter(account, symbol).value(self.clock.monotonic())

    def charge_spot_add(self, account: str, symbol: str) -> bool:
        """Charge the per-pair trading counter for an AddOrder (+1).

        Args:
            account: Account name.
            symbol: Spot pair.

        Returns:
            False if it must fail with ``EOrder:Rate limit exceeded`` (nothing is charged).
        """
        if not self.enabled:
            return True
        counter = self._trade_counter(account, symbol)
        return self._charge(counter, 1, self.spot_tier(account).trading_threshold)

    def charge_spot_cancels(self, account: str, orders: Sequence[SimOrder], *, batch: bool = False) -> bool:
        """Charge the per-pair trading counters for cancelling ``orders`` (API-FACTS 7.2).

        Cost per order depends on how long it rested (``spot_cancel_cost``). A single cancel
        is refused when it would push a pair over the threshold. A batch (CancelOrderBatch,
        CancelAll, a userref naming several orders) is accepted even if it overflows, and is
        refused only when a pair it touches is already over the threshold.

        Args:
            account: Account name.
            orders: The orders about to be cancelled.
            batch: Batch semantics as above.

        Returns:
            False if the request must fail with ``EOrder:Rate limit exceeded`` (nothing is
            charged then).
        """
        if not self.enabled or not orders:
            return True
        now_wall = self.clock.wall()
        costs: dict[str, int] = {}
        for order in orders:
            cost = spot_cancel_cost(now_wall - order.opened_at)
            costs[order.symbol] = costs.get(order.symbol, 0) + cost
        now = self.clock.monotonic()
        threshold = self.spot_tier(account).trading_threshold
        for symbol, cost in costs.items():
            value = self._trade_counter(account, symbol).value(now)
            if value > threshold or (not batch and value + cost > threshold):
                return False
        for symbol, cost in costs.items():
            if cost:
                self._trade_counter(account, symbol).add(cost, now)
        return True

    def charge_futures(self, account: str, cost: float) -> bool:
        """Charge the Futures ``/derivatives`` budget (500 per 10 s, API-FACTS 7.3).

        Args:
            account: Account name.
            cost: The endpoint's cost (cancelorder 10, batchorder 9 + n, ...).

        Returns:
            False if the call must fail with ``apiLimitExceeded`` (nothing is charged).
        """
        if not self.enabled:
            return True
        counter = _counter(self._futures_budgets, account, FUTURES_REFILL_PER_S)
        return self._charge(counter, cost, FUTURES_BUDGET)


def _counter(counters: dict[str, DecayingCounter], account: str, decay_per_s: float) -> DecayingCounter:
    """An account's counter in ``counters``, started at zero on first use."""
    counter = counters.get(account)
    if counter is None:
        counter = counters[account] = DecayingCounter(decay_per_s)
    return counter

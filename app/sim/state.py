"""The simulator's one shared exchange: a thin front over its rooms, one per set of rules."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from app.sim.accounts import ALL_PERMISSIONS, DEFAULT_PERMISSIONS, Account, Accounts
from app.sim.activity import Market, MarketActivity
from app.sim.arrivals import Arrival, ArrivalLog
from app.sim.book import OrderBook
from app.sim.clock import SimClock
from app.sim.deadman import DEADMAN_MAX_TIMEOUT_S, DeadmanSwitches
from app.sim.demo import DemoData
from app.sim.instruments import (
    INSTRUMENTS,
    SPOT_BY_ALTNAME,
    AccountKind,
    Instrument,
    fmt_decimal,
    instruments_of,
    spot_instrument,
)
from app.sim.limits import (
    FUTURES_BUDGET,
    FUTURES_REFILL_PER_S,
    SPOT_TIERS,
    DecayingCounter,
    RateLimits,
    SpotTier,
    spot_cancel_cost,
)
from app.sim.orders import (
    CANCEL_ORDER_TYPES,
    ORDER_TYPES,
    REASON_DEADMAN,
    REASON_EXPIRED,
    REASON_REPLACED,
    REASON_USER,
    STOP_ORDER_TYPES,
    EventKind,
    OrderCallback,
    OrderEvent,
    OrderRejected,
    OrderStatus,
    SimOrder,
)
from app.sim.tokens import WS_TOKEN_TTL_S, WsToken, WsTokens
from app.sim.truth import Actor, TruthLedger, acting

# Names other code imports from here since the exchange was one module.
__all__ = [
    "ALL_PERMISSIONS",
    "CANCEL_ORDER_TYPES",
    "DEADMAN_MAX_TIMEOUT_S",
    "DEFAULT_PERMISSIONS",
    "FUTURES_BUDGET",
    "FUTURES_REFILL_PER_S",
    "INSTRUMENTS",
    "ORDER_TYPES",
    "REASON_DEADMAN",
    "REASON_EXPIRED",
    "REASON_REPLACED",
    "REASON_USER",
    "SPOT_BY_ALTNAME",
    "SPOT_TIERS",
    "STOP_ORDER_TYPES",
    "WS_TOKEN_TTL_S",
    "Account",
    "AccountKind",
    "Actor",
    "Arrival",
    "DecayingCounter",
    "EventKind",
    "Exchange",
    "Instrument",
    "Market",
    "MarketActivity",
    "OrderCallback",
    "OrderEvent",
    "OrderRejected",
    "OrderStatus",
    "SimOrder",
    "SpotTier",
    "WsToken",
    "acting",
    "fmt_decimal",
    "instruments_of",
    "spot_cancel_cost",
    "spot_instrument",
]


class Exchange:
    """All accounts and orders of every simulated venue, shared by all hosts.

    Not thread-safe: use it only on the simulator's event loop (``SimThread.call``).

    The rules live in the rooms, each keeping its own: ``accounts`` (keys, permissions, tiers,
    Spot nonces), ``book`` (orders and their events), ``limits`` (rate counters), ``deadman``
    (dead man's switch timers), ``tokens`` (WebSocket tokens), ``demo`` (demo orders),
    ``arrivals`` (the request log) and ``truth`` (who did what to every order, for
    ``/_sim/truth``). Every room shares one rng (ids and tokens replay from the
    seed) and one ``SimClock`` (setting ``clock`` or ``monotonic`` here reaches them all).

    The rooms' commands are also attributes of the front, under the names callers have always
    used: ``exchange.fill`` is ``exchange.book.fill``, ``exchange.arm_deadman`` is
    ``exchange.deadman.arm``.

    Events: ``subscribe(account, callback)`` delivers an ``OrderEvent`` synchronously for every
    new order, amend, fill, cancel and expiry.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rate_limits: bool = True,
    ) -> None:
        """Create an empty exchange.

        Args:
            seed: Seeds every id, key and secret, so a run can be reproduced.
            clock: Wall clock (unix seconds) for order times.
            monotonic: Clock for rate counters.
            rate_limits: Enforce rate limits (switch off for demos).
        """
        self.seed = seed
        self.rng = random.Random(seed)
        self.clocks = SimClock(clock, monotonic)
        self.book = OrderBook(self.rng, self.clocks)
        # Subscribed first, so it hears every order the exchange will ever have.
        self.truth = TruthLedger(self.book)
        self.accounts = Accounts(seed, on_added=self.book.open_account)
        self.limits = RateLimits(self.clocks, self._tier_of, enabled=rate_limits)
        self.deadman = DeadmanSwitches(self.clocks, self.accounts, self.book)
        self.tokens = WsTokens(self.rng, self.clocks, self.accounts)
        self.demo = DemoData(self.clocks, self.accounts, self.book)
        self.arrivals = ArrivalLog()
        self.spot_nonces = self.accounts.spot_nonces

        self.add_account = self.accounts.add
        self.account = self.accounts.account
        self.account_by_key = self.accounts.by_key
        self.credentials = self.accounts.credentials

        self.add_order = self.book.add_order
        self.get_order = self.book.get_order
        self.open_orders = self.book.open_orders
        self.open_count = self.book.open_count
        self.random_open_order = self.book.random_open_order
        self.find_open = self.book.find_open
        self.counts = self.book.counts
        self.cancel = self.book.cancel
        self.cancel_many = self.book.cancel_many
        self.cancel_by_userref = self.book.cancel_by_userref
        self.cancel_by_cl_ord_id = self.book.cancel_by_cl_ord_id
        self.cancel_all = self.book.cancel_all
        self.fill = self.book.fill
        self.expire = self.book.expire
        self.amend = self.book.amend
        self.replace = self.book.replace
        self.subscribe = self.book.subscribe

        self.spot_tier = self.limits.spot_tier
        self.charge_spot_call = self.limits.charge_spot_call
        self.spot_rate_count = self.limits.spot_rate_count
        self.charge_spot_add = self.limits.charge_spot_add
        self.charge_spot_cancels = self.limits.charge_spot_cancels
        self.charge_futures = self.limits.charge_futures

        self.arm_deadman = self.deadman.arm
        self.disarm_deadman = self.deadman.disarm
        self.deadman_trigger_time = self.deadman.trigger_time

        self.issue_token = self.tokens.issue
        self.validate_token = self.tokens.validate
        self.mark_token_used = self.tokens.mark_used
        self.invalidate_tokens = self.tokens.invalidate

        self.generate_orders = self.demo.generate_orders
        self.seed_demo = self.demo.seed_demo
        self.record_arrival = self.arrivals.record

    def _tier_of(self, account: str) -> str:
        return self.accounts[account].tier

    @property
    def clock(self) -> Callable[[], float]:
        """Wall clock (unix seconds) of every room; assign to replace it everywhere."""
        return self.clocks.wall

    @clock.setter
    def clock(self, wall: Callable[[], float]) -> None:
        self.clocks.wall = wall

    @property
    def monotonic(self) -> Callable[[], float]:
        """Monotonic clock of the rate counters; assign to replace it everywhere."""
        return self.clocks.monotonic

    @monotonic.setter
    def monotonic(self, monotonic: Callable[[], float]) -> None:
        self.clocks.monotonic = monotonic

    @property
    def rate_limits_enabled(self) -> bool:
        """Whether rate limits are enforced (``/_sim/rate_limits`` and tests switch it)."""
        return self.limits.enabled

    @rate_limits_enabled.setter
    def rate_limits_enabled(self, enabled: bool) -> None:
        self.limits.enabled = enabled

    def close(self) -> None:
        """Disarm every timer (call when the simulator stops)."""
        self.deadman.close()

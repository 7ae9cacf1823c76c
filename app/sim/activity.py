"""The market activity room: fills, expiries, new orders and another tool's cancels, racing the console."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from app.sim.book import OrderBook
from app.sim.clock import SimClock
from app.sim.demo import DemoData
from app.sim.instruments import fmt_decimal, instrument_or_default
from app.sim.orders import REASON_EXPIRED, REASON_USER, OrderEvent
from app.sim.truth import Actor, acting

ACTIVITY = Actor("activity")

log = logging.getLogger("app.sim.activity")


class Market(Protocol):
    """What market activity needs of the exchange: its rooms (``state.Exchange`` has them)."""

    @property
    def accounts(self) -> Collection[str]:
        """The account names."""
        ...

    @property
    def clocks(self) -> SimClock:
        """The exchange's clocks."""
        ...

    @property
    def book(self) -> OrderBook:
        """The order book, where fills and expiries happen."""
        ...

    @property
    def demo(self) -> DemoData:
        """Makes the new orders."""
        ...


class MarketActivity:
    """Random fills, expiries, new orders, and another tool's cancels and edits, racing the console.

    Runs as a named asyncio task on the exchange's loop. Rules kept: it never charges rate
    limits; every change is attributed to the ``activity`` actor (the truth endpoint says so);
    the number of open orders per account is kept near its level at ``start()``; of the steps
    that touch an open order, ``expire_share`` expire it, ``cancel_share`` cancel it as another
    tool on the account would (reason ``User requested``), ``replace_share`` edit a Spot order
    into a new txid (EditOrder), and the rest fill it, partly or fully; a failing step is logged
    and the activity goes on.
    """

    def __init__(
        self,
        exchange: Market,
        rng: random.Random,
        rate_per_s: float = 2.0,
        *,
        accounts: Sequence[str] | None = None,
        expire_share: float = 0.03,
        cancel_share: float = 0.05,
        replace_share: float = 0.02,
    ) -> None:
        """Configure the activity.

        Args:
            exchange: The exchange to act on.
            rng: Random source for choices.
            rate_per_s: Mean number of actions per second (over all accounts).
            accounts: Accounts to act on; default all at ``start()``.
            expire_share: Share of order steps that expire the order.
            cancel_share: Share that cancel it (another tool on the account).
            replace_share: Share that edit a Spot order into a new one.
        """
        self.exchange = exchange
        self.rng = rng
        self.rate_per_s = rate_per_s
        self.expire_share = expire_share
        self.cancel_share = cancel_share
        self.replace_share = replace_share
        self.accounts = list(accounts) if accounts is not None else None
        self._targets: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, Any]:
        """The activity's settings as JSON (``/_sim/activity``)."""
        return {
            "rate_per_s": self.rate_per_s,
            "expire_share": self.expire_share,
            "cancel_share": self.cancel_share,
            "replace_share": self.replace_share,
            "running": self.running,
        }

    def patch(self, changes: Mapping[str, Any]) -> None:
        """Change the rate or the shares; a rate above 0 starts a stopped activity.

        Raises:
            ValueError: an unknown setting or a bad value (nothing changes then).
        """
        names = {"rate_per_s", "expire_share", "cancel_share", "replace_share"}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        for name, value in changes.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
        for name, value in changes.items():
            setattr(self, name, float(value))
        if self.rate_per_s > 0 and not self.running:
            self.start()

    @property
    def running(self) -> bool:
        """True while the task runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the task on the running loop (no-op if running or the rate is 0).

        Raises:
            RuntimeError: When no event loop is running.
        """
        if self.running or self.rate_per_s <= 0:
            return
        self._targets = self._initial_targets()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-market-activity")

    def _initial_targets(self) -> dict[str, int]:
        names = self.accounts if self.accounts is not None else list(self.exchange.accounts)
        return {name: max(self.exchange.book.open_count(name), 5) for name in names}

    async def stop(self) -> None:
        """Stop the task and wait for it to end."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        tick = min(0.05, 1.0 / self.rate_per_s)
        due = 0.0
        last = self.exchange.clocks.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = self.exchange.clocks.monotonic()
            due += (now - last) * self.rate_per_s
            last = now
            while due >= 1.0:
                due -= 1.0
                try:
                    self.step()
                except Exception:
                    log.exception("market activity step failed")

    def step(self) -> OrderEvent | None:
        """Do one random action on one random account, as the ``activity`` actor.

        Returns:
            A description of what was done (an event built from the result), or None.
        """
        with acting(ACTIVITY):
            return self._step()

    def _step(self) -> OrderEvent | None:
        if not self._targets:
            self._targets = self._initial_targets()
        if not self._targets:
            return None
        exchange = self.exchange
        account = self.rng.choice(list(self._targets))
        if account not in exchange.accounts:
            return None
        target = self._targets[account]
        count = exchange.book.open_count(account)
        roll = self.rng.random()
        want_add = count < target * 0.8 or (count < target * 1.2 and roll < 0.4)
        if count == 0 or want_add:
            made = exchange.demo.generate_orders(account, 1, self.rng, age_s=(0.0, 0.0))
            if not made:
                return None
            return OrderEvent("new", made[0].snapshot(), "market_activity", None, exchange.clocks.wall())
        order = exchange.book.random_open_order(account, self.rng)
        if order is None:
            return None
        now = exchange.clocks.wall()
        if roll < self.expire_share:
            expired = exchange.book.expire(account, order.order_id)
            if expired is None:
                return None
            return OrderEvent("expired", expired.snapshot(), REASON_EXPIRED, None, now)
        roll -= self.expire_share
        if roll < self.cancel_share:
            cancelled = exchange.book.cancel(account, order.order_id, REASON_USER)
            return (
                None
                if cancelled is None
                else OrderEvent("canceled", cancelled.snapshot(), REASON_USER, None, now)
            )
        roll -= self.cancel_share
        if roll < self.replace_share and Decimal(order.price) > 0:
            decimals = instrument_or_default(order.symbol).price_decimals
            nudge = Decimal("1.001") if order.side == "sell" else Decimal("0.999")
            price = fmt_decimal(Decimal(order.price) * nudge, decimals)
            new = exchange.book.replace(account, order.order_id, price=price)
            if new is not None:
                return OrderEvent("replaced", order.snapshot(), "Order replaced", None, now, new.order_id)
        remaining = order.remaining
        share = Decimal(1) if self.rng.random() < 0.3 else Decimal(str(self.rng.uniform(0.05, 0.6)))
        part = remaining * share
        decimals = instrument_or_default(order.symbol).qty_decimals
        part = part.quantize(Decimal(1).scaleb(-decimals))
        if part <= 0:
            part = remaining
        filled = exchange.book.fill(account, order.order_id, part)
        if filled is None:
            return None
        return OrderEvent("fill", filled.snapshot(), None, fmt_decimal(part, decimals), filled.updated_at)

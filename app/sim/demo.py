"""The demo-data room: plausible open orders, and the demo accounts that hold them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

from app.sim import ids
from app.sim.accounts import Account, Accounts
from app.sim.book import OrderBook
from app.sim.clock import SimClock
from app.sim.instruments import INSTRUMENTS, AccountKind, instrument_or_default, instruments_of
from app.sim.orders import OrderRejected, SimOrder
from app.sim.truth import Actor, acting


class DemoData:
    """Makes orders that look like a trader's book, through the order book like any other.

    Rules kept: every choice comes from the caller's rng, so a seed replays the same book;
    limits rest away from the market on the passive side and stops on the other; about one
    order in ten is partly filled and one in ten is seconds old; userrefs are shared by a few
    Spot and Futures orders; Prime orders always carry a client order id; a duplicate client
    order id skips that order rather than fail the demo.
    """

    def __init__(self, clock: SimClock, accounts: Accounts, book: OrderBook) -> None:
        """Bind to the rooms the demo fills.

        Args:
            clock: The exchange's clocks (orders are backdated from wall time).
            accounts: The accounts (``seed_demo`` creates missing ones).
            book: The order book orders are placed on.
        """
        self.clock = clock
        self.accounts = accounts
        self.book = book

    def generate_orders(
        self,
        account: str,
        n: int,
        rng: random.Random,
        *,
        symbols: Sequence[str] | None = None,
        age_s: tuple[float, float] | None = None,
    ) -> list[SimOrder]:
        """Add ``n`` plausible open orders to an account.

        Args:
            account: Account name.
            n: How many.
            rng: Random source (seeded by callers for reproducible demos).
            symbols: Symbols to use; default all of the account's kind.
            age_s: Range of ages in seconds; default mostly hours old, some seconds old.

        Returns:
            The new orders.
        """
        kind = self.accounts[account].kind
        pool = [INSTRUMENTS.get(s) or instrument_or_default(s) for s in symbols or ()]
        if not pool:
            pool = instruments_of(kind)
        now = self.clock.wall()
        shared_userrefs = (1001, 2002, 3003)
        made = []
        for _ in range(n):
            inst = rng.choice(pool)
            side = rng.choice(("buy", "sell"))
            order_type = rng.choices(
                ("limit", "stop-loss", "take-profit", "stop-loss-limit"), (75, 10, 5, 10)
            )[0]
            # Resting limits sit away from the market on the passive side; stops on the other.
            away = Decimal(str(rng.uniform(0.004, 0.15)))
            passive = inst.ref_price * (1 - away if side == "buy" else 1 + away)
            trigger = inst.ref_price * (1 + away if side == "buy" else 1 - away)
            price: Decimal = passive
            stop: Decimal | None = None
            if order_type in ("stop-loss", "take-profit"):
                price, stop = Decimal(0), trigger if order_type == "stop-loss" else passive
            elif order_type == "stop-loss-limit":
                stop = trigger
                price = trigger * (Decimal("1.002") if side == "buy" else Decimal("0.998"))
            low, high = inst.qty_range
            qty = Decimal(str(rng.uniform(low, high)))
            qty = max(qty, Decimal(1).scaleb(-inst.qty_decimals))
            filled = Decimal(0)
            if rng.random() < 0.1:
                filled = qty * Decimal(str(rng.uniform(0.05, 0.8)))
                filled = filled.quantize(Decimal(1).scaleb(-inst.qty_decimals))
                if filled >= qty:
                    filled = Decimal(0)
            if age_s is not None:
                age = rng.uniform(*age_s)
            elif rng.random() < 0.1:
                age = rng.uniform(1.0, 60.0)
            else:
                age = rng.uniform(600.0, 6 * 3600.0)
            userref: int | None = None
            cl_ord_id: str | None = None
            roll = rng.random()
            if kind == "prime":
                cl_ord_id = ids.new_uuid(rng)
            elif roll < 0.12:
                userref = rng.choice(shared_userrefs)
            elif roll < 0.25 and kind == "spot":
                userref = rng.randrange(1, 2**31)
            elif roll < 0.45:
                cl_ord_id = ids.new_uuid(rng) if rng.random() < 0.5 else f"grid-{rng.randrange(10**6)}"
            try:
                made.append(
                    self.book.add_order(
                        account,
                        inst.symbol,
                        side,
                        order_type,
                        qty,
                        price,
                        stop_price=stop,
                        userref=userref,
                        cl_ord_id=cl_ord_id,
                        reduce_only=kind == "futures" and rng.random() < 0.15,
                        opened_at=now - age,
                        filled=filled,
                    )
                )
            except OrderRejected:
                # A rare duplicate cl_ord_id; skip it rather than fail the demo.
                continue
        return made

    def seed_demo(
        self,
        n_orders: int = 200,
        seed: int = 0,
        *,
        kinds: Sequence[AccountKind] = ("spot", "futures", "prime"),
        n_other: int = 36,
    ) -> dict[str, Account]:
        """Create the demo accounts (named after their kind) with open orders.

        Args:
            n_orders: Open orders on the ``spot`` account.
            seed: Seeds the orders (keys come from the exchange seed).
            kinds: Which accounts to create; later hosts may ask for fewer.
            n_other: Open orders on each of the ``futures`` and ``prime`` accounts.

        Returns:
            The demo accounts by name.
        """
        rng = random.Random(seed)
        made: dict[str, Account] = {}
        with acting(Actor("seed")):
            for kind in kinds:
                account = self.accounts.get(kind) or self.accounts.add(kind, kind)
                made[kind] = account
                self.generate_orders(kind, n_orders if kind == "spot" else n_other, rng)
        return made

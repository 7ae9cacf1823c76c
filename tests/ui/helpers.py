"""Helpers for the UI tests: orders to feed models, async waits that keep the qasync loop running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from PySide6.QtCore import SignalInstance

from app.core.orders import Order, Side, VenueKind
from app.sim.server import SimThread

SPOT_SYMBOLS = ("XBT/USD", "ETH/USD", "SOL/EUR")
SPOT_ORDERS = 24
SPOT2_ORDERS = 9


def make_order(
    n: int,
    *,
    account: str = "spot",
    symbol: str = "XBT/USD",
    side: Side = Side.BUY,
    price: str | None = "100.5",
    quantity: str = "1.25",
    userref: int | None = None,
    client_id: str | None = None,
    opened_at: float | None = None,
    venue: VenueKind = VenueKind.SPOT,
    order_type: str = "limit",
    stop_price: str | None = None,
    filled: str = "0",
    **extra: Any,
) -> Order:
    """A plausible order numbered ``n`` (its id is unique per ``n``); Spot unless told."""
    return Order(
        account_id=account,
        venue=venue,
        order_id=f"O{n:05d}-ABCDE-FGHIJK",
        symbol=symbol,
        side=side,
        order_type=order_type,
        price=None if price is None else Decimal(price),
        quantity=Decimal(quantity),
        filled=Decimal(filled),
        opened_at=time.time() - 60 if opened_at is None else opened_at,
        client_id=client_id,
        userref=userref,
        stop_price=None if stop_price is None else Decimal(stop_price),
        **extra,
    )


async def wait_until(predicate: Callable[[], Any], within: float = 10.0, what: str = "") -> None:
    """Await until ``predicate()`` is true (the qasync-friendly ``qtbot.waitUntil``).

    pytest-qt's blocking waits spin a nested Qt loop that would re-enter asyncio tasks, so async
    tests poll here while the real loop keeps running.
    """
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or predicate}")
        await asyncio.sleep(0.01)


async def wait_signal(signal: SignalInstance, within: float = 10.0) -> tuple[Any, ...]:
    """Await one emission of a Qt signal and return its arguments."""
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def got(*args: Any) -> None:
        if not fut.done():
            fut.set_result(args)

    signal.connect(got)
    try:
        return await asyncio.wait_for(fut, within)
    finally:
        signal.disconnect(got)


def sim_open_ids(sim: SimThread, account: str) -> set[str]:
    """The ids of an account's open orders, asked of the simulator itself (not the client)."""
    return {o.order_id for o in sim.call(sim.exchange.open_orders, account)}

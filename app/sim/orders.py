"""What an order is to the simulator: the order, its events, its reasons and its types."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

OrderStatus = Literal["open", "canceled", "closed", "expired"]
EventKind = Literal["new", "update", "fill", "canceled", "expired", "replaced"]

REASON_USER = "User requested"
REASON_REPLACED = "Order replaced"
REASON_DEADMAN = "dead_man_switch"
REASON_EXPIRED = "Order expired"

CANCEL_ORDER_TYPES = ("limit", "market", "stop-loss", "take-profit")
STOP_ORDER_TYPES = frozenset({"stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"})
ORDER_TYPES = frozenset({"limit", "market", *STOP_ORDER_TYPES})


@dataclass(slots=True)
class SimOrder:
    """An order as the exchange holds it. Wire values are strings; math uses Decimal.

    ``order_type`` uses Spot's vocabulary for every venue (``limit``, ``market``,
    ``stop-loss``, ``take-profit``, ``stop-loss-limit``, ``take-profit-limit``); hosts map it to
    their own (Futures ``lmt``/``stp``/``take_profit``, Prime ``Limit``/``Stop``...).
    ``price`` is the limit price (``"0"`` when there is none); ``stop_price`` the trigger.
    """

    order_id: str
    account: str
    symbol: str
    side: str
    order_type: str
    price: str
    qty: str
    stop_price: str | None = None
    filled: str = "0"
    userref: int | None = None
    cl_ord_id: str | None = None
    reduce_only: bool = False
    opened_at: float = 0.0
    status: OrderStatus = "open"
    cancel_reason: str | None = None
    closed_at: float | None = None
    updated_at: float = 0.0

    @property
    def remaining(self) -> Decimal:
        """Quantity still open."""
        return Decimal(self.qty) - Decimal(self.filled)

    @property
    def is_open(self) -> bool:
        """True while the order rests on the book."""
        return self.status == "open"

    @property
    def fill_price(self) -> Decimal:
        """The price fills happen at: the limit price, else the trigger price."""
        price = Decimal(self.price)
        if price == 0 and self.stop_price is not None:
            return Decimal(self.stop_price)
        return price

    def snapshot(self) -> SimOrder:
        """Return an independent copy (events carry snapshots, never the live object).

        Returns:
            A copy of this order.
        """
        return dataclasses.replace(self)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """Something that happened to an order.

    Attributes:
        kind: ``new``, ``update`` (amended), ``fill`` (partial or full: see
            ``order.status``), ``canceled``, ``expired`` or ``replaced`` (EditOrder closed it
            and placed ``replaced_by`` instead).
        order: A snapshot of the order after the change.
        reason: Why: the cancel reason (``User requested``, ``dead_man_switch``), or
            ``partial_fill``/``full_fill``, ``new_placed_order_by_user``.
        last_qty: For fills, the quantity of this fill.
        time: Unix time of the event.
        replaced_by: For ``replaced``, the id of the order that took its place.
    """

    kind: EventKind
    order: SimOrder
    reason: str | None
    last_qty: str | None
    time: float
    replaced_by: str | None = None


OrderCallback = Callable[[OrderEvent], None]


class OrderRejected(ValueError):
    """``add_order`` refused the order (bad field, duplicate cl_ord_id...)."""

    def __init__(self, field_name: str, message: str) -> None:
        """Record which field was wrong.

        Args:
            field_name: The offending parameter (Kraken puts it after ``Invalid arguments:``).
            message: What was wrong.
        """
        super().__init__(message)
        self.field_name = field_name

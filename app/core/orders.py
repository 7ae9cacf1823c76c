"""Orders as the console sees them, the same shape for every venue."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


class VenueKind(enum.StrEnum):
    """Which Kraken API family an account belongs to."""

    SPOT = "spot"
    FUTURES = "futures"
    PRIME = "prime"


class Side(enum.StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"


class IdKind(enum.StrEnum):
    """What an identifier used to cancel names.

    Kraken's APIs take different kinds of id in different fields and some forbid mixing them in
    one request, so every reference carries its kind.
    """

    ORDER_ID = "order_id"  # Kraken's own id: Spot txid, Futures order_id UUID, Prime OrderID
    CLIENT_ID = "client_id"  # cl_ord_id / cliOrdId / ClOrdID
    USERREF = "userref"  # Spot only: an int32 shared by any number of orders


OrderKey = tuple[str, str]
"""(account id, venue order id): unique across the desk."""


@dataclass(frozen=True, slots=True)
class Order:
    """One open order.

    Prices and sizes are Decimals parsed from Kraken's decimal strings; ``opened_at`` is unix
    seconds. Optional fields are None where the venue does not have them. ``status`` and
    ``order_type`` keep the venue's own words (``app.desk.orderfacts`` gives one vocabulary);
    ``price`` is the limit price and ``stop_price`` the trigger price.

    Who fills the optional fields: ``time_in_force`` Spot (WS v2 ``time_in_force``, v1
    ``timeinforce``, REST from ``expiretm``) and Futures (resting orders are GTC);
    ``post_only`` Spot (REST/v1 ``oflags`` "post", v2 ``post_only``) and Futures REST
    (``orderType`` "post"); ``reduce_only`` Futures and Spot WS v2; ``triggered`` Spot WS v2
    (``triggers.status``).
    """

    account_id: str
    venue: VenueKind
    order_id: str
    symbol: str
    side: Side
    order_type: str
    price: Decimal | None
    quantity: Decimal
    filled: Decimal
    opened_at: float
    client_id: str | None = None
    userref: int | None = None
    stop_price: Decimal | None = None
    reduce_only: bool | None = None
    status: str = "open"
    time_in_force: str | None = None
    post_only: bool | None = None
    triggered: bool | None = None

    @property
    def key(self) -> OrderKey:
        """The order's desk-wide key."""
        return (self.account_id, self.order_id)


@dataclass(frozen=True, slots=True)
class CancelRef:
    """One identifier to cancel by, with its kind."""

    kind: IdKind
    value: str

    @classmethod
    def of(cls, order: Order) -> CancelRef:
        """The reference that names exactly this order (its venue id)."""
        return cls(IdKind.ORDER_ID, order.order_id)

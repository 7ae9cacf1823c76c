"""One vocabulary for every venue's orders: market name, order type, status, time in force, notional.

Each venue keeps its own words in ``Order`` (Futures ``stop``, Prime ``stoplimit``, Spot
``stop-loss-limit``; statuses ``untouched``, ``pending_new``, ``PartiallyFilled``...). The window
shows and filters by the words here, which are Spot's: the most complete of Kraken's vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.core.instruments import FIAT_LIKE, Instrument
from app.core.orders import Order, VenueKind

ORDER_TYPES = (
    "limit",
    "market",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
    "iceberg",
    "settle-position",
)
"""The type vocabulary (Kraken Spot's ``ordertype`` values)."""

STATUSES = ("pending", "new", "triggered", "partially filled", "pending cancel")
"""The status vocabulary, in the order an order lives through it."""

_PRIME_TYPES = {
    "stop": "stop-loss",
    "stoplimit": "stop-loss-limit",
    "takeprofit": "take-profit",
    "takeprofitlimit": "take-profit-limit",
    "trailingstop": "trailing-stop",
}
_PENDING = frozenset({"pending", "pending_new", "pendingnew", "pending new"})
_PENDING_CANCEL = frozenset({"pending cancel", "pending_cancel", "pendingcancel"})


def order_type(order: Order) -> str:
    """The order's type in the one vocabulary (``ORDER_TYPES``), else the venue's word.

    Futures: ``lmt``/``post``/``ioc`` are limit orders (post-only shows as a flag), ``stp`` and
    ``take_profit`` are stop-loss / take-profit, ``-limit`` when they carry a limit price.
    """
    raw = order.order_type.strip().lower()
    if order.venue is VenueKind.FUTURES:
        if raw in ("limit", "lmt", "post", "ioc", "fok"):
            return "limit"
        if raw in ("market", "mkt"):
            return "market"
        if raw in ("stop", "stp"):
            return "stop-loss-limit" if order.price is not None else "stop-loss"
        if raw in ("take_profit", "take-profit", "takeprofit"):
            return "take-profit-limit" if order.price is not None else "take-profit"
        if raw in ("trailing_stop", "trailing-stop"):
            return "trailing-stop"
        return raw
    if order.venue is VenueKind.PRIME:
        return _PRIME_TYPES.get(raw.replace("_", "").replace("-", ""), raw)
    return raw.replace("_", "-")


def order_status(order: Order) -> str:
    """The order's status in the one vocabulary (``STATUSES``).

    ``pending cancel`` and ``pending`` are the venue's word; a fill shows ``partially filled``
    (Futures ``partiallyFilled``, v2 ``partially_filled``, Prime ``PartiallyFilled`` all come
    with a filled size); ``triggered`` when the venue said the trigger fired (Spot WS v2).
    """
    raw = order.status.strip().lower()
    if raw in _PENDING_CANCEL:
        return "pending cancel"
    if raw in _PENDING:
        return "pending"
    if order.filled > 0:
        return "partially filled"
    if order.triggered:
        return "triggered"
    return "new"


def flags(order: Order) -> tuple[str, ...]:
    """``post-only`` and ``reduce-only`` where the venue says so."""
    out: list[str] = []
    if order.post_only or (order.venue is VenueKind.FUTURES and order.order_type.lower() == "post"):
        out.append("post-only")
    if order.reduce_only:
        out.append("reduce-only")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the window shows of one order, in one vocabulary.

    Attributes:
        symbol: the market's one name (``BTC/USD``, ``BTC/USD perp``).
        venue_symbol: the venue's own name (``PF_XBTUSD``).
        base: the base asset (``BTC``).
        quote: the quote currency; the notional is in it.
        market: ``spot``, ``perp`` or ``future``.
        order_type: from ``ORDER_TYPES``.
        status: from ``STATUSES``.
        time_in_force: ``GTC``, ``IOC``, ``GTD``... ("" when the venue does not say).
        flags: ``post-only`` / ``reduce-only``.
        remaining: quantity not yet filled.
        pct_filled: filled / quantity, in percent.
        notional: remaining x price (limit, else trigger) in the quote currency; None for a
            market order or an unknown price.
        price_decimals: the market's price precision.
        size_decimals: the market's size precision.
        notional_decimals: 2 for fiat-like quotes, else the price precision.
    """

    symbol: str
    venue_symbol: str
    base: str
    quote: str
    market: str
    order_type: str
    status: str
    time_in_force: str
    flags: tuple[str, ...]
    remaining: Decimal
    pct_filled: float
    notional: Decimal | None
    price_decimals: int
    size_decimals: int
    notional_decimals: int


def facts_of(order: Order, instrument: Instrument) -> OrderFacts:
    """Describe ``order`` in the one vocabulary, with its market's ``instrument``.

    Inverse contracts count quote-currency contracts: their notional is the size times the
    contract size, whatever the price.
    """
    remaining = max(Decimal(0), order.quantity - order.filled)
    pct = float(order.filled / order.quantity * 100) if order.quantity > 0 else 0.0
    basis = order.price if order.price is not None else order.stop_price
    notional: Decimal | None
    if instrument.inverse:
        notional = remaining * instrument.contract_size
    elif basis is not None and basis > 0:
        notional = basis * remaining * instrument.contract_size
    else:
        notional = None
    price_dec = instrument.price_decimals or 0
    return OrderFacts(
        symbol=instrument.display,
        venue_symbol=order.symbol,
        base=instrument.base,
        quote=instrument.quote,
        market=instrument.kind.value,
        order_type=order_type(order),
        status=order_status(order),
        time_in_force=(order.time_in_force or "").upper(),
        flags=flags(order),
        remaining=remaining,
        pct_filled=pct,
        notional=notional,
        price_decimals=price_dec,
        size_decimals=instrument.size_decimals or 0,
        notional_decimals=2 if instrument.quote in FIAT_LIKE else max(2, price_dec),
    )

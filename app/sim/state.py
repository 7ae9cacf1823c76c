"""The simulator's one shared exchange state: accounts, orders, events, timers and rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal, NamedTuple

from app.sim import ids
from app.sim.auth import StrictNonces

log = logging.getLogger("app.sim.state")

AccountKind = Literal["spot", "futures", "prime"]
OrderStatus = Literal["open", "canceled", "closed", "expired"]
EventKind = Literal["new", "update", "fill", "canceled", "expired"]

# Permission names the simulator knows. Spot maps Kraken's key settings onto them: "query"
# (Query open orders & trades), "cancel" (Cancel & close orders), "trade" (Create & modify
# orders, which also allows cancels), "websocket" (WebSocket interface - On).
ALL_PERMISSIONS = frozenset({"query", "cancel", "trade", "websocket"})
DEFAULT_PERMISSIONS: dict[AccountKind, frozenset[str]] = {
    "spot": ALL_PERMISSIONS,
    "futures": frozenset({"query", "cancel", "trade"}),
    "prime": frozenset({"query", "cancel", "trade"}),
}

REASON_USER = "User requested"
REASON_DEADMAN = "dead_man_switch"
REASON_EXPIRED = "Order expired"

CANCEL_ORDER_TYPES = ("limit", "market", "stop-loss", "take-profit")
STOP_ORDER_TYPES = frozenset({"stop-loss", "take-profit", "stop-loss-limit", "take-profit-limit"})
ORDER_TYPES = frozenset({"limit", "market", *STOP_ORDER_TYPES})

WS_TOKEN_TTL_S = 900.0
DEADMAN_MAX_TIMEOUT_S = 86400
_CLOSED_ORDERS_KEPT = 100_000
_ARRIVALS_KEPT = 100_000


# --------------------------------------------------------------------------- instruments


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol and how its numbers are written.

    Attributes:
        symbol: The simulator's symbol: Spot WS v1 name (``XBT/USD``), Futures (``PF_XBTUSD``)
            or Prime (``BTC-USD``).
        kind: Which venue lists it.
        price_decimals: Decimals of prices on the wire.
        qty_decimals: Decimals of quantities on the wire.
        ref_price: A plausible market price, for demo orders.
        qty_range: Plausible (min, max) order size, for demo orders.
        altname: Spot REST name without slash (``XBTUSD``); empty for others.
        v2_symbol: Spot WS v2 name (``BTC/USD``: v2 says BTC, not XBT); empty for others.
    """

    symbol: str
    kind: AccountKind
    price_decimals: int
    qty_decimals: int
    ref_price: Decimal
    qty_range: tuple[float, float]
    altname: str = ""
    v2_symbol: str = ""


def _spot(ws: str, alt: str, v2: str, pdec: int, ref: str, qty: tuple[float, float]) -> Instrument:
    return Instrument(ws, "spot", pdec, 8, Decimal(ref), qty, altname=alt, v2_symbol=v2)


INSTRUMENTS: dict[str, Instrument] = {
    i.symbol: i
    for i in (
        _spot("XBT/USD", "XBTUSD", "BTC/USD", 1, "64250.0", (0.0005, 2.0)),
        _spot("XBT/EUR", "XBTEUR", "BTC/EUR", 1, "59100.0", (0.0005, 1.5)),
        _spot("ETH/USD", "ETHUSD", "ETH/USD", 2, "3150.00", (0.01, 25.0)),
        _spot("ETH/EUR", "ETHEUR", "ETH/EUR", 2, "2900.00", (0.01, 20.0)),
        _spot("SOL/USD", "SOLUSD", "SOL/USD", 2, "148.00", (0.5, 200.0)),
        _spot("SOL/EUR", "SOLEUR", "SOL/EUR", 2, "136.00", (0.5, 150.0)),
        _spot("XRP/EUR", "XRPEUR", "XRP/EUR", 5, "0.52000", (50.0, 20000.0)),
        _spot("ADA/USD", "ADAUSD", "ADA/USD", 6, "0.451000", (50.0, 25000.0)),
        _spot("DOT/USD", "DOTUSD", "DOT/USD", 4, "7.1500", (1.0, 800.0)),
        _spot("LTC/USD", "LTCUSD", "LTC/USD", 2, "82.00", (0.1, 60.0)),
        Instrument("PF_XBTUSD", "futures", 0, 4, Decimal("64300"), (0.0001, 2.0)),
        Instrument("PF_ETHUSD", "futures", 1, 3, Decimal("3152.0"), (0.01, 30.0)),
        Instrument("PF_SOLUSD", "futures", 2, 2, Decimal("148.10"), (1.0, 300.0)),
        Instrument("PF_XRPUSD", "futures", 4, 0, Decimal("0.5200"), (100.0, 30000.0)),
        Instrument("BTC-USD", "prime", 2, 8, Decimal("64260.00"), (0.01, 5.0)),
        Instrument("ETH-USD", "prime", 2, 8, Decimal("3151.00"), (0.1, 50.0)),
        Instrument("SOL-USD", "prime", 2, 8, Decimal("148.05"), (5.0, 500.0)),
        Instrument("ETH-BTC", "prime", 5, 8, Decimal("0.04905"), (0.1, 40.0)),
    )
}
SPOT_BY_ALTNAME: dict[str, Instrument] = {i.altname: i for i in INSTRUMENTS.values() if i.altname}


def spot_instrument(name: str) -> Instrument | None:
    """Find a Spot pair by WS v1 name (``XBT/USD``), REST altname (``XBTUSD``) or v2 name.

    Args:
        name: The pair as a client wrote it.

    Returns:
        The instrument, or None if the simulator does not list it.
    """
    found = INSTRUMENTS.get(name) or SPOT_BY_ALTNAME.get(name)
    if found is None:
        found = next((i for i in INSTRUMENTS.values() if i.v2_symbol == name), None)
    return found if found is not None and found.kind == "spot" else None


def instruments_of(kind: AccountKind) -> list[Instrument]:
    """List the instruments of one venue kind.

    Args:
        kind: ``spot``, ``futures`` or ``prime``.

    Returns:
        Instruments in table order.
    """
    return [i for i in INSTRUMENTS.values() if i.kind == kind]


def _instrument_or_default(symbol: str) -> Instrument:
    known = INSTRUMENTS.get(symbol)
    if known is not None:
        return known
    return Instrument(symbol, "spot", 8, 8, Decimal(1), (1.0, 1.0))


_QUANTA: dict[int, Decimal] = {}


def fmt_decimal(value: Decimal, decimals: int) -> str:
    """Write a decimal with a fixed number of decimals, as Kraken writes numbers.

    Args:
        value: The number.
        decimals: Digits after the point (0 gives an integer string).

    Returns:
        The text, e.g. ``fmt_decimal(Decimal("1.25"), 8) == "1.25000000"``.
    """
    quantum = _QUANTA.get(decimals)
    if quantum is None:
        quantum = _QUANTA[decimals] = Decimal(1).scaleb(-decimals)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_UP):f}"


def _parse_decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"bad {what}: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"bad {what}: {text!r}")
    return value


# --------------------------------------------------------------------------- data


@dataclass
class Account:
    """One API key holder on one venue.

    Attributes:
        name: Unique account name (``spot``, ``futures``, ``prime`` in demo mode).
        kind: Which venue the key belongs to.
        api_key: Public key.
        secret: Spot/Futures: base64 of 64 bytes; Prime: ASCII string.
        permissions: Subset of ``ALL_PERMISSIONS``.
        tier: Spot verification tier for rate limits (``starter``/``intermediate``/``pro``).
    """

    name: str
    kind: AccountKind
    api_key: str
    secret: str
    permissions: set[str]
    tier: str = "intermediate"

    def can(self, *permissions: str) -> bool:
        """Tell whether the key has any of ``permissions``.

        Args:
            permissions: Acceptable permissions (any one suffices).

        Returns:
            True if at least one is granted.
        """
        return any(p in self.permissions for p in permissions)


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
            ``order.status``), ``canceled`` or ``expired``.
        order: A snapshot of the order after the change.
        reason: Why: the cancel reason (``User requested``, ``dead_man_switch``), or
            ``partial_fill``/``full_fill``, ``new_placed_order_by_user``.
        last_qty: For fills, the quantity of this fill.
        time: Unix time of the event.
    """

    kind: EventKind
    order: SimOrder
    reason: str | None
    last_qty: str | None
    time: float


class Arrival(NamedTuple):
    """One request as it reached a host, recorded before any processing."""

    t_ns: int
    host: str
    path: str
    account: str | None


@dataclass(slots=True)
class WsToken:
    """A GetWebSocketsToken token.

    Attributes:
        token: The opaque text.
        account: The account it authenticates.
        issued_at: Unix time of issue.
        used: Set once a private subscription used it (then it no longer expires).
        invalidated: Set when the exchange revoked it (clients get ``ESession:Invalid session``).
    """

    token: str
    account: str
    issued_at: float
    used: bool = False
    invalidated: bool = False


# --------------------------------------------------------------------------- rate limits


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


# --------------------------------------------------------------------------- exchange

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


class Exchange:
    """All accounts and orders of every simulated venue, shared by all hosts.

    Not thread-safe: use it only on the simulator's event loop (``SimThread.call``).

    Events: ``subscribe(account, callback)`` delivers an ``OrderEvent`` synchronously for every
    new order, amend, fill, cancel and expiry.

    Rules kept: Spot txids are Kraken-shaped, Futures/Prime ids are UUIDs; a ``cl_ord_id`` is
    unique among an account's open orders; closed orders stay queryable (the last 100,000);
    a dead man's switch fires once and disarms; rate counters follow API-FACTS 7.
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
        self.clock = clock
        self.monotonic = monotonic
        self.rate_limits_enabled = rate_limits
        self.accounts: dict[str, Account] = {}
        self.arrivals: deque[Arrival] = deque(maxlen=_ARRIVALS_KEPT)
        self.spot_nonces = StrictNonces()
        self._by_key: dict[str, Account] = {}
        self._orders: dict[str, dict[str, SimOrder]] = {}
        self._open_ids: dict[str, list[str]] = {}
        self._open_pos: dict[str, dict[str, int]] = {}
        self._open_by_cl: dict[str, dict[str, str]] = {}
        self._open_per_symbol: dict[str, dict[str, int]] = {}
        self._closed: deque[tuple[str, str]] = deque()
        self._subscribers: dict[str | None, list[OrderCallback]] = {}
        self._deadman: dict[str, tuple[asyncio.TimerHandle, float]] = {}
        self._tokens: dict[str, WsToken] = {}
        self._call_counters: dict[str, DecayingCounter] = {}
        self._trade_counters: dict[tuple[str, str], DecayingCounter] = {}
        self._futures_budgets: dict[str, DecayingCounter] = {}

    # ----------------------------------------------------------------------- accounts

    def add_account(
        self,
        name: str,
        kind: AccountKind,
        *,
        permissions: Iterable[str] | None = None,
        tier: str = "intermediate",
        api_key: str | None = None,
        secret: str | None = None,
    ) -> Account:
        """Create an account with credentials derived from the exchange seed and its name.

        Args:
            name: Unique account name.
            kind: ``spot``, ``futures`` or ``prime``.
            permissions: Granted permissions; default all of the kind's.
            tier: Spot rate-limit tier.
            api_key: Fixed key instead of a generated one.
            secret: Fixed secret instead of a generated one.

        Returns:
            The account.

        Raises:
            ValueError: On a duplicate name or key, or an unknown tier/permission/kind.
        """
        if name in self.accounts:
            raise ValueError(f"account exists: {name}")
        if kind not in DEFAULT_PERMISSIONS:
            raise ValueError(f"unknown account kind: {kind}")
        if tier not in SPOT_TIERS:
            raise ValueError(f"unknown tier: {tier}")
        perms = set(DEFAULT_PERMISSIONS[kind] if permissions is None else permissions)
        if not perms <= ALL_PERMISSIONS:
            raise ValueError(f"unknown permissions: {sorted(perms - ALL_PERMISSIONS)}")
        # A string seed is hashed deterministically by random.Random, so an account's keys
        # depend only on (seed, name, kind), not on creation order.
        key_rng = random.Random(f"{self.seed}:{kind}:{name}")
        key = api_key if api_key is not None else ids.new_api_key(key_rng)
        if secret is None:
            secret = ids.new_prime_secret(key_rng) if kind == "prime" else ids.new_b64_secret(key_rng)
        if key in self._by_key:
            raise ValueError("api key already in use")
        account = Account(name, kind, key, secret, perms, tier)
        self.accounts[name] = account
        self._by_key[key] = account
        self._orders[name] = {}
        self._open_ids[name] = []
        self._open_pos[name] = {}
        self._open_by_cl[name] = {}
        self._open_per_symbol[name] = {}
        return account

    def account(self, name: str) -> Account:
        """Return the account called ``name``.

        Args:
            name: Account name.

        Returns:
            The account.

        Raises:
            KeyError: If there is none.
        """
        return self.accounts[name]

    def account_by_key(self, api_key: str | None) -> Account | None:
        """Find the account owning a public API key.

        Args:
            api_key: The key from a request header (None allowed).

        Returns:
            The account, or None.
        """
        return self._by_key.get(api_key) if api_key else None

    def credentials(self) -> dict[str, dict[str, str]]:
        """Return every account's key and secret (for ``python -m app.sim``'s JSON line).

        Returns:
            ``{name: {"key": ..., "secret": ...}}``.
        """
        return {a.name: {"key": a.api_key, "secret": a.secret} for a in self.accounts.values()}

    # ----------------------------------------------------------------------- arrivals

    def record_arrival(self, host: str, path: str, account: str | None) -> None:
        """Note that a request reached a host (call first thing when handling it).

        Args:
            host: Host name (``spot_rest``, ...).
            path: URL path or WS method/event.
            account: Account name if known from the key/token, else None.
        """
        self.arrivals.append(Arrival(time.monotonic_ns(), host, path, account))

    # ----------------------------------------------------------------------- orders

    def add_order(
        self,
        account: str,
        symbol: str,
        side: str,
        order_type: str,
        qty: str | Decimal,
        price: str | Decimal = "0",
        *,
        stop_price: str | Decimal | None = None,
        userref: int | None = None,
        cl_ord_id: str | None = None,
        reduce_only: bool = False,
        opened_at: float | None = None,
        filled: str | Decimal = "0",
        order_id: str | None = None,
        reason: str = "new_placed_order_by_user",
    ) -> SimOrder:
        """Place an order resting on the book (no matching: fills come from ``fill``).

        Args:
            account: Account name.
            symbol: Instrument symbol (unknown symbols are allowed with 8 decimals).
            side: ``buy`` or ``sell``.
            order_type: One of ``ORDER_TYPES``.
            qty: Order quantity (> 0).
            price: Limit price (``"0"`` for none).
            stop_price: Trigger price for stop/take-profit types.
            userref: Spot user reference (not unique).
            cl_ord_id: Client order id, unique among the account's open orders.
            reduce_only: Futures reduce-only flag.
            opened_at: Unix time placed (default now; demos backdate orders).
            filled: Already-filled quantity (demo data).
            order_id: Fixed id instead of a generated one.
            reason: Reason carried by the ``new`` event.

        Returns:
            The live order.

        Raises:
            KeyError: For an unknown account.
            OrderRejected: For a bad side, type, quantity, price, or a duplicate cl_ord_id.
        """
        acct = self.accounts[account]
        inst = _instrument_or_default(symbol)
        if side not in ("buy", "sell"):
            raise OrderRejected("type", f"bad side: {side!r}")
        if order_type not in ORDER_TYPES:
            raise OrderRejected("ordertype", f"bad order type: {order_type!r}")
        try:
            qty_d = _parse_decimal(str(qty), "qty")
            price_d = _parse_decimal(str(price), "price")
            stop_d = None if stop_price is None else _parse_decimal(str(stop_price), "stop price")
            filled_d = _parse_decimal(str(filled), "filled")
        except ValueError as exc:
            raise OrderRejected("volume", str(exc)) from None
        if qty_d <= 0 or filled_d < 0 or filled_d >= qty_d:
            raise OrderRejected("volume", f"bad quantity {qty} / filled {filled}")
        if price_d < 0 or (stop_d is not None and stop_d <= 0):
            raise OrderRejected("price", "bad price")
        if order_type in STOP_ORDER_TYPES and stop_d is None:
            raise OrderRejected("price", "stop orders need a trigger price")
        if order_type.endswith("limit") and price_d == 0:
            raise OrderRejected("price", "limit orders need a price")
        open_by_cl = self._open_by_cl[account]
        if cl_ord_id is not None and cl_ord_id in open_by_cl:
            raise OrderRejected("cl_ord_id", "duplicate cl_ord_id")
        now = self.clock()
        if order_id is None:
            order_id = self._new_order_id(acct.kind)
        orders = self._orders[account]
        if order_id in orders:
            raise OrderRejected("txid", "duplicate order id")
        order = SimOrder(
            order_id=order_id,
            account=account,
            symbol=symbol,
            side=side,
            order_type=order_type,
            price=fmt_decimal(price_d, inst.price_decimals),
            qty=fmt_decimal(qty_d, inst.qty_decimals),
            stop_price=None if stop_d is None else fmt_decimal(stop_d, inst.price_decimals),
            filled=fmt_decimal(filled_d, inst.qty_decimals),
            userref=userref,
            cl_ord_id=cl_ord_id,
            reduce_only=reduce_only,
            opened_at=now if opened_at is None else opened_at,
            updated_at=now,
        )
        orders[order_id] = order
        self._index_open(order)
        self._emit("new", order, reason, None)
        return order

    def _new_order_id(self, kind: AccountKind) -> str:
        if kind == "spot":
            return ids.new_spot_txid(self.rng)
        return ids.new_uuid(self.rng)

    def _index_open(self, order: SimOrder) -> None:
        account = order.account
        ids_list = self._open_ids[account]
        self._open_pos[account][order.order_id] = len(ids_list)
        ids_list.append(order.order_id)
        if order.cl_ord_id is not None:
            self._open_by_cl[account][order.cl_ord_id] = order.order_id
        per_symbol = self._open_per_symbol[account]
        per_symbol[order.symbol] = per_symbol.get(order.symbol, 0) + 1

    def _unindex_open(self, order: SimOrder) -> None:
        account = order.account
        ids_list = self._open_ids[account]
        pos = self._open_pos[account].pop(order.order_id)
        last = ids_list.pop()
        if last != order.order_id:
            # Swap-remove keeps random picks (market activity) O(1) with 10,000+ orders.
            ids_list[pos] = last
            self._open_pos[account][last] = pos
        if order.cl_ord_id is not None:
            self._open_by_cl[account].pop(order.cl_ord_id, None)
        per_symbol = self._open_per_symbol[account]
        per_symbol[order.symbol] -= 1

    def _close(self, order: SimOrder, status: OrderStatus, reason: str | None) -> None:
        now = self.clock()
        self._unindex_open(order)
        order.status = status
        order.cancel_reason = reason if status in ("canceled", "expired") else None
        order.closed_at = now
        order.updated_at = now
        self._closed.append((order.account, order.order_id))
        while len(self._closed) > _CLOSED_ORDERS_KEPT:
            old_account, old_id = self._closed.popleft()
            self._orders.get(old_account, {}).pop(old_id, None)

    def get_order(self, account: str, order_id: str) -> SimOrder | None:
        """Return an order by id, open or closed (closed ones are kept for QueryOrders).

        Args:
            account: Account name.
            order_id: Order id.

        Returns:
            The live order object, or None.
        """
        return self._orders.get(account, {}).get(order_id)

    def open_orders(self, account: str) -> list[SimOrder]:
        """List an account's open orders, oldest placement first.

        Args:
            account: Account name.

        Returns:
            The live open orders.
        """
        orders = self._orders[account]
        found = [orders[i] for i in self._open_ids[account]]
        found.sort(key=lambda o: o.opened_at)
        return found

    def open_count(self, account: str, symbol: str | None = None) -> int:
        """Count open orders of an account, optionally for one symbol.

        Args:
            account: Account name.
            symbol: Restrict to this symbol.

        Returns:
            The count.
        """
        if symbol is None:
            return len(self._open_ids[account])
        return self._open_per_symbol[account].get(symbol, 0)

    def random_open_order(self, account: str, rng: random.Random) -> SimOrder | None:
        """Pick one open order uniformly at random, in O(1).

        Args:
            account: Account name.
            rng: Random source.

        Returns:
            An open order, or None if there are none.
        """
        ids_list = self._open_ids[account]
        if not ids_list:
            return None
        return self._orders[account][ids_list[rng.randrange(len(ids_list))]]

    def find_open(
        self,
        account: str,
        *,
        order_ids: Iterable[str] = (),
        userrefs: Iterable[int] = (),
        cl_ord_ids: Iterable[str] = (),
    ) -> list[SimOrder]:
        """Resolve references to the open orders they name (unknown ones are skipped).

        Args:
            account: Account name.
            order_ids: Exact order ids.
            userrefs: User references (each may name many orders).
            cl_ord_ids: Client order ids.

        Returns:
            Distinct open orders, in the order the references were given.
        """
        orders = self._orders[account]
        seen: dict[str, SimOrder] = {}
        for order_id in order_ids:
            order = orders.get(order_id)
            if order is not None and order.is_open:
                seen.setdefault(order_id, order)
        wanted_refs = set(userrefs)
        if wanted_refs:
            for order_id in self._open_ids[account]:
                order = orders[order_id]
                if order.userref is not None and order.userref in wanted_refs:
                    seen.setdefault(order_id, order)
        by_cl = self._open_by_cl[account]
        for cl_ord_id in cl_ord_ids:
            found = by_cl.get(cl_ord_id)
            if found is not None:
                seen.setdefault(found, orders[found])
        return list(seen.values())

    def cancel(self, account: str, order_id: str, reason: str = REASON_USER) -> SimOrder | None:
        """Cancel one open order.

        Args:
            account: Account name.
            order_id: Order id.
            reason: Cancel reason recorded on the order and its event.

        Returns:
            The cancelled order, or None if unknown or no longer open.
        """
        order = self.get_order(account, order_id)
        if order is None or not order.is_open:
            return None
        self._close(order, "canceled", reason)
        self._emit("canceled", order, reason, None)
        return order

    def cancel_many(
        self, account: str, order_ids: Iterable[str], reason: str = REASON_USER
    ) -> list[SimOrder]:
        """Cancel several orders; ids that are unknown or not open are skipped.

        Args:
            account: Account name.
            order_ids: Order ids.
            reason: Cancel reason.

        Returns:
            The orders actually cancelled.
        """
        done = []
        for order_id in order_ids:
            order = self.cancel(account, order_id, reason)
            if order is not None:
                done.append(order)
        return done

    def cancel_by_userref(self, account: str, userref: int, reason: str = REASON_USER) -> list[SimOrder]:
        """Cancel every open order carrying ``userref`` (userrefs are not unique).

        Args:
            account: Account name.
            userref: The user reference.
            reason: Cancel reason.

        Returns:
            The cancelled orders.
        """
        targets = [o.order_id for o in self.find_open(account, userrefs=[userref])]
        return self.cancel_many(account, targets, reason)

    def cancel_by_cl_ord_id(self, account: str, cl_ord_id: str, reason: str = REASON_USER) -> SimOrder | None:
        """Cancel the open order with this client order id.

        Args:
            account: Account name.
            cl_ord_id: Client order id.
            reason: Cancel reason.

        Returns:
            The cancelled order, or None.
        """
        order_id = self._open_by_cl[account].get(cl_ord_id)
        return None if order_id is None else self.cancel(account, order_id, reason)

    def cancel_all(
        self, account: str, symbol: str | None = None, reason: str = REASON_USER
    ) -> list[SimOrder]:
        """Cancel all open orders of an account, or only those of one symbol.

        Args:
            account: Account name.
            symbol: Restrict to this symbol.
            reason: Cancel reason.

        Returns:
            The cancelled orders.
        """
        orders = self._orders[account]
        targets = [i for i in list(self._open_ids[account]) if symbol is None or orders[i].symbol == symbol]
        return self.cancel_many(account, targets, reason)

    def fill(self, account: str, order_id: str, qty: str | Decimal | None = None) -> SimOrder | None:
        """Fill an open order partly or fully.

        Args:
            account: Account name.
            order_id: Order id.
            qty: Quantity to fill; None (or more than remains) fills the rest.

        Returns:
            The order after the fill, or None if unknown / not open / qty not positive.
        """
        order = self.get_order(account, order_id)
        if order is None or not order.is_open:
            return None
        remaining = order.remaining
        decimals = _instrument_or_default(order.symbol).qty_decimals
        try:
            wanted = remaining if qty is None else Decimal(str(qty))
        except InvalidOperation:
            return None
        if not wanted.is_finite():
            return None
        amount = min(wanted, remaining).quantize(Decimal(1).scaleb(-decimals))
        if amount <= 0:
            return None
        filled = Decimal(order.filled) + amount
        order.filled = fmt_decimal(filled, decimals)
        order.updated_at = self.clock()
        full = filled >= Decimal(order.qty)
        if full:
            self._close(order, "closed", None)
        self._emit("fill", order, "full_fill" if full else "partial_fill", fmt_decimal(amount, decimals))
        return order

    def expire(self, account: str, order_id: str) -> SimOrder | None:
        """Expire an open order (its time in force ran out).

        Args:
            account: Account name.
            order_id: Order id.

        Returns:
            The expired order, or None if unknown / not open.
        """
        order = self.get_order(account, order_id)
        if order is None or not order.is_open:
            return None
        self._close(order, "expired", REASON_EXPIRED)
        self._emit("expired", order, REASON_EXPIRED, None)
        return order

    def amend(
        self,
        account: str,
        order_id: str,
        *,
        price: str | Decimal | None = None,
        qty: str | Decimal | None = None,
    ) -> SimOrder | None:
        """Change an open order's limit price and/or quantity in place.

        Args:
            account: Account name.
            order_id: Order id.
            price: New limit price.
            qty: New total quantity (must stay above the filled quantity).

        Returns:
            The amended order, or None if unknown / not open / invalid.
        """
        order = self.get_order(account, order_id)
        if order is None or not order.is_open:
            return None
        inst = _instrument_or_default(order.symbol)
        if qty is not None:
            qty_d = Decimal(str(qty))
            if qty_d <= Decimal(order.filled):
                return None
            order.qty = fmt_decimal(qty_d, inst.qty_decimals)
        if price is not None:
            order.price = fmt_decimal(Decimal(str(price)), inst.price_decimals)
        order.updated_at = self.clock()
        self._emit("update", order, "edited_by_user", None)
        return order

    def counts(self) -> dict[str, dict[str, int | str]]:
        """Summarise orders per account (for ``/_sim/state``).

        Returns:
            ``{account: {"kind", "open", "canceled", "closed", "expired"}}``.
        """
        out: dict[str, dict[str, int | str]] = {}
        for name, account in self.accounts.items():
            row: dict[str, int | str] = {"kind": account.kind, "open": 0}
            row.update({"canceled": 0, "closed": 0, "expired": 0})
            for order in self._orders[name].values():
                row[order.status] = int(row[order.status]) + 1
            out[name] = row
        return out

    # ----------------------------------------------------------------------- events

    def subscribe(self, account: str | None, callback: OrderCallback) -> Callable[[], None]:
        """Receive every ``OrderEvent`` of one account (or of all, with None).

        Callbacks run synchronously on the exchange's loop, in the middle of the change, so
        they must be quick and must not change the exchange themselves. An exception in one
        is logged and does not reach the others.

        Args:
            account: Account name, or None for all accounts.
            callback: Called with each event.

        Returns:
            A function that unsubscribes (safe to call twice).
        """
        callbacks = self._subscribers.setdefault(account, [])
        callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                callbacks.remove(callback)

        return unsubscribe

    def _emit(self, kind: EventKind, order: SimOrder, reason: str | None, last_qty: str | None) -> None:
        targets = [*self._subscribers.get(order.account, ()), *self._subscribers.get(None, ())]
        if not targets:
            return
        event = OrderEvent(kind, order.snapshot(), reason, last_qty, order.updated_at)
        for callback in targets:
            try:
                callback(event)
            except Exception:
                log.exception("order event subscriber failed")

    # ----------------------------------------------------------------------- dead man's switch

    def arm_deadman(self, account: str, timeout_s: float) -> tuple[float, float]:
        """Arm, extend or (with 0) disarm an account's dead man's switch (API-FACTS 6).

        On expiry every open order of the account is cancelled with reason
        ``dead_man_switch`` and the switch disarms. Must be called on the running loop.

        Args:
            account: Account name.
            timeout_s: Seconds from now; 0 (or less) disarms.

        Returns:
            ``(current_time, trigger_time)`` as unix seconds; trigger 0.0 when disarmed.

        Raises:
            KeyError: For an unknown account.
            RuntimeError: When no event loop is running.
        """
        if account not in self.accounts:
            raise KeyError(account)
        now = self.clock()
        self.disarm_deadman(account)
        if timeout_s <= 0:
            return now, 0.0
        loop = asyncio.get_running_loop()
        handle = loop.call_later(timeout_s, self._deadman_fired, account)
        self._deadman[account] = (handle, now + timeout_s)
        return now, now + timeout_s

    def disarm_deadman(self, account: str) -> None:
        """Disarm an account's dead man's switch if armed.

        Args:
            account: Account name.
        """
        armed = self._deadman.pop(account, None)
        if armed is not None:
            armed[0].cancel()

    def deadman_trigger_time(self, account: str) -> float | None:
        """Return when the account's switch fires (unix seconds), or None if disarmed.

        Args:
            account: Account name.

        Returns:
            The trigger time or None.
        """
        armed = self._deadman.get(account)
        return None if armed is None else armed[1]

    def _deadman_fired(self, account: str) -> None:
        self._deadman.pop(account, None)
        cancelled = self.cancel_all(account, reason=REASON_DEADMAN)
        log.info("dead man's switch fired for %s: %d orders cancelled", account, len(cancelled))

    def close(self) -> None:
        """Disarm every timer (call when the simulator stops)."""
        for account in list(self._deadman):
            self.disarm_deadman(account)

    # ----------------------------------------------------------------------- WS tokens

    def issue_token(self, account: str) -> WsToken:
        """Issue a WebSocket token (GetWebSocketsToken).

        Args:
            account: Account name.

        Returns:
            The new token, valid 900 s unless used by a subscription.
        """
        if account not in self.accounts:
            raise KeyError(account)
        token = WsToken(ids.new_ws_token(self.rng), account, self.clock())
        self._tokens[token.token] = token
        return token

    def validate_token(self, token: str) -> str | None:
        """Check a WebSocket token.

        Args:
            token: The token a client sent.

        Returns:
            The account name if the token is known, not invalidated, and either used already
            or younger than 900 s; otherwise None.
        """
        found = self._tokens.get(token)
        if found is None or found.invalidated:
            return None
        if not found.used and self.clock() - found.issued_at >= WS_TOKEN_TTL_S:
            return None
        return found.account

    def mark_token_used(self, token: str) -> None:
        """Record that a private subscription used the token (it no longer expires).

        Args:
            token: The token.
        """
        found = self._tokens.get(token)
        if found is not None:
            found.used = True

    def invalidate_tokens(self, account: str) -> int:
        """Revoke every token of an account (as Kraken does after upgrades).

        Args:
            account: Account name.

        Returns:
            How many tokens were invalidated.
        """
        count = 0
        for token in self._tokens.values():
            if token.account == account and not token.invalidated:
                token.invalidated = True
                count += 1
        return count

    # ----------------------------------------------------------------------- rate limits

    def spot_tier(self, account: str) -> SpotTier:
        """Return the Spot tier limits of an account.

        Args:
            account: Account name.

        Returns:
            The tier.
        """
        return SPOT_TIERS[self.accounts[account].tier]

    def charge_spot_call(self, account: str, cost: float = 1.0) -> bool:
        """Charge the Spot REST call counter (API-FACTS 7.1).

        A rejected call is not added to the counter.

        Args:
            account: Account name.
            cost: 1 for most calls, 2 for ledger/trade history.

        Returns:
            False if the call must fail with ``EAPI:Rate limit exceeded``.
        """
        if not self.rate_limits_enabled:
            return True
        tier = self.spot_tier(account)
        counter = self._call_counters.get(account)
        if counter is None:
            counter = self._call_counters[account] = DecayingCounter(tier.call_decay_per_s)
        now = self.monotonic()
        if counter.value(now) + cost > tier.call_max:
            return False
        counter.add(cost, now)
        return True

    def _trade_counter(self, account: str, symbol: str) -> DecayingCounter:
        key = (account, symbol)
        counter = self._trade_counters.get(key)
        if counter is None:
            decay = self.spot_tier(account).trading_decay_per_s
            counter = self._trade_counters[key] = DecayingCounter(decay)
        return counter

    def spot_rate_count(self, account: str, symbol: str) -> float:
        """Return the per-pair trading counter (for ``ratecounter`` feeds).

        Args:
            account: Account name.
            symbol: Spot pair.

        Returns:
            The current decayed value.
        """
        return self._trade_counter(account, symbol).value(self.monotonic())

    def charge_spot_add(self, account: str, symbol: str) -> bool:
        """Charge the per-pair trading counter for an AddOrder (+1).

        Args:
            account: Account name.
            symbol: Spot pair.

        Returns:
            False if it must fail with ``EOrder:Rate limit exceeded`` (nothing is charged).
        """
        if not self.rate_limits_enabled:
            return True
        counter = self._trade_counter(account, symbol)
        now = self.monotonic()
        if counter.value(now) + 1 > self.spot_tier(account).trading_threshold:
            return False
        counter.add(1, now)
        return True

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
        if not self.rate_limits_enabled or not orders:
            return True
        now_wall = self.clock()
        costs: dict[str, int] = {}
        for order in orders:
            cost = spot_cancel_cost(now_wall - order.opened_at)
            costs[order.symbol] = costs.get(order.symbol, 0) + cost
        now = self.monotonic()
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
        if not self.rate_limits_enabled:
            return True
        counter = self._futures_budgets.get(account)
        if counter is None:
            counter = self._futures_budgets[account] = DecayingCounter(FUTURES_REFILL_PER_S)
        now = self.monotonic()
        if counter.value(now) + cost > FUTURES_BUDGET:
            return False
        counter.add(cost, now)
        return True

    # ----------------------------------------------------------------------- demo data

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
        pool = [INSTRUMENTS.get(s) or _instrument_or_default(s) for s in symbols or ()]
        if not pool:
            pool = instruments_of(kind)
        now = self.clock()
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
                    self.add_order(
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
        for kind in kinds:
            account = self.accounts.get(kind) or self.add_account(kind, kind)
            made[kind] = account
            self.generate_orders(kind, n_orders if kind == "spot" else n_other, rng)
        return made


# --------------------------------------------------------------------------- market activity


class MarketActivity:
    """Random fills, expiries and new orders on open accounts, so cancels race real changes.

    Runs as a named asyncio task on the exchange's loop. It never charges rate limits. The
    number of open orders per account is kept near its level at ``start()``.
    """

    def __init__(
        self,
        exchange: Exchange,
        rng: random.Random,
        rate_per_s: float = 2.0,
        *,
        accounts: Sequence[str] | None = None,
    ) -> None:
        """Configure the activity.

        Args:
            exchange: The exchange to act on.
            rng: Random source for choices.
            rate_per_s: Mean number of actions per second (over all accounts).
            accounts: Accounts to act on; default all at ``start()``.
        """
        self.exchange = exchange
        self.rng = rng
        self.rate_per_s = rate_per_s
        self.accounts = list(accounts) if accounts is not None else None
        self._targets: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

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
        names = self.accounts if self.accounts is not None else list(self.exchange.accounts)
        self._targets = {name: max(self.exchange.open_count(name), 5) for name in names}
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-market-activity")

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
        last = self.exchange.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = self.exchange.monotonic()
            due += (now - last) * self.rate_per_s
            last = now
            while due >= 1.0:
                due -= 1.0
                try:
                    self.step()
                except Exception:
                    log.exception("market activity step failed")

    def step(self) -> OrderEvent | None:
        """Do one random action on one random account.

        Returns:
            A description of what was done (an event built from the result), or None.
        """
        if not self._targets:
            names = self.accounts if self.accounts is not None else list(self.exchange.accounts)
            self._targets = {name: max(self.exchange.open_count(name), 5) for name in names}
        if not self._targets:
            return None
        exchange = self.exchange
        account = self.rng.choice(list(self._targets))
        if account not in exchange.accounts:
            return None
        target = self._targets[account]
        count = exchange.open_count(account)
        roll = self.rng.random()
        want_add = count < target * 0.8 or (count < target * 1.2 and roll < 0.4)
        if count == 0 or want_add:
            made = exchange.generate_orders(account, 1, self.rng, age_s=(0.0, 0.0))
            if not made:
                return None
            return OrderEvent("new", made[0].snapshot(), "market_activity", None, exchange.clock())
        order = exchange.random_open_order(account, self.rng)
        if order is None:
            return None
        if roll < 0.03:
            expired = exchange.expire(account, order.order_id)
            if expired is None:
                return None
            return OrderEvent("expired", expired.snapshot(), REASON_EXPIRED, None, exchange.clock())
        remaining = order.remaining
        share = Decimal(1) if self.rng.random() < 0.3 else Decimal(str(self.rng.uniform(0.05, 0.6)))
        part = remaining * share
        decimals = _instrument_or_default(order.symbol).qty_decimals
        part = part.quantize(Decimal(1).scaleb(-decimals))
        if part <= 0:
            part = remaining
        filled = exchange.fill(account, order.order_id, part)
        if filled is None:
            return None
        return OrderEvent("fill", filled.snapshot(), None, fmt_decimal(part, decimals), filled.updated_at)

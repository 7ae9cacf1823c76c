"""The order book room: every account's orders, their indexes, their changes and who hears of them."""

from __future__ import annotations

import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Literal

from app.sim import ids
from app.sim.clock import SimClock
from app.sim.instruments import AccountKind, fmt_decimal, instrument_or_default, parse_decimal
from app.sim.orders import (
    ORDER_TYPES,
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

log = logging.getLogger("app.sim.book")

_CLOSED_ORDERS_KEPT = 100_000


class OrderBook:
    """Every account's orders: placed, amended, filled, cancelled and expired here only.

    Events: ``subscribe(account, callback)`` delivers an ``OrderEvent`` synchronously for every
    new order, amend, fill, cancel and expiry, after the change.

    Rules kept: Spot txids are Kraken-shaped, Futures/Prime ids are UUIDs; a ``cl_ord_id`` is
    unique among an account's open orders; an order id is unique in its account; a fill never
    exceeds what remains and a full fill closes the order; only open orders change; closed
    orders stay queryable (the last 100,000); picking a random open order is O(1).
    """

    def __init__(self, rng: random.Random, clock: SimClock) -> None:
        """Start with no accounts.

        Args:
            rng: Draws order ids (shared with the other rooms, so a seed replays a run).
            clock: The exchange's clocks.
        """
        self.rng = rng
        self.clock = clock
        self._kinds: dict[str, AccountKind] = {}
        self._orders: dict[str, dict[str, SimOrder]] = {}
        self._open_ids: dict[str, list[str]] = {}
        self._open_pos: dict[str, dict[str, int]] = {}
        self._open_by_cl: dict[str, dict[str, str]] = {}
        self._ever_by_cl: dict[str, dict[str, str]] = {}
        self._open_per_symbol: dict[str, dict[str, int]] = {}
        self._closed: deque[tuple[str, str]] = deque()
        self._subscribers: dict[str | None, list[OrderCallback]] = {}

    def open_account(self, name: str, kind: AccountKind) -> None:
        """Give a new account its (empty) place in the book.

        Args:
            name: Account name.
            kind: Its venue, which decides the shape of its order ids.
        """
        self._kinds[name] = kind
        self._orders[name] = {}
        self._open_ids[name] = []
        self._open_pos[name] = {}
        self._open_by_cl[name] = {}
        self._ever_by_cl[name] = {}
        self._open_per_symbol[name] = {}

    # ----------------------------------------------------------------------- placing

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
        kind = self._kinds[account]
        inst = instrument_or_default(symbol)
        if side not in ("buy", "sell"):
            raise OrderRejected("type", f"bad side: {side!r}")
        if order_type not in ORDER_TYPES:
            raise OrderRejected("ordertype", f"bad order type: {order_type!r}")
        try:
            qty_d = parse_decimal(str(qty), "qty")
            price_d = parse_decimal(str(price), "price")
            stop_d = None if stop_price is None else parse_decimal(str(stop_price), "stop price")
            filled_d = parse_decimal(str(filled), "filled")
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
        now = self.clock.wall()
        if order_id is None:
            order_id = self._new_order_id(kind)
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
            self._ever_by_cl[account][order.cl_ord_id] = order.order_id
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
        now = self.clock.wall()
        self._unindex_open(order)
        order.status = status
        order.cancel_reason = (
            reason if status in ("canceled", "expired") or reason == REASON_REPLACED else None
        )
        order.closed_at = now
        order.updated_at = now
        self._closed.append((order.account, order.order_id))
        while len(self._closed) > _CLOSED_ORDERS_KEPT:
            old_account, old_id = self._closed.popleft()
            self._orders.get(old_account, {}).pop(old_id, None)

    # ----------------------------------------------------------------------- reading

    def get_order(self, account: str, order_id: str) -> SimOrder | None:
        """Return an order by id, open or closed (closed ones are kept for QueryOrders).

        Args:
            account: Account name.
            order_id: Order id.

        Returns:
            The live order object, or None.
        """
        return self._orders.get(account, {}).get(order_id)

    def ever_had(self, account: str, *, order_id: str | None = None, cl_ord_id: str | None = None) -> bool:
        """Whether the account ever had an order with this id or client id, open or closed.

        Hosts tell "Kraken never knew this id" (``EOrder:Invalid order``) from "it is closed now".

        Args:
            account: Account name.
            order_id: An order id.
            cl_ord_id: A client order id.

        Returns:
            True if it did (an id older than the kept closed orders counts as never known).
        """
        if order_id is not None and order_id in self._orders.get(account, {}):
            return True
        return cl_ord_id is not None and cl_ord_id in self._ever_by_cl.get(account, {})

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

    def counts(self) -> dict[str, dict[str, int | str]]:
        """Summarise orders per account (for ``/_sim/state``).

        Returns:
            ``{account: {"kind", "open", "canceled", "closed", "expired"}}``.
        """
        out: dict[str, dict[str, int | str]] = {}
        for name, kind in self._kinds.items():
            row: dict[str, int | str] = {"kind": kind, "open": 0}
            row.update({"canceled": 0, "closed": 0, "expired": 0})
            for order in self._orders[name].values():
                row[order.status] = int(row[order.status]) + 1
            out[name] = row
        return out

    # ----------------------------------------------------------------------- cancelling

    def cancel(self, account: str, order_id: str, reason: str = REASON_USER) -> SimOrder | None:
        """Cancel one open order.

        Args:
            account: Account name.
            order_id: Order id.
            reason: Cancel reason recorded on the order and its event.

        Returns:
            The cancelled order, or None if unknown or no longer open.
        """
        return self._end(account, order_id, "canceled", reason)

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

    # ----------------------------------------------------------------------- market changes

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
        decimals = instrument_or_default(order.symbol).qty_decimals
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
        order.updated_at = self.clock.wall()
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
        return self._end(account, order_id, "expired", REASON_EXPIRED)

    def _end(
        self, account: str, order_id: str, status: Literal["canceled", "expired"], reason: str
    ) -> SimOrder | None:
        order = self.get_order(account, order_id)
        if order is None or not order.is_open:
            return None
        self._close(order, status, reason)
        self._emit(status, order, reason, None)
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
        inst = instrument_or_default(order.symbol)
        if qty is not None:
            qty_d = Decimal(str(qty))
            if qty_d <= Decimal(order.filled):
                return None
            order.qty = fmt_decimal(qty_d, inst.qty_decimals)
        if price is not None:
            order.price = fmt_decimal(Decimal(str(price)), inst.price_decimals)
        order.updated_at = self.clock.wall()
        self._emit("update", order, "edited_by_user", None)
        return order

    def replace(
        self,
        account: str,
        order_id: str,
        *,
        price: str | Decimal | None = None,
        qty: str | Decimal | None = None,
    ) -> SimOrder | None:
        """Replace a Spot order by a new one, as EditOrder does (a new txid, the old one closed).

        The old order is closed with reason ``Order replaced`` (not a fill: API-FACTS 11) and
        the new one takes its side, type, references and what remains to fill.

        Args:
            account: Account name (a Spot account).
            order_id: The open order to replace.
            price: New limit price (default the old one).
            qty: New quantity to fill (default what remained).

        Returns:
            The new order, or None if unknown / not open / not Spot / invalid.
        """
        old = self.get_order(account, order_id)
        if old is None or not old.is_open or self._kinds.get(account) != "spot":
            return None
        try:
            new_qty = old.remaining if qty is None else parse_decimal(str(qty), "qty")
            new_price = old.price if price is None else str(parse_decimal(str(price), "price"))
        except ValueError:
            return None
        if (
            new_qty <= 0
            or Decimal(new_price) < 0
            or (old.order_type.endswith("limit") and not Decimal(new_price))
        ):
            return None
        new_id = self._new_order_id("spot")
        self._close(old, "closed", REASON_REPLACED)
        self._emit("replaced", old, REASON_REPLACED, None, replaced_by=new_id)
        return self.add_order(
            account,
            old.symbol,
            old.side,
            old.order_type,
            new_qty,
            new_price,
            stop_price=old.stop_price,
            userref=old.userref,
            cl_ord_id=old.cl_ord_id,
            order_id=new_id,
        )

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

    def _emit(
        self,
        kind: EventKind,
        order: SimOrder,
        reason: str | None,
        last_qty: str | None,
        *,
        replaced_by: str | None = None,
    ) -> None:
        targets = [*self._subscribers.get(order.account, ()), *self._subscribers.get(None, ())]
        if not targets:
            return
        event = OrderEvent(kind, order.snapshot(), reason, last_qty, order.updated_at, replaced_by)
        for callback in targets:
            try:
                callback(event)
            except Exception:
                log.exception("order event subscriber failed")

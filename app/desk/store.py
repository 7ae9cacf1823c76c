"""The live order store: every open order of every account, announcing row-level changes.

Modelled on an evented list (napari's EventedList): listeners learn exactly which orders were
inserted, updated or removed, so the table inserts and removes rows and never resets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container, Iterable, Sequence

from app.core.events import Event
from app.core.ledger import Outcome
from app.core.orders import Order, OrderKey

GONE_KEPT = 200_000  # orders proven gone remembered, so a stale listing cannot bring them back


class OrderStore:
    """Open orders by key, grouped per account, plus the cancel outcome shown beside each.

    Events (all synchronous, in the desk's loop):
        inserted(list[Order]): new orders, appended.
        updated(list[Order]): orders whose fields or outcome changed.
        removed(list[OrderKey]): orders that left the book.

    Rules: an event is emitted only for a real change; one replace or batch emits at most one
    event of each kind; per-account reads cost the account's size, never the whole book's (the
    cancel path plans from them with 10,000 orders listed); facts win: an order Kraken proved
    gone is never added back by a listing or snapshot taken before it left.
    """

    def __init__(self) -> None:
        self._orders: dict[OrderKey, Order] = {}
        self._by_account: dict[str, dict[OrderKey, Order]] = {}
        self._outcomes: dict[OrderKey, Outcome] = {}
        self._gone: OrderedDict[OrderKey, None] = OrderedDict()
        self.inserted: Event[list[Order]] = Event("orders_inserted")
        self.updated: Event[list[Order]] = Event("orders_updated")
        self.removed: Event[list[OrderKey]] = Event("orders_removed")

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, key: object) -> bool:
        return key in self._orders

    def get(self, key: OrderKey) -> Order | None:
        """The order with ``key``, if open."""
        return self._orders.get(key)

    def outcome(self, key: OrderKey) -> Outcome | None:
        """The latest cancel outcome shown for ``key``, if any."""
        return self._outcomes.get(key)

    def orders(self, account_id: str | None = None) -> list[Order]:
        """Open orders, of one account or all."""
        if account_id is None:
            return list(self._orders.values())
        return list(self._by_account.get(account_id, {}).values())

    def by_account(self) -> dict[str, list[Order]]:
        """Open orders grouped per account."""
        return {aid: list(book.values()) for aid, book in self._by_account.items() if book}

    def count(self, account_id: str) -> int:
        """How many open orders ``account_id`` has."""
        return len(self._by_account.get(account_id, ()))

    def upsert(self, orders: Iterable[Order]) -> None:
        """Add new orders and update changed ones (orders proven gone stay gone)."""
        new: list[Order] = []
        changed: list[Order] = []
        for o in orders:
            if o.key in self._gone:
                continue  # a stale listing or snapshot: Kraken ids never come back
            old = self._orders.get(o.key)
            if old is None:
                new.append(o)
            elif old != o:
                changed.append(o)
            else:
                continue
            self._orders[o.key] = o
            self._by_account.setdefault(o.account_id, {})[o.key] = o
        if new:
            self.inserted.emit(new)
        if changed:
            self.updated.emit(changed)

    def remove(self, keys: Iterable[OrderKey], *, proven: bool = False) -> None:
        """Remove orders (unknown keys are ignored).

        Args:
            keys: the orders.
            proven: Kraken said these orders are gone (cancelled, filled, expired: the ledger's
                word or a stream's removal): a later listing or snapshot that still names them is
                stale and cannot bring them back.
        """
        gone: list[OrderKey] = []
        keys = list(keys)
        if proven:
            for k in keys:
                self._gone[k] = None
                self._gone.move_to_end(k)
            while len(self._gone) > GONE_KEPT:
                self._gone.popitem(last=False)
        for k in keys:
            if k in self._orders:  # also skips a key named twice
                del self._orders[k]
                del self._by_account[k[0]][k]
                self._outcomes.pop(k, None)
                gone.append(k)
        if gone:
            self.removed.emit(gone)

    def replace_account(
        self, account_id: str, orders: Sequence[Order], *, keep: Container[OrderKey] = frozenset()
    ) -> None:
        """Make ``account_id``'s orders exactly ``orders`` (a fresh listing or snapshot).

        Args:
            account_id: the account.
            orders: what the venue lists now.
            keep: orders to keep although not listed (being cancelled, or their cancel's ending
                is unknown: they leave when the ledger knows why, never silently).
        """
        fresh = {o.key for o in orders}
        self.remove([k for k in self._by_account.get(account_id, {}) if k not in fresh and k not in keep])
        self.upsert(orders)

    def is_gone(self, key: OrderKey) -> bool:
        """Whether Kraken proved ``key`` gone (it will not be listed again)."""
        return key in self._gone

    def drop_account(self, account_id: str) -> None:
        """Forget every order of an account (it was removed)."""
        self.remove(list(self._by_account.get(account_id, {})))

    def set_outcomes(self, outcomes: dict[OrderKey, Outcome]) -> None:
        """Show cancel outcomes beside open orders (keys not open are ignored)."""
        changed: list[Order] = []
        for key, outcome in outcomes.items():
            order = self._orders.get(key)
            if order is not None and self._outcomes.get(key) != outcome:
                self._outcomes[key] = outcome
                changed.append(order)
        if changed:
            self.updated.emit(changed)

"""The ground-truth room: who placed, filled, cancelled or expired every order the exchange ever had."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from app.sim.book import OrderBook
from app.sim.orders import OrderEvent

ActorKind = Literal["request", "cancel_all", "deadman", "activity", "control", "seed", "direct"]
"""Who changed an order.

- ``request``: a request signed with the account's key (REST path or WS method named);
- ``cancel_all``: a cancel-all request with the account's key (CancelAll, cancel_all,
  cancelallorders...);
- ``deadman``: the dead man's switch fired;
- ``activity``: the market, or another tool on the account (market activity, fills while a
  cancel is in flight);
- ``control``: the ``/_sim/`` control API;
- ``seed``: demo orders made at start-up;
- ``direct``: a call on the exchange object with no actor set (tests).
"""

TruthState = Literal["open", "cancelled", "filled", "expired", "replaced"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is changing orders right now.

    Attributes:
        kind: See ``ActorKind``.
        host: The simulator host that received the request.
        method: HTTP method, or the WS event/method (``cancelOrder``, ``cancel_order``...).
        path: URL path of the request (for WS, the socket's path).
    """

    kind: ActorKind
    host: str | None = None
    method: str | None = None
    path: str | None = None

    def as_json(self) -> dict[str, str]:
        """The actor as the truth endpoint writes it (unset parts left out)."""
        out: dict[str, str] = {"kind": self.kind}
        for name in ("host", "method", "path"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


DIRECT = Actor("direct")
_ACTOR: ContextVar[Actor] = ContextVar("sim_actor", default=DIRECT)


def current_actor() -> Actor:
    """The actor of the code running now (``direct`` when none was set)."""
    return _ACTOR.get()


@contextlib.contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Attribute every order change inside the block to ``actor``.

    The actor is a context variable, so timers scheduled inside the block (a pending Prime
    cancel) carry it too.

    Args:
        actor: Who acts.

    Yields:
        The actor.
    """
    token = _ACTOR.set(actor)
    try:
        yield actor
    finally:
        _ACTOR.reset(token)


def cancelling_all() -> contextlib.AbstractContextManager[Actor]:
    """Mark the current request as a cancel-all (same host, method and path)."""
    return acting(dataclasses.replace(current_actor(), kind="cancel_all"))


@dataclass
class OrderTruth:
    """What really happened to one order.

    Attributes:
        order_id: The order id.
        symbol: The simulator's symbol.
        qty: Original quantity (the latest, after amends).
        filled: Filled quantity.
        state: ``open``, ``cancelled``, ``filled``, ``expired`` or ``replaced``.
        created_by: Who placed it.
        ended_by: Who ended it (None while open).
        reason: The exchange's cancel reason, when cancelled or expired.
        fills: ``(quantity, actor)`` of every fill.
        replaced_by: The order that replaced it (EditOrder).
    """

    order_id: str
    symbol: str
    qty: str
    filled: str
    state: TruthState
    created_by: Actor
    ended_by: Actor | None = None
    reason: str | None = None
    fills: list[tuple[str, Actor]] = field(default_factory=list)
    replaced_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The order as ``/_sim/truth`` writes it."""
        out: dict[str, Any] = {
            "state": self.state,
            "symbol": self.symbol,
            "qty": self.qty,
            "filled": self.filled,
            "created_by": self.created_by.as_json(),
        }
        if self.ended_by is not None:
            out["by"] = self.ended_by.as_json()
        if self.reason is not None:
            out["reason"] = self.reason
        if self.fills:
            out["fills"] = [{"qty": q, "by": a.as_json()} for q, a in self.fills]
        if self.replaced_by is not None:
            out["replaced_by"] = self.replaced_by
        return out


_ENDINGS: dict[str, TruthState] = {"canceled": "cancelled", "expired": "expired", "replaced": "replaced"}


class TruthLedger:
    """Every order the exchange ever had, per account, with who did what to it.

    Rules kept: it hears every order event synchronously (subscribed to the book before any
    host), so the actor in force when the change happened is the one recorded; an order once
    ended is never reopened; nothing is forgotten (unlike the book's closed-order window).
    """

    def __init__(self, book: OrderBook) -> None:
        """Listen to every account's order events.

        Args:
            book: The order book.
        """
        self._orders: dict[str, dict[str, OrderTruth]] = {}
        book.subscribe(None, self._on_event)

    def _on_event(self, event: OrderEvent) -> None:
        order = event.order
        orders = self._orders.setdefault(order.account, {})
        actor = current_actor()
        truth = orders.get(order.order_id)
        if truth is None:
            truth = orders[order.order_id] = OrderTruth(
                order.order_id, order.symbol, order.qty, order.filled, "open", actor
            )
        truth.qty, truth.filled = order.qty, order.filled
        if truth.state != "open":
            return
        if event.kind == "fill":
            truth.fills.append((event.last_qty or "0", actor))
            if order.status == "closed":
                truth.state, truth.ended_by = "filled", actor
        elif event.kind in _ENDINGS:
            truth.state, truth.ended_by, truth.reason = _ENDINGS[event.kind], actor, event.reason
            truth.replaced_by = event.replaced_by

    def orders(self, account: str) -> dict[str, OrderTruth]:
        """Every order the account ever had, by id (a copy of the index).

        Args:
            account: Account name.

        Returns:
            Order id to its truth.
        """
        return dict(self._orders.get(account, {}))

    def report(self, account: str) -> dict[str, Any]:
        """The ``/_sim/truth`` answer for one account.

        Args:
            account: Account name.

        Returns:
            ``{"account", "orders": {id: ...}, "counts": {...}}``; counts give each state and,
            per state, how many each actor kind caused (``ended_by``; ``created_by`` for all).
        """
        orders = self._orders.get(account, {})
        counts: dict[str, Any] = {s: 0 for s in ("open", "cancelled", "filled", "expired", "replaced")}
        by: dict[str, dict[str, int]] = {"created": {}}
        for truth in orders.values():
            counts[truth.state] += 1
            _bump(by["created"], truth.created_by.kind)
            if truth.ended_by is not None:
                _bump(by.setdefault(truth.state, {}), truth.ended_by.kind)
        counts["total"] = len(orders)
        counts["by"] = by
        return {
            "account": account,
            "orders": {oid: t.as_json() for oid, t in orders.items()},
            "counts": counts,
        }


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1

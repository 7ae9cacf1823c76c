"""The cancel planner: turns what the trader asked for into the fewest correct venue requests.

Rules it keeps (DESIGN.md, "The cancel ledger"):
- cheapest correct form per account: one order -> single cancel; many -> batches within the API's
  size limits (and above its minimum, else singles); a whole account -> the venue's cancel-all;
- never widens scope: a symbol cancel is only sent as a venue's symbol-scoped cancel-all, never as
  an account-wide one; a selection of orders is never sent as a cancel-all, even when it happens to
  be everything we list (an order placed a moment ago would be cancelled without being asked);
- never mixes id kinds in one request where the venue forbids it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.core.orders import CancelRef, IdKind, Order


class Scope(enum.StrEnum):
    """What the trader asked to cancel."""

    ORDERS = "orders"  # exactly these orders
    USERREF = "userref"  # every order carrying a userref (Spot), as one venue request
    SYMBOL = "symbol"  # every order of one symbol on the given accounts
    ACCOUNT = "account"  # everything on the given accounts
    EVERYTHING = "everything"  # the kill switch: everything on every connected account


class RequestForm(enum.StrEnum):
    """The shape of one venue request."""

    SINGLE = "single"
    BATCH = "batch"
    ALL = "all"
    ALL_FOR_SYMBOL = "all for symbol"


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """What a venue's cancel API can do, as the planner needs to know it.

    Attributes:
        max_batch: most ids in one batch request (1 means no batch call).
        min_batch: fewest ids a batch call accepts (Spot WS v2 batch_cancel needs 2).
        cancel_all: the venue has an account-wide cancel-all call.
        cancel_all_for_symbol: the venue can cancel all orders of one symbol in one call.
        batch_mixes_id_kinds: one batch may hold order ids and client ids together.
    """

    max_batch: int = 1
    min_batch: int = 2
    cancel_all: bool = False
    cancel_all_for_symbol: bool = False
    batch_mixes_id_kinds: bool = False


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """A trader's request, before planning."""

    scope: Scope
    orders: tuple[Order, ...] = ()
    account_ids: tuple[str, ...] = ()
    symbol: str | None = None
    userref: int | None = None

    def describe(self) -> str:
        """A short human description for the status bar and audit log."""
        if self.scope is Scope.ORDERS:
            n = len(self.orders)
            return f"cancel {n:,} order{'s' if n != 1 else ''}"
        if self.scope is Scope.SYMBOL:
            return f"cancel all {self.symbol}"
        if self.scope is Scope.USERREF:
            return f"cancel userref {self.userref}"
        if self.scope is Scope.ACCOUNT:
            return f"cancel all on {', '.join(self.account_ids)}"
        return "kill switch"


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """One request to one account's venue.

    ``orders`` are the orders we expect it to affect (the ledger tracks them); for ALL forms they
    are the orders we know of, and the venue may cancel more that we did not know yet.
    """

    account_id: str
    form: RequestForm
    refs: tuple[CancelRef, ...] = ()
    orders: tuple[Order, ...] = ()
    symbol: str | None = None


@dataclass(slots=True)
class Plan:
    """The requests for one intent, in send order, per account."""

    intent: CancelIntent
    requests: list[CancelRequest] = field(default_factory=list)

    @property
    def order_count(self) -> int:
        """How many known orders the plan touches."""
        return sum(len(r.orders) for r in self.requests)

    def by_account(self) -> dict[str, list[CancelRequest]]:
        """Requests grouped per account, keeping order."""
        out: dict[str, list[CancelRequest]] = {}
        for r in self.requests:
            out.setdefault(r.account_id, []).append(r)
        return out


def _chunks(items: Sequence[Order], size: int) -> Iterable[Sequence[Order]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _orders_requests(account_id: str, orders: Sequence[Order], limits: VenueLimits) -> list[CancelRequest]:
    """Single or batched requests by venue order id (never mixing id kinds)."""
    requests: list[CancelRequest] = []
    if limits.max_batch < 2:
        chunks: Iterable[Sequence[Order]] = ([o] for o in orders)
    else:
        chunks = _chunks(orders, limits.max_batch)
    for chunk in chunks:
        if len(chunk) >= max(2, limits.min_batch):
            requests.append(
                CancelRequest(
                    account_id,
                    RequestForm.BATCH,
                    tuple(CancelRef.of(o) for o in chunk),
                    tuple(chunk),
                )
            )
        else:
            requests.extend(
                CancelRequest(account_id, RequestForm.SINGLE, (CancelRef.of(o),), (o,)) for o in chunk
            )
    return requests


def plan_cancel(
    intent: CancelIntent,
    open_orders: Mapping[str, Sequence[Order]],
    limits: Mapping[str, VenueLimits],
) -> Plan:
    """Plan the venue requests for an intent.

    Args:
        intent: what the trader asked for.
        open_orders: every open order the desk knows, per account id.
        limits: each account's venue limits; accounts missing here are skipped.

    Returns:
        The plan: requests per account in the order they should be sent.

    Raises:
        ValueError: the intent is incomplete (a symbol scope without symbol, and so on).
    """
    plan = Plan(intent)
    if intent.scope is Scope.ORDERS:
        per_account: dict[str, list[Order]] = {}
        seen: set[tuple[str, str]] = set()
        for o in intent.orders:
            if o.key not in seen:
                seen.add(o.key)
                per_account.setdefault(o.account_id, []).append(o)
        for account_id, orders in per_account.items():
            if account_id in limits:
                plan.requests.extend(_orders_requests(account_id, orders, limits[account_id]))
        return plan

    if intent.scope is Scope.USERREF:
        if intent.userref is None or len(intent.account_ids) != 1:
            raise ValueError("a userref cancel names one account and one userref")
        account_id = intent.account_ids[0]
        touched = tuple(o for o in open_orders.get(account_id, ()) if o.userref == intent.userref)
        ref = CancelRef(IdKind.USERREF, str(intent.userref))
        plan.requests.append(CancelRequest(account_id, RequestForm.SINGLE, (ref,), touched))
        return plan

    accounts = intent.account_ids if intent.scope is not Scope.EVERYTHING else tuple(open_orders)
    if intent.scope is Scope.EVERYTHING and intent.account_ids:
        accounts = intent.account_ids
    for account_id in accounts:
        if account_id not in limits:
            continue
        lim = limits[account_id]
        known = list(open_orders.get(account_id, ()))
        if intent.scope is Scope.SYMBOL:
            if intent.symbol is None:
                raise ValueError("a symbol cancel needs a symbol")
            mine = [o for o in known if o.symbol == intent.symbol]
            if lim.cancel_all_for_symbol:
                plan.requests.append(
                    CancelRequest(account_id, RequestForm.ALL_FOR_SYMBOL, (), tuple(mine), intent.symbol)
                )
            elif mine:
                plan.requests.extend(_orders_requests(account_id, mine, lim))
        elif lim.cancel_all:
            plan.requests.append(CancelRequest(account_id, RequestForm.ALL, (), tuple(known)))
        elif known:
            plan.requests.extend(_orders_requests(account_id, known, lim))
    return plan

"""The stream coalescer: one account's burst of stream events reduced to the few store calls it means."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.core.ledger import CancelState, Outcome
from app.core.orders import Order, OrderKey
from app.venues.base import StreamEvent, StreamKind

GONE_UNSAID = Outcome(CancelState.ALREADY_GONE)
"""What a removal proves when the venue gave no outcome: the order left, no more."""


@dataclass(frozen=True, slots=True)
class Replace:
    """A snapshot: the account's book becomes exactly ``orders``."""

    orders: tuple[Order, ...]


@dataclass(frozen=True, slots=True)
class Changes:
    """A run of updates and removals: one ``store.upsert`` call, then one removal call.

    Attributes:
        upserts: orders new or changed, each once (its last version), in order of last arrival.
        removed: orders that left the book with what their removal proves, each once, only for
            orders the book holds when this step is applied: first to
            ``coordinator.observe_removals``, then to ``store.remove``.
    """

    upserts: tuple[Order, ...]
    removed: tuple[tuple[Order, Outcome], ...]


Step = Replace | Changes


class StreamCoalescer:
    """Gathers one account's stream events until drained, then says what they amount to.

    Pure: no loop, no timer, no store. The desk owns the timer (``add`` says when a burst starts)
    and applies the steps ``drain`` returns, in order.

    Rules it keeps:
        - per order only its last word counts: a burst becomes one upsert and one removal call
          (one audit write, one Qt signal round) whatever its interleaving; an order that came and
          went inside a burst never shows; an order told twice is applied once;
        - a SNAPSHOT applies what came before it, then replaces the account's book; what follows
          it is applied on top of it;
        - a removal names the order as the book will hold it when the step is applied; an order
          the book will not hold then (never listed, or dropped by a snapshot) is left out;
        - a removal without an outcome proves only that the order is gone (``already gone``).
    """

    __slots__ = ("_pending", "account_id")

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._pending: list[StreamEvent] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, event: StreamEvent) -> bool:
        """Hold one event until the next ``drain``.

        Args:
            event: a decoded stream event of this account.

        Returns:
            True when the event starts a burst (nothing was pending): the caller schedules a drain.
        """
        starts = not self._pending
        self._pending.append(event)
        return starts

    def drain(self, held: Callable[[OrderKey], Order | None]) -> list[Step]:
        """Reduce the pending events to steps and forget them.

        Args:
            held: the store's lookup (``OrderStore.get``) as it stands before the first step.

        Returns:
            The steps to apply, in order; empty when the events change nothing.
        """
        events, self._pending = self._pending, []
        steps: list[Step] = []
        # The book a removal is looked up in: the store's, until a snapshot replaces it. Runs end
        # only at a snapshot or at the end, so what a run upserts or removes is never looked up.
        snapshot: dict[str, Order] | None = None
        last: dict[str, Order | Outcome] = {}

        def holds(order_id: str) -> Order | None:
            return held((self.account_id, order_id)) if snapshot is None else snapshot.get(order_id)

        def close_run() -> None:
            upserts = tuple(v for v in last.values() if isinstance(v, Order))
            removed = tuple(
                (order, v)
                for oid, v in last.items()
                if isinstance(v, Outcome) and (order := holds(oid)) is not None
            )
            last.clear()
            if upserts or removed:
                steps.append(Changes(upserts, removed))

        for event in events:
            if event.kind is StreamKind.SNAPSHOT:
                close_run()
                steps.append(Replace(event.orders))
                snapshot = {o.order_id: o for o in event.orders}
            elif event.kind is StreamKind.UPSERT:
                for o in event.orders:
                    last.pop(o.order_id, None)  # keep arrival order among the new ones
                    last[o.order_id] = o
            elif event.kind is StreamKind.REMOVED and event.order_id is not None:
                last.pop(event.order_id, None)
                last[event.order_id] = event.outcome or GONE_UNSAID
        close_run()
        return steps

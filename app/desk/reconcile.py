"""Restarts reconcile: what the audit log shows unsettled from an earlier run is re-checked and settled.

An earlier run may have died (``kill -9``, a crash, a power cut) with cancels in flight, or
quit with endings still unknown. At start the desk takes those orders over as ``unknown`` under
their old attempt ids (``CancelCoordinator.adopt_unknown``): the coordinator re-checks them with
the venues once they answer, exactly as it re-checks its own unknown orders, and writes each
ending to the audit log under the old attempt id. Actions the earlier run never ended are closed
once their orders are settled. The trader is told in one line: "from the previous session:
N settled (…), M still unknown".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from app.core.events import Event
from app.core.ledger import CancelState
from app.core.orders import Order, OrderKey, Side, VenueKind
from app.desk.audit import UnsettledOrder
from app.desk.coordinator import LedgerEntry
from app.desk.desk import Desk

log = logging.getLogger("app.desk.reconcile")

ADOPTED_REASON = "left unsettled by the previous session; re-checking"
FIRST_ANSWER_WAIT_S = 30.0  # the summary line waits this long for every order's first answer


@dataclass(slots=True)
class ReconcileSummary:
    """How the previous session's unsettled orders ended (so far).

    Attributes:
        total: orders taken over.
        settled: how many ended, per state.
        unknown: how many are still unknown (the coordinator keeps re-checking them).
        not_connected: orders of accounts that are not configured or connected now (left as
            they are in the audit log; they are taken over when their account is back).
    """

    total: int = 0
    settled: Counter[CancelState] = field(default_factory=Counter)
    unknown: int = 0
    not_connected: int = 0

    @property
    def settled_count(self) -> int:
        """Orders that ended."""
        return sum(self.settled.values())

    def text(self) -> str:
        """e.g. ``from the previous session: 3 settled (2 cancelled, 1 filled), 1 still unknown``."""
        parts = ", ".join(f"{n} {state.value}" for state, n in sorted(self.settled.items()) if n)
        line = f"from the previous session: {self.settled_count} settled"
        if parts:
            line += f" ({parts})"
        line += f", {self.unknown} still unknown"
        if self.not_connected:
            line += f"; {self.not_connected} on accounts not connected now"
        return line


def _order_from(row: UnsettledOrder, known: Order | None) -> Order:
    if known is not None:
        return known
    try:
        venue = VenueKind(row.venue)
    except ValueError:
        venue = VenueKind.SPOT
    # The audit log keeps ids, not the order's terms: what is unknown stays empty/zero. Only the
    # ids and the symbol are used to re-check it and to show it in Activity.
    return Order(
        row.account,
        venue,
        row.order_id,
        row.symbol or "",
        Side.BUY,
        "",
        None,
        Decimal(0),
        Decimal(0),
        row.at,
        client_id=row.client_id,
    )


class Reconciler:
    """Takes over the previous session's unsettled orders and reports how they end.

    Events:
        summarized(ReconcileSummary): once every order taken over had its first answer (or
            ``first_answer_wait_s`` passed), and again when the last unknown one settles.

    Rules: only accounts connected on the desk are taken over (the others stay unsettled in the
    log for a later run); endings are written by the coordinator under the old attempt ids;
    actions the earlier run never ended are closed once none of their orders is unsettled.
    """

    def __init__(self, desk: Desk, *, first_answer_wait_s: float = FIRST_ANSWER_WAIT_S) -> None:
        self._desk = desk
        self._wait_s = first_answer_wait_s
        self._adopted: dict[OrderKey, LedgerEntry] = {}
        self._answered: set[OrderKey] = set()
        self._actions: list[str] = []
        self.summary: ReconcileSummary | None = None
        self.summarized: Event[ReconcileSummary] = Event("previous_session_summarized")
        self._first = asyncio.Event()
        self._done = asyncio.Event()
        self._published = asyncio.Event()  # the first summary is out (or there is none to give)
        self._unhook = desk.coordinator.transitioned.connect(self._on_transitioned)
        self._task: asyncio.Task[None] | None = None
        self._not_connected = 0

    def start(self) -> int:
        """Read the audit log and take the unsettled orders over (call once the accounts are
        added to the desk).

        Returns:
            How many orders were taken over.
        """
        audit = self._desk.audit
        rows = audit.unsettled_orders()
        self._actions = audit.unsettled_actions()
        adopt: list[tuple[str, Order]] = []
        for row in rows:
            if row.account not in self._desk.venues:
                self._not_connected += 1
                continue
            adopt.append((row.attempt, _order_from(row, self._desk.store.get((row.account, row.order_id)))))
        entries = self._desk.coordinator.adopt_unknown(adopt, ADOPTED_REASON)
        self._adopted = {e.order.key: e for e in entries}
        if rows or self._actions:
            log.info(
                "previous session: %d unsettled orders (%d taken over), %d actions never ended",
                len(rows),
                len(entries),
                len(self._actions),
            )
        if not self._adopted:
            if rows:
                self._publish(final=True)
            else:
                self._close_actions()
            self._first.set()
            self._done.set()
            self._published.set()
            return 0
        self._task = asyncio.create_task(self._watch(), name="reconcile-previous-session")
        return len(self._adopted)

    def _on_transitioned(self, entries: list[LedgerEntry]) -> None:
        for e in entries:
            old = self._adopted.get(e.order.key)
            if old is None or e.attempt != old.attempt or e is old:
                continue
            self._answered.add(e.order.key)
        if self._adopted and not self._first.is_set() and self._answered >= self._adopted.keys():
            self._first.set()
        if self._first.is_set() and not self._done.is_set() and not self._unknown_keys():
            self._done.set()

    def _unknown_keys(self) -> list[OrderKey]:
        """Orders taken over whose ending is still unknown (a new cancel's attempt is not ours)."""
        coord = self._desk.coordinator
        out = []
        for key, adopted in self._adopted.items():
            e = coord.entry(key)
            mine = e is not None and e.attempt == adopted.attempt
            if mine and e is not None and (e.state is CancelState.UNKNOWN or not e.state.is_final):
                out.append(key)
        return out

    def current(self) -> ReconcileSummary:
        """The counts as they stand (an order a new cancel took over counts no more)."""
        summary = ReconcileSummary(not_connected=self._not_connected)
        coord = self._desk.coordinator
        for key, adopted in self._adopted.items():
            e = coord.entry(key)
            if e is None or e.attempt != adopted.attempt:
                continue
            summary.total += 1
            if e.state is CancelState.UNKNOWN or not e.state.is_final:
                summary.unknown += 1
            else:
                summary.settled[e.state] += 1
        return summary

    def _publish(self, *, final: bool) -> None:
        self.summary = self.current()
        text = self.summary.text()
        log.log(logging.INFO if self.summary.unknown == 0 else logging.WARNING, "%s", text)
        if final:
            self._close_actions()
        self._published.set()
        self.summarized.emit(self.summary)

    def _close_actions(self) -> None:
        audit = self._desk.audit
        for attempt in self._actions:
            states = audit.attempt_states(attempt)
            if any(st is CancelState.UNKNOWN or not st.is_final for st in states.values()):
                continue
            counts = Counter(states.values())
            parts = ", ".join(f"{st.value} {n}" for st, n in sorted(counts.items()))
            audit.settle_action(attempt, f"settled after a restart: {parts or 'no order tracked'}")

    async def _watch(self) -> None:
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(self._wait_s):
                await self._first.wait()
        except TimeoutError:
            log.warning("previous session: not every order answered within %.0f s", time.monotonic() - t0)
        if not self._unknown_keys():
            self._done.set()
        self._publish(final=self._done.is_set())
        if self._done.is_set():
            return
        await self._done.wait()
        self._publish(final=True)

    async def wait(self, timeout_s: float | None = None) -> ReconcileSummary | None:
        """Wait for the first summary (the command line prints it); None when the previous
        session left nothing unsettled."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._published.wait()
        except TimeoutError:
            return self.current()
        return self.summary

    async def aclose(self) -> None:
        """Stop watching (the coordinator keeps re-checking what it holds until the desk closes)."""
        self._unhook()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

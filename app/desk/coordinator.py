"""The cancel coordinator: plans, sends, and settles cancels, keeping the ledger honest.

For each action: plan (app.core.plan) -> queued (audit) -> per request: sent (audit, before the
bytes leave) -> the venue's answer per order -> confirm what was only counted or is unknown ->
settled. Accounts run concurrently; requests of one account run concurrently too (a venue that
must serialize, like Spot REST's nonces, does it itself).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.core.errors import RateLimited, VenueError, VenueRejected, VenueUnavailable
from app.core.events import Event
from app.core.ledger import CancelState, Outcome, can_move
from app.core.orders import Order, OrderKey
from app.core.plan import CancelIntent, CancelRequest, Plan, Scope, plan_cancel
from app.desk.audit import AuditLog, Transition
from app.desk.store import OrderStore
from app.desk.timing import Clock, Sleep
from app.venues.base import CancelReply, Venue

log = logging.getLogger("app.desk.coordinator")

T = TypeVar("T")

GONE_STATES = frozenset({CancelState.CANCELLED, CancelState.ALREADY_GONE, CancelState.FILLED})


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The latest ledger state of one order."""

    attempt: str
    order: Order
    state: CancelState
    reason: str | None
    at: float
    latency_ms: float | None = None


@dataclass(slots=True)
class CancelReport:
    """How one cancel action ended, for the status bar and the audit log."""

    attempt: str
    intent: str
    requests: int = 0
    orders: int = 0
    counts: Counter[CancelState] = field(default_factory=Counter)
    latency_ms: float = 0.0
    round_trips_ms: list[float] = field(default_factory=list)
    venue_times: list[tuple[str | None, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """e.g. ``cancelled 10, already gone 1, failed 2``."""
        parts = [f"{state.value} {n}" for state, n in sorted(self.counts.items()) if n]
        return ", ".join(parts) if parts else "nothing to cancel"


async def _all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines concurrently; a single one runs in this task, without a loop turn."""
    pending = list(coros)
    if len(pending) == 1:
        return [await pending[0]]
    return list(await asyncio.gather(*pending))


class CancelCoordinator:
    """Runs cancel actions against the desk's venues.

    Events:
        transitioned(list[LedgerEntry]): orders moved in the ledger (batched per step).
        settled(CancelReport): an action finished.

    Rules: an order is marked cancelled only when its venue said so for that order, or its stream
    removed it with a cancel reason; a bare count is confirmed per order; a timeout or dropped
    connection leaves ``unknown`` and triggers a re-check; rate limits are retried with back-off
    (cancels are safe to retry); every transition is in the audit log before the request is sent.
    """

    def __init__(
        self,
        store: OrderStore,
        venues: Mapping[str, Venue],
        audit: AuditLog,
        *,
        max_retries: int = 3,
        backoff_s: float = 0.25,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Make a coordinator over the desk's store, venues and audit log.

        Args:
            store: the live order store (gone orders leave it, outcomes are shown in it).
            venues: each connected account's venue, by account id (read at each cancel).
            audit: where every action and transition is written before the request leaves.
            max_retries: how many times a rate-limited request is sent again.
            backoff_s: the first wait before a retry when the venue did not say how long; doubles.
            clock: monotonic seconds, for latencies and round trips.
            wall_clock: epoch seconds, for attempt ids and ledger entry times.
            sleep: how a retry waits (``asyncio.sleep``).
        """
        self._store = store
        self._venues = venues
        self._audit = audit
        self._max_retries = max_retries
        self._backoff = backoff_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._ids = itertools.count(1)
        self._entries: dict[OrderKey, LedgerEntry] = {}
        self.transitioned: Event[list[LedgerEntry]] = Event("cancel_transitioned")
        self.settled: Event[CancelReport] = Event("cancel_settled")

    def entry(self, key: OrderKey) -> LedgerEntry | None:
        """The latest ledger entry of an order."""
        return self._entries.get(key)

    def plan(self, intent: CancelIntent) -> Plan:
        """The requests an intent would send now (for confirmations: how many, where)."""
        limits = {aid: v.capabilities.limits for aid, v in self._venues.items()}
        if intent.scope is Scope.ORDERS:
            # Never double up on orders already being cancelled.
            fresh = tuple(
                o
                for o in intent.orders
                if not ((e := self._entries.get(o.key)) is not None and e.state.is_open_attempt)
            )
            intent = CancelIntent(Scope.ORDERS, fresh)
        # A selection plans from the orders it names: no need to group the whole book.
        book = {} if intent.scope is Scope.ORDERS else self._store.by_account()
        return plan_cancel(intent, book, limits)

    # --- ledger -----------------------------------------------------------------------------

    def _move(
        self,
        attempt: str,
        orders: Iterable[Order],
        state: CancelState,
        reason: str | None = None,
        *,
        form: str | None = None,
        latency_ms: float | None = None,
    ) -> list[LedgerEntry]:
        now = self._wall_clock()
        moved: list[LedgerEntry] = []
        for order in orders:
            old = self._entries.get(order.key)
            old_state: CancelState | None
            if state is CancelState.QUEUED:
                # A new attempt starts fresh, unless one is still in flight (never double up).
                old_state = old.state if old is not None and old.state.is_open_attempt else None
            elif old is None or old.attempt != attempt:
                continue  # only the attempt that queued an order may move it
            else:
                old_state = old.state
            if not can_move(old_state, state):
                continue
            entry = LedgerEntry(attempt, order, state, reason, now, latency_ms)
            self._entries[order.key] = entry
            moved.append(entry)
        if not moved:
            return moved
        self._audit.record(Transition(attempt, e.order, state, reason, form, latency_ms) for e in moved)
        keys = [e.order.key for e in moved]
        if state in GONE_STATES:
            self._store.remove(keys)
        else:
            self._store.set_outcomes({k: Outcome(state, reason) for k in keys})
        self.transitioned.emit(moved)
        return moved

    def observe_removal(self, order: Order, outcome: Outcome) -> None:
        """A stream or listing says an order left the book, and why (see ``observe_removals``)."""
        self.observe_removals([(order, outcome)])

    def observe_removals(self, removed: Iterable[tuple[Order, Outcome]]) -> None:
        """A stream says orders left the book, and why.

        Orders being cancelled (or whose cancel ended unknown) are settled by the stream's word:
        only a cancel reason gives ``cancelled``. Alike moves are written together (a kill
        switch's stream removes a thousand orders in a few bursts: one audit transaction each,
        not one per order).
        """
        groups: dict[tuple[str, CancelState, str | None], list[Order]] = {}
        for order, outcome in removed:
            entry = self._entries.get(order.key)
            if entry is not None and (entry.state.is_open_attempt or entry.state is CancelState.UNKNOWN):
                groups.setdefault((entry.attempt, outcome.state, outcome.reason), []).append(entry.order)
        for (attempt, state, reason), orders in groups.items():
            self._move(attempt, orders, state, reason)

    # --- actions ----------------------------------------------------------------------------

    async def cancel(self, intent: CancelIntent, plan: Plan | None = None) -> CancelReport:
        """Cancel what ``intent`` names and settle every order truthfully.

        Args:
            intent: what the trader asked for.
            plan: a plan made a moment ago (shown in a confirmation); made now if None.

        Returns:
            The report; it never raises for venue failures (they become outcomes).
        """
        plan = plan if plan is not None else self.plan(intent)
        attempt = f"A{int(self._wall_clock())}-{next(self._ids)}"
        report = CancelReport(attempt, intent.describe(), len(plan.requests), plan.order_count)
        t0 = self._clock()
        self._audit.begin_action(attempt, report.intent, report.requests, report.orders)
        # One transaction for the whole action (the request form is recorded at "sent").
        self._move(attempt, [o for req in plan.requests for o in req.orders], CancelState.QUEUED)

        # Awaited directly when there is one of a kind: a gather wraps each coroutine in a task
        # that starts only on the next loop turn, and in a GUI that turn may be a whole repaint
        # before the first byte leaves (bench: key press to wire).
        per_account = plan.by_account()
        await _all(self._run_account(attempt, aid, reqs, report) for aid, reqs in per_account.items())
        report.latency_ms = (self._clock() - t0) * 1000
        for req in plan.requests:
            for o in req.orders:
                e = self._entries.get(o.key)
                if e is not None and e.attempt == attempt:
                    report.counts[e.state] += 1
        self._audit.end_action(attempt, report.summary(), report.latency_ms)
        log.info("%s %s: %s in %.1f ms", attempt, report.intent, report.summary(), report.latency_ms)
        self.settled.emit(report)
        return report

    async def _run_account(
        self, attempt: str, account_id: str, requests: Sequence[CancelRequest], report: CancelReport
    ) -> None:
        venue = self._venues.get(account_id)
        if venue is None:
            for req in requests:
                self._move(attempt, req.orders, CancelState.FAILED, "account not connected")
            return
        results = await _all(self._send(attempt, venue, req, report) for req in requests)
        to_confirm = [o for pending in results for o in pending]
        await self._confirm(attempt, venue, to_confirm, report)

    async def _send(
        self, attempt: str, venue: Venue, req: CancelRequest, report: CancelReport
    ) -> list[Order]:
        """Send one request; returns the orders whose fate must still be confirmed."""
        self._move(attempt, req.orders, CancelState.SENT, form=req.form.value)
        reply: CancelReply | None = None
        for tries in itertools.count():
            t0 = self._clock()
            try:
                reply = await venue.execute(req)
                break
            except RateLimited as e:
                if tries >= self._max_retries:
                    report.errors.append(str(e))
                    self._move(attempt, req.orders, CancelState.FAILED, f"rate limited: {e.venue_error or e}")
                    return []
                await self._sleep(e.retry_after if e.retry_after else self._backoff * 2**tries)
            except VenueError as e:
                report.errors.append(str(e))
                if e.effect_unknown:
                    self._move(attempt, req.orders, CancelState.UNKNOWN, str(e))
                    return list(req.orders)
                state = CancelState.REJECTED
                if isinstance(e, VenueUnavailable) or not isinstance(e, VenueRejected):
                    state = CancelState.FAILED
                self._move(attempt, req.orders, state, e.venue_error or str(e))
                return []
            except Exception as e:
                # A bug in a venue must not crash the desk nor claim anything: re-check.
                log.exception("venue %s failed on %s", venue.account_id, req.form)
                report.errors.append(f"internal error: {e!r}")
                self._move(attempt, req.orders, CancelState.UNKNOWN, f"internal error: {type(e).__name__}")
                return list(req.orders)
        assert reply is not None
        rtt = (self._clock() - t0) * 1000
        report.round_trips_ms.append(rtt)
        if reply.venue_time_in or reply.venue_time_out:
            report.venue_times.append((reply.venue_time_in, reply.venue_time_out))
        pending: list[Order] = []
        by_state: dict[tuple[CancelState, str | None], list[Order]] = {}
        for o in req.orders:
            outcome = reply.outcomes.get(o.order_id)
            if outcome is None:
                outcome = Outcome(CancelState.ACKNOWLEDGED)
            by_state.setdefault((outcome.state, outcome.reason), []).append(o)
            if not outcome.state.is_final or outcome.state is CancelState.UNKNOWN:
                pending.append(o)
        for (state, reason), orders in by_state.items():
            self._move(attempt, orders, state, reason, form=req.form.value, latency_ms=rtt)
        return pending

    async def _confirm(
        self, attempt: str, venue: Venue, orders: Sequence[Order], report: CancelReport
    ) -> None:
        # The stream may have settled some while we waited.
        waiting = [
            o
            for o in orders
            if (e := self._entries.get(o.key)) is not None
            and e.attempt == attempt
            and (e.state.is_open_attempt or e.state is CancelState.UNKNOWN)
        ]
        if not waiting:
            return
        try:
            outcomes = await venue.confirm(waiting)
        except Exception as e:
            if not isinstance(e, VenueError):
                log.exception("confirm failed on %s", venue.account_id)
            report.errors.append(f"re-check failed: {e}")
            self._move(attempt, waiting, CancelState.UNKNOWN, f"re-check failed: {e}")
            return
        groups: dict[tuple[CancelState, str | None], list[Order]] = {}
        for o in waiting:
            out = outcomes.get(o.order_id)
            if out is None:
                out = Outcome(CancelState.UNKNOWN, "venue did not say; refresh to re-check")
            groups.setdefault((out.state, out.reason), []).append(o)
        for (state, reason), group in groups.items():
            self._move(attempt, group, state, reason)

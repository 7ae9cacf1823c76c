"""The cancel coordinator: plans, sends, and settles cancels, keeping the ledger honest.

For each action: plan (app.core.plan) -> queued (audit) -> per request: waiting while a rate
limit holds it -> sent (audit, as the bytes leave) -> the venue's answer per order -> confirm what
was only counted -> settled. Orders whose ending is unknown are then re-checked in the background
until Kraken's word is known. Accounts run concurrently; requests of one account run concurrently
too (a venue that must serialize or pace, like Spot REST's nonces and Kraken's counters, does it
itself and tells the ledger through a ``SendObserver``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.core.errors import RateLimited, VenueError, VenueRejected, VenueUnavailable
from app.core.events import Event
from app.core.ledger import CancelState, Outcome, can_move
from app.core.orders import Order, OrderKey
from app.core.plan import CancelIntent, CancelRequest, Plan, RequestForm, Scope, plan_cancel
from app.desk.audit import AuditLog, Transition
from app.desk.store import OrderStore
from app.desk.timing import Clock, Sleep, WakeWait, wait_for_wake
from app.venues.base import CancelReply, Venue

log = logging.getLogger("app.desk.coordinator")

T = TypeVar("T")

GONE_STATES = frozenset({CancelState.CANCELLED, CancelState.ALREADY_GONE, CancelState.FILLED})
URGENT_SCOPES = frozenset({Scope.ACCOUNT, Scope.EVERYTHING})  # cancel-all and the kill switch
RATE_LIMIT_TRIES = 30  # a request refused for a rate limit this often in a row ends failed
RECHECK_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # then every 30 s until known


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The latest ledger state of one order.

    ``after_unknown`` marks an attempt queued while the previous one's ending was unknown: if
    this one fails or is refused, what the earlier one did is still unknown (facts win).
    """

    attempt: str
    order: Order
    state: CancelState
    reason: str | None
    at: float
    latency_ms: float | None = None
    after_unknown: bool = False


@dataclass(frozen=True, slots=True)
class ActionProgress:
    """How far one cancel action is, for the window's progress line.

    Attributes:
        attempt: the action's id.
        intent: what the trader asked, in words.
        total: orders the action tracks.
        done: orders with a final state.
        waiting: orders held back by a rate limit.
        eta_s: the longest wait a rate limit announced, if any.
    """

    attempt: str
    intent: str
    total: int
    done: int
    waiting: int
    eta_s: float | None = None


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
    rate_waits: int = 0  # times a request of this action waited for a rate limit
    rate_refusals: int = 0  # times Kraken answered a request of this action with a rate limit
    unlisted_cancelled: int = 0  # cancel-all counted more than the orders the console knew of

    def summary(self) -> str:
        """e.g. ``cancelled 10, already gone 1, failed 2``."""
        parts = [f"{state.value} {n}" for state, n in sorted(self.counts.items()) if n]
        if self.unlisted_cancelled:
            parts.append(f"{self.unlisted_cancelled} more not yet listed (cancel-all)")
        return ", ".join(parts) if parts else "nothing to cancel"


async def _all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run coroutines concurrently; a single one runs in this task, without a loop turn."""
    pending = list(coros)
    if len(pending) == 1:
        return [await pending[0]]
    return list(await asyncio.gather(*pending))


class _Observer:
    """What one request's venue tells the ledger while it is on its way (a ``SendObserver``)."""

    __slots__ = ("_attempt", "_coordinator", "_form", "_orders", "_report", "sent_called")

    def __init__(
        self, coordinator: CancelCoordinator, attempt: str, req: CancelRequest, report: CancelReport
    ) -> None:
        self._coordinator = coordinator
        self._attempt = attempt
        self._orders = req.orders
        self._form = req.form.value
        self._report = report
        self.sent_called = False

    def waiting(self, seconds: float, why: str) -> None:
        self._report.rate_waits += 1
        self._coordinator._wait_for(self._attempt, self._orders, seconds, why)

    def sent(self) -> None:
        if not self.sent_called:
            self.sent_called = True
            self._coordinator._move(self._attempt, self._orders, CancelState.SENT, form=self._form)


class CancelCoordinator:
    """Runs cancel actions against the desk's venues, and keeps re-checking what is unknown.

    Events:
        transitioned(list[LedgerEntry]): orders moved in the ledger (batched per step).
        progressed(ActionProgress): an action moved on (orders done, waiting, the wait's ETA).
        settled(CancelReport): an action finished (orders still unknown are re-checked after).

    Rules:
    - ``cancelled`` only when the venue said so for that order, or its stream removed it with a
      cancel reason; a bare count is confirmed per order;
    - ``failed`` only when nothing was applied; a timeout, a dropped connection or a gateway
      error is ``unknown`` and re-checked with back-off until Kraken's word is known, also after
      a reconnect (``kick``); every re-check is audited;
    - facts win: an order proven gone never comes back (``OrderStore.remove(proven=True)``), a
      failed re-send of an ``unknown`` order stays unknown, an order in flight is never sent
      again whatever the scope asked;
    - a rate limit holds requests in ``waiting`` with Kraken's or the model's ETA, never fails
      them while the limit is the reason; cancel-all and the kill switch take the emergency lane;
    - every transition is in the audit log, ``sent`` as the bytes leave.
    """

    def __init__(
        self,
        store: OrderStore,
        venues: Mapping[str, Venue],
        audit: AuditLog,
        *,
        max_retries: int = RATE_LIMIT_TRIES,
        backoff_s: float = 0.25,
        recheck_delays_s: Sequence[float] = RECHECK_DELAYS_S,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        recheck_wait: WakeWait = wait_for_wake,
    ) -> None:
        """Make a coordinator over the desk's store, venues and audit log.

        Args:
            store: the live order store (gone orders leave it, outcomes are shown in it).
            venues: each connected account's venue, by account id (read at each cancel).
            audit: where every action and transition is written.
            max_retries: how many rate-limit refusals in a row a request may get before it ends
                failed (nothing applied).
            backoff_s: the first wait after a rate-limit refusal that names no wait; doubles (to 30 s).
            recheck_delays_s: waits between re-checks of unknown orders (the last one repeats).
            clock: monotonic seconds, for latencies and round trips.
            wall_clock: epoch seconds, for attempt ids and ledger entry times.
            sleep: how waits are spent (``asyncio.sleep``).
            recheck_wait: how the re-checks of unknown orders wait between rounds (cut short by
                ``kick``).
        """
        self._store = store
        self._venues = venues
        self._audit = audit
        self._max_retries = max_retries
        self._backoff = backoff_s
        self._recheck_delays = tuple(recheck_delays_s) or RECHECK_DELAYS_S
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._recheck_wait = recheck_wait
        self._ids = itertools.count(1)
        # Set by the composition root (e.g. "3fa9-"): keeps attempt ids unique across runs, such
        # as two command-line runs in the same second writing to one audit log.
        self.session = ""
        self._entries: dict[OrderKey, LedgerEntry] = {}
        self._actions: dict[str, _Action] = {}
        self._to_show: list[tuple[str, list[LedgerEntry]]] = []
        self._show_scheduled = False
        self._resolvers: dict[str, asyncio.Task[None]] = {}
        self._kicks: dict[str, asyncio.Event] = {}
        self.transitioned: Event[list[LedgerEntry]] = Event("cancel_transitioned")
        self.progressed: Event[ActionProgress] = Event("cancel_progressed")
        self.settled: Event[CancelReport] = Event("cancel_settled")

    def adopt_unknown(self, adopted: Iterable[tuple[str, Order]], reason: str) -> list[LedgerEntry]:
        """Take over orders an earlier session left unsettled, as ``unknown`` under their old
        attempt ids (audited); they are re-checked like every unknown order (``app.desk.reconcile``)."""
        now = self._wall_clock()
        entries = [
            LedgerEntry(attempt, o, CancelState.UNKNOWN, reason, now)
            for attempt, o in adopted
            if o.key not in self._entries
        ]
        self._entries.update((e.order.key, e) for e in entries)
        if entries:
            self._audit.record(Transition(e.attempt, e.order, e.state, e.reason) for e in entries)
            self.transitioned.emit(entries)
            for account_id in {e.order.account_id for e in entries}:
                self._start_resolver(account_id)
        return entries

    def entry(self, key: OrderKey) -> LedgerEntry | None:
        """The latest ledger entry of an order."""
        return self._entries.get(key)

    def entries(self) -> list[LedgerEntry]:
        """The latest ledger entry of every order the console tried to cancel this session."""
        return list(self._entries.values())

    def _in_flight(self, key: OrderKey) -> bool:
        e = self._entries.get(key)
        return e is not None and e.state.is_open_attempt

    def held_keys(self, account_id: str) -> set[OrderKey]:
        """Orders a listing must not drop silently: in flight, or their ending is unknown."""
        return {
            k
            for k, e in self._entries.items()
            if k[0] == account_id and (e.state.is_open_attempt or e.state is CancelState.UNKNOWN)
        }

    def unknown(self, account_id: str | None = None) -> list[LedgerEntry]:
        """Entries whose ending is unknown (being re-checked)."""
        return [
            e
            for k, e in self._entries.items()
            if e.state is CancelState.UNKNOWN and (account_id is None or k[0] == account_id)
        ]

    def plan(self, intent: CancelIntent) -> Plan:
        """The requests an intent would send now (for confirmations: how many, where).

        Orders already being cancelled are left out whatever the scope: never sent twice.
        """
        limits = {aid: v.capabilities.limits for aid, v in self._venues.items()}
        if intent.scope is Scope.ORDERS:
            fresh = tuple(o for o in intent.orders if not self._in_flight(o.key))
            return plan_cancel(CancelIntent(Scope.ORDERS, fresh), {}, limits)
        book = {
            aid: [o for o in orders if not self._in_flight(o.key)]
            for aid, orders in self._store.by_account().items()
        }
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
        show_later: bool = False,
    ) -> list[LedgerEntry]:
        now = self._wall_clock()
        after_send = state is CancelState.SENT
        moved: list[LedgerEntry] = []
        for order in orders:
            old = self._entries.get(order.key)
            old_state: CancelState | None
            after_unknown = False
            if state is CancelState.QUEUED:
                # A new attempt starts fresh, unless one is still in flight (never double up).
                old_state = old.state if old is not None and old.state.is_open_attempt else None
                after_unknown = old is not None and old.state is CancelState.UNKNOWN
            elif old is None or old.attempt != attempt:
                continue  # only the attempt that queued an order may move it
            else:
                old_state = old.state
                after_unknown = old.after_unknown
            new_state, new_reason = state, reason
            if after_unknown and state in (CancelState.FAILED, CancelState.REJECTED):
                # This re-send failed, but what the earlier request did is still unknown.
                new_state = CancelState.UNKNOWN
                new_reason = f"still unknown: the new attempt {state.value} ({reason})"
            if not can_move(old_state, new_state):
                continue
            entry = LedgerEntry(attempt, order, new_state, new_reason, now, latency_ms, after_unknown)
            self._tally(old, attempt, new_state)
            self._entries[order.key] = entry
            moved.append(entry)
        if not moved:
            return moved
        rows = (Transition(attempt, e.order, e.state, e.reason, form, latency_ms) for e in moved)
        if state is CancelState.QUEUED:
            self._audit.record(rows)  # the write-ahead: on disk before any byte of the request leaves
        else:
            # Every later move is written on the next loop turn, in one transaction with the
            # others of that turn and in the order the log is told: "sent" once the request is
            # handed to the socket, a stream's hundreds of endings in one commit, not one each
            # (bench 2: the kill switch's commits were a fifth of its time). A crash in between
            # loses no truth: the order's last row on disk is then in flight, and re-checked.
            self._audit.record_soon(rows)
        self._show(attempt, moved, later=after_send or show_later)
        if any(e.state is CancelState.UNKNOWN for e in moved):
            for account_id in {e.order.account_id for e in moved if e.state is CancelState.UNKNOWN}:
                self._start_resolver(account_id)
        return moved

    def _tally(self, old: LedgerEntry | None, attempt: str, new: CancelState) -> None:
        """Keep the running actions' progress counts (see ``_Action``) as one order moves."""
        if old is not None and old.attempt != attempt:
            earlier = self._actions.get(old.attempt)
            if earlier is not None:
                earlier.leave(old.state)
            old = None
        action = self._actions.get(attempt)
        if action is not None:
            action.move(old.state if old is not None else None, new)

    def _show(self, attempt: str, moved: list[LedgerEntry], *, later: bool) -> None:
        """Tell the store, the listeners and the progress line; on the next loop turn if ``later``
        (a cancel's first bytes leave before a thousand rows are repainted) or if something is
        already waiting to be shown (they are shown in the order they happened)."""
        if later or self._to_show:
            self._to_show.append((attempt, moved))
            if not self._show_scheduled:
                self._show_scheduled = True
                try:
                    asyncio.get_running_loop().call_soon(self.show_pending)
                except RuntimeError:  # no loop (a synchronous caller): show now
                    self.show_pending()
            return
        self._display(moved)
        self._progress(attempt)

    def show_pending(self) -> None:
        """Show every ledger move held back for the next loop turn, in order."""
        self._show_scheduled = False
        pending, self._to_show = self._to_show, []
        attempts: dict[str, None] = {}
        for attempt, moved in pending:
            self._display(moved)
            attempts[attempt] = None
        for attempt in attempts:
            self._progress(attempt)

    def _display(self, moved: list[LedgerEntry]) -> None:
        by_state: dict[tuple[CancelState, str | None], list[OrderKey]] = {}
        for e in moved:
            by_state.setdefault((e.state, e.reason), []).append(e.order.key)
        for (st, why), keys in by_state.items():
            if st in GONE_STATES:
                self._store.remove(keys, proven=True)
            else:
                self._store.set_outcomes({k: Outcome(st, why) for k in keys})
        self.transitioned.emit(moved)

    def _wait_for(self, attempt: str, orders: Sequence[Order], seconds: float, why: str) -> None:
        action = self._actions.get(attempt)
        if action is not None:
            action.eta_until = max(action.eta_until, self._clock() + seconds)
        self._move(attempt, orders, CancelState.WAITING, f"waiting: {why}, ~{math.ceil(seconds)} s")

    def _progress(self, attempt: str) -> None:
        action = self._actions.get(attempt)
        if action is None:
            return
        done, waiting = action.done, action.waiting
        eta = action.eta_until - self._clock() if waiting and action.eta_until else None
        progress = ActionProgress(attempt, action.intent, len(action.keys), done, waiting, eta)
        if progress != action.last:
            action.last = progress
            self.progressed.emit(progress)

    def observe_removal(self, order: Order, outcome: Outcome) -> None:
        """A stream or listing says an order left the book, and why (see ``observe_removals``)."""
        self.observe_removals([(order, outcome)])

    def observe_removals(self, removed: Iterable[tuple[Order, Outcome]]) -> None:
        """A stream says orders left the book, and why.

        Orders being cancelled (or whose cancel ended unknown) are settled by the stream's word:
        only a cancel reason gives ``cancelled``; a fill after ``cancelled`` is recorded (facts
        win). Alike moves are written together (a kill switch's stream removes a thousand orders
        in a few bursts: one audit transaction each, not one per order).
        """
        groups: dict[tuple[str, CancelState, str | None], list[Order]] = {}
        for order, outcome in removed:
            entry = self._entries.get(order.key)
            if entry is None:
                continue
            settles = entry.state.is_open_attempt or entry.state is CancelState.UNKNOWN
            late_fill = entry.state is CancelState.CANCELLED and outcome.state is CancelState.FILLED
            if not (settles or late_fill):
                continue
            state, reason = outcome.state, outcome.reason
            if entry.state in (CancelState.QUEUED, CancelState.WAITING) and state is CancelState.CANCELLED:
                # Cancelled before our request left: not by us. It is gone, no more.
                state, reason = (
                    CancelState.ALREADY_GONE,
                    f"cancelled before our request left ({reason or 'no reason'})",
                )
            groups.setdefault((entry.attempt, state, reason), []).append(entry.order)
        for (attempt, state, reason), orders in groups.items():
            self._move(attempt, orders, state, reason)

    # --- actions ----------------------------------------------------------------------------

    async def cancel(self, intent: CancelIntent, plan: Plan | None = None) -> CancelReport:
        """Cancel what ``intent`` names and settle every order truthfully.

        Args:
            intent: what the trader asked for.
            plan: a plan made a moment ago (shown in a confirmation); made now if None.

        Returns:
            The report; it never raises for venue failures (they become outcomes). Orders still
            unknown when it returns are re-checked in the background.
        """
        plan = plan if plan is not None else self.plan(intent)
        attempt = f"A{int(self._wall_clock())}-{self.session}{next(self._ids)}"
        report = CancelReport(attempt, intent.describe(), len(plan.requests), plan.order_count)
        urgent = intent.scope in URGENT_SCOPES
        t0 = self._clock()
        tracked = [o for req in plan.requests for o in req.orders]
        self._actions[attempt] = _Action(report.intent, [o.key for o in tracked])
        self._audit.begin_action(attempt, report.intent, report.requests, report.orders)
        try:
            # One transaction for the whole action (the request form is recorded at "sent"): the
            # write-ahead. Showing it waits for the next loop turn, after the first bytes left.
            queued = self._move(attempt, tracked, CancelState.QUEUED, show_later=True)
            # An order another attempt still has in flight is not queued again: not ours to wait for.
            self._actions[attempt].done += len(tracked) - len(queued)

            # Awaited directly when there is one of a kind: a gather wraps each coroutine in a
            # task that starts only on the next loop turn, and in a GUI that turn may be a whole
            # repaint before the first byte leaves (bench: key press to wire).
            per_account = plan.by_account()
            await _all(
                self._run_account(attempt, aid, reqs, report, urgent) for aid, reqs in per_account.items()
            )
        except asyncio.CancelledError:
            self._interrupted(attempt, tracked)
            raise
        finally:
            self.show_pending()  # while the action is known: its last progress is shown
            self._actions.pop(attempt, None)
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

    def _interrupted(self, attempt: str, orders: Sequence[Order]) -> None:
        """The action was cancelled mid-way (the console closing, a caller's deadline): nothing is
        left half-said. What never left failed (nothing was applied); what left is unknown and
        re-checked like any unknown order, never left "sent" or "acknowledged" for good."""
        unsent: list[Order] = []
        sent: list[Order] = []
        for o in orders:
            e = self._entries.get(o.key)
            if e is None or e.attempt != attempt or not e.state.is_open_attempt:
                continue
            (unsent if e.state in (CancelState.QUEUED, CancelState.WAITING) else sent).append(o)
        if unsent:
            self._move(attempt, unsent, CancelState.FAILED, "interrupted before it was sent")
        if sent:
            self._move(attempt, sent, CancelState.UNKNOWN, "interrupted after it was sent; re-checking")

    async def _run_account(
        self,
        attempt: str,
        account_id: str,
        requests: Sequence[CancelRequest],
        report: CancelReport,
        urgent: bool,
    ) -> None:
        venue = self._venues.get(account_id)
        if venue is None:
            for req in requests:
                self._move(attempt, req.orders, CancelState.FAILED, "account not connected")
            return
        results = await _all(self._send(attempt, venue, req, report, urgent) for req in requests)
        to_confirm = [o for pending in results for o in pending]
        await self._confirm(attempt, venue, to_confirm, report)

    async def _send(
        self, attempt: str, venue: Venue, req: CancelRequest, report: CancelReport, urgent: bool
    ) -> list[Order]:
        """Send one request; returns the orders whose fate must still be confirmed."""
        reply: CancelReply | None = None
        for tries in itertools.count():
            observer = _Observer(self, attempt, req, report)
            t0 = self._clock()
            try:
                reply = await venue.execute(req, urgent=urgent, observer=observer)
                break
            except RateLimited as e:
                # Kraken refused it for a rate limit: nothing was applied. Wait, then send again.
                report.rate_refusals += 1
                if tries + 1 >= self._max_retries:
                    report.errors.append(str(e))
                    why = f"rate limited {tries + 1} times: {e.venue_error or e}"
                    self._move(attempt, req.orders, CancelState.FAILED, why)
                    return []
                wait = e.retry_after if e.retry_after else min(30.0, self._backoff * 2 ** min(tries, 8))
                observer.waiting(wait, f"Kraken's rate limit ({e.venue_error or e})")
                await self._sleep(wait)
            except VenueError as e:
                report.errors.append(str(e))
                if e.effect_unknown:
                    observer.sent()  # the venue may have written it without saying so
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
                observer.sent()
                self._move(attempt, req.orders, CancelState.UNKNOWN, f"internal error: {type(e).__name__}")
                return list(req.orders)
        assert reply is not None
        observer.sent()  # for a venue that answered without saying when it sent
        rtt = (self._clock() - t0) * 1000
        report.round_trips_ms.append(rtt)
        if reply.venue_time_in or reply.venue_time_out:
            report.venue_times.append((reply.venue_time_in, reply.venue_time_out))
        if req.form in (RequestForm.ALL, RequestForm.ALL_FOR_SYMBOL) and reply.count is not None:
            # Kraken ended orders no listing had shown yet (placed since): count them, never
            # "nothing to cancel" after a cancel-all that cancelled.
            known = {o.order_id for o in req.orders}
            named = sum(1 for oid in reply.outcomes if oid not in known)
            report.unlisted_cancelled += max(named, reply.count - len(req.orders), 0)
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
        self._apply_confirm(attempt, waiting, outcomes, "venue did not say; re-checking")

    def _apply_confirm(
        self, attempt: str | None, orders: Sequence[Order], outcomes: Mapping[str, Outcome], unsaid: str
    ) -> None:
        groups: dict[tuple[str, CancelState, str | None], list[Order]] = {}
        for o in orders:
            e = self._entries.get(o.key)
            if e is None or (attempt is not None and e.attempt != attempt):
                continue
            out = outcomes.get(o.order_id) or Outcome(CancelState.UNKNOWN, unsaid)
            groups.setdefault((e.attempt, out.state, out.reason), []).append(o)
        for (att, state, reason), group in groups.items():
            self._move(att, group, state, reason)

    # --- unknown endings, re-checked until known -------------------------------------------

    def kick(self, account_id: str) -> None:
        """Re-check the account's unknown orders now (it reconnected, or was listed afresh)."""
        kick = self._kicks.get(account_id)
        if kick is not None:
            kick.set()

    def _start_resolver(self, account_id: str) -> None:
        task = self._resolvers.get(account_id)
        if task is None or task.done():
            self._kicks[account_id] = asyncio.Event()
            self._resolvers[account_id] = asyncio.create_task(
                self._resolve(account_id), name=f"recheck-{account_id}"
            )

    async def _resolve(self, account_id: str) -> None:
        """Re-check the account's unknown orders with back-off until none is left."""
        rounds = 0
        kick = self._kicks[account_id]
        while True:
            delay = self._recheck_delays[min(rounds, len(self._recheck_delays) - 1)]
            await self._recheck_wait(kick, delay)
            kick.clear()  # after the wait: a kick that came before it still cuts it short
            entries = [e for e in self.unknown(account_id) if not self._in_action(e.attempt)]
            if not self.unknown(account_id):
                return
            rounds += 1
            venue = self._venues.get(account_id)
            if venue is None or not entries:
                continue
            orders = [e.order for e in entries]
            try:
                outcomes = await venue.confirm(orders)
            except RateLimited as e:
                self._recheck_note(entries, f"re-check {rounds} rate limited ({e.venue_error or e})")
                if e.retry_after:
                    await self._sleep(e.retry_after)
                continue
            except Exception as e:
                if not isinstance(e, VenueError):
                    log.exception("re-check of %s failed", account_id)
                self._recheck_note(entries, f"re-check {rounds} failed: {e}")
                continue
            self._apply_confirm(None, orders, outcomes, f"re-check {rounds}: Kraken did not say yet")

    def _in_action(self, attempt: str) -> bool:
        return attempt in self._actions  # the action confirms its own orders first

    def _recheck_note(self, entries: Sequence[LedgerEntry], reason: str) -> None:
        """Audit a re-check that learned nothing (the order stays unknown)."""
        by_attempt: dict[str, list[Order]] = {}
        for e in entries:
            by_attempt.setdefault(e.attempt, []).append(e.order)
        for attempt, orders in by_attempt.items():
            self._move(attempt, orders, CancelState.UNKNOWN, reason)

    async def aclose(self) -> None:
        """Stop the background re-checks (unknown orders stay unknown in the ledger and audit)."""
        tasks = list(self._resolvers.values())
        self._resolvers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(slots=True)
class _Action:
    """What the coordinator tracks of an action while it runs (for its progress).

    ``done`` and ``waiting`` are kept as the ledger moves (``_tally``), never recounted: a
    10,000-order action moves in hundreds of steps, and recounting each time was O(orders) a step
    (the kill switch spent a third of its time there, bench 2).
    """

    intent: str
    keys: list[OrderKey]
    eta_until: float = 0.0
    last: ActionProgress | None = None
    done: int = 0  # orders with a final state, or that a later attempt took over
    waiting: int = 0  # orders held back by a rate limit

    def move(self, old: CancelState | None, new: CancelState) -> None:
        """One of its orders went from ``old`` (None: not yet in this action) to ``new``."""
        if old is not None:
            self.done -= old.is_final
            self.waiting -= old is CancelState.WAITING
        self.done += new.is_final
        self.waiting += new is CancelState.WAITING

    def leave(self, old: CancelState) -> None:
        """A later attempt took one of its orders over: not this action's to wait for."""
        self.move(old, CancelState.CANCELLED)  # counted as done, whatever the later attempt does

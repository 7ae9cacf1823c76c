"""The desk: accounts, their venues, the live order store, cancels and the dead man's switch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from app.core.accounts import AccountSpec, KeyCheck, LinkState
from app.core.errors import AuthError, PermissionDenied, VenueError
from app.core.events import Event
from app.core.ledger import CancelState, Outcome
from app.core.orders import Order, OrderKey, VenueKind
from app.core.plan import CancelIntent, Plan
from app.desk.audit import AuditLog
from app.desk.coalesce import Replace, StreamCoalescer
from app.desk.coordinator import CancelCoordinator, CancelReport
from app.desk.deadman import DeadmanManager
from app.desk.killswitch import DEFAULT_HOLD_S, KillSwitch
from app.desk.store import OrderStore
from app.desk.timing import Clock, Sleep, WakeWait, wait_for_wake
from app.venues.base import StreamEvent, Venue, VenueStatus, retry_in_s

log = logging.getLogger("app.desk")

STREAM_BATCH_S = 0.003  # how long stream events may wait to be applied together
DOWN_AFTER_S = 60.0  # a link reconnecting this long is shown down (red), still retried
STATUS_EVERY_S = 60.0  # how often Kraken's own status is asked per account


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """What the sidebar shows for one account.

    Attributes:
        link: the connection's state; ``detail`` says why.
        open_orders: rows the table holds for the account.
        last_update: when the store last changed for the account (unix seconds).
        since: when ``link`` last changed (unix seconds).
        live_at: when the account's orders were last known live: the stream was up, or a
            listing came in (the table's "as of" for stale rows).
        retry_at: when the next reconnect is due (unix seconds), while reconnecting.
        kraken: Kraken's own status for the venue (maintenance, cancel_only...), if known.
    """

    account_id: str
    name: str
    venue: VenueKind
    link: LinkState
    detail: str = ""
    open_orders: int = 0
    last_update: float | None = None
    since: float | None = None
    live_at: float | None = None
    retry_at: float | None = None
    kraken: VenueStatus | None = None
    can_cancel: bool | None = None  # the key probe's word: False = it can list but not cancel

    @property
    def stale(self) -> bool:
        """True when the rows shown may be out of date (the link is neither live nor polling)."""
        return self.link not in (LinkState.LIVE, LinkState.POLLING)


@dataclass(frozen=True, slots=True)
class OutsideChange:
    """An order filled, partly filled, cancelled or expired by something other than the console.

    ``what`` is ``filled``, ``partially filled``, ``cancelled``, ``expired`` or ``gone``;
    ``reason`` is the venue's words (e.g. ``dead_man_switch``).
    """

    account_id: str
    order: Order
    what: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AwayReport:
    """What changed on an account while its link was down, said once it is back."""

    account_id: str
    away_s: float
    appeared: int
    gone: int
    filled: int = 0
    cancelled: int = 0
    unknown: int = 0
    deadman_fired_at: float | None = None  # Kraken's dead man's switch ran out while away

    def summary(self) -> str:
        """e.g. ``while away (2 min): 3 new, 5 gone (4 filled, 1 cancelled)``."""
        minutes = self.away_s / 60
        away = f"{self.away_s:.0f} s" if self.away_s < 120 else f"{minutes:.0f} min"
        parts = [f"{self.appeared} new", f"{self.gone} gone"]
        if self.gone:
            detail = [
                f"{n} {w}"
                for n, w in (
                    (self.filled, "filled"),
                    (self.cancelled, "cancelled"),
                    (self.unknown, "not known why"),
                )
                if n
            ]
            if detail:
                parts[-1] += f" ({', '.join(detail)})"
        if self.deadman_fired_at is not None:
            at = time.strftime("%H:%M:%S", time.localtime(self.deadman_fired_at))
            parts.append(f"Kraken's dead man's switch fired at {at}")
        return f"while away ({away}): {', '.join(parts)}"


class Desk:
    """The orchestrator. asyncio only; knows nothing of Qt.

    Events:
        account_changed(AccountStatus): an account was added, changed state, or its count moved.
        account_removed(str): an account was removed.
        venue_problem((account_id, text)): a venue skipped something it could not read (a
            malformed order in a listing or stream); the rest of the account goes on.
        outside_change(OutsideChange): an order filled or left the book by something other
            than the console (another tool, Kraken, the dead man's switch).
        recovered(AwayReport): an account is back after its link was down, with what changed.
        kill_started(KillSwitch): the kill switch was pressed (watch its ``changed``).

    Rules: each account gets one task that keeps its orders current (the venue's stream, or a
    poll every ``poll_interval_s``); a failing venue is shown as down with the reason and retried,
    never crashing the desk; after a cancel the touched polled accounts are refreshed at once.
    While a stream is down its account is listed over REST where the venue can (Spot, Futures);
    rows of an account that is neither live nor listed are stale and say since when; a link
    reconnecting longer than ``DOWN_AFTER_S`` is shown down; F5 cuts every reconnect wait short;
    Kraken's own status is asked every ``STATUS_EVERY_S``.
    """

    def __init__(
        self,
        audit: AuditLog,
        *,
        poll_interval_s: float = 2.0,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        poll_wait: WakeWait = wait_for_wake,
    ) -> None:
        """Make an empty desk.

        Args:
            audit: where every cancel action and ledger transition is written.
            poll_interval_s: how often accounts without a live stream are listed.
            clock: monotonic seconds, for cancel latencies.
            wall_clock: epoch seconds, for timestamps (ledger entries, attempt ids, last update).
            sleep: how the coordinator's retries and the dead man's switch refreshes wait.
            poll_wait: how the poll loop waits for its next listing (or for F5).
        """
        self.store = OrderStore()
        self.audit = audit
        self.venues: dict[str, Venue] = {}
        self.specs: dict[str, AccountSpec] = {}
        self.status: dict[str, AccountStatus] = {}
        self.coordinator = CancelCoordinator(
            self.store,
            self.venues,
            audit,
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            recheck_wait=poll_wait,
        )
        self.key_checks: dict[str, KeyCheck] = {}  # each account's last key probe
        self.deadman = DeadmanManager(self.venues, sleep=sleep, left_out=self._left_out)
        self.poll_interval_s = poll_interval_s
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._background: set[asyncio.Future[None]] = set()
        self._poll_wait = poll_wait
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self.account_changed: Event[AccountStatus] = Event("account_changed")
        self.account_removed: Event[str] = Event("account_removed")
        self.venue_problem: Event[tuple[str, str]] = Event("venue_problem")
        self.outside_change: Event[OutsideChange] = Event("outside_change")
        self.recovered: Event[AwayReport] = Event("recovered")
        self.kill_started: Event[KillSwitch] = Event("kill_started")
        self.kill: KillSwitch | None = None  # the last kill switch pressed
        self._away: dict[str, float] = {}  # account -> when its link stopped being live
        self._away_rows: dict[str, dict[OrderKey, Order]] = {}  # account -> its rows at that moment
        self._fallback: dict[str, asyncio.Task[None]] = {}
        self._status_tasks: dict[str, asyncio.Task[None]] = {}
        self._status_wake: dict[str, asyncio.Event] = {}
        self._unhook: dict[str, Callable[[], None]] = {}
        self.store.inserted.connect(lambda orders: self._recount({o.account_id for o in orders}))
        self.store.removed.connect(lambda keys: self._recount({k[0] for k in keys}))

    # --- accounts ---------------------------------------------------------------------------

    def add_account(self, spec: AccountSpec, venue: Venue) -> None:
        """Connect an account: its orders start flowing into the store."""
        if spec.account_id in self.venues:
            raise ValueError(f"account {spec.account_id!r} is already connected")
        self.specs[spec.account_id] = spec
        self.venues[spec.account_id] = venue
        check = self.key_checks.get(spec.account_id)
        self._set_status(
            AccountStatus(
                spec.account_id,
                spec.name,
                spec.venue,
                LinkState.CONNECTING,
                "connecting",
                can_cancel=check.can_cancel if check else None,
            )
        )
        self._wake[spec.account_id] = asyncio.Event()
        account_id = spec.account_id
        self._unhook[account_id] = venue.problems.connect(
            lambda text: self.venue_problem.emit((account_id, text))
        )
        self._tasks[spec.account_id] = asyncio.create_task(
            self._keep_current(spec.account_id, venue), name=f"orders-{spec.account_id}"
        )
        self._status_tasks[account_id] = asyncio.create_task(
            self._watch_kraken(account_id, venue), name=f"kraken-status-{account_id}"
        )

    def set_key_check(self, account_id: str, check: KeyCheck) -> None:
        """Keep an account's key probe: a key that cannot cancel is shown so and left out of
        the kill switch and the dead man's switch."""
        self.key_checks[account_id] = check
        st = self.status.get(account_id)
        if st is not None:
            self._set_status(replace(st, can_cancel=check.can_cancel))

    def cancel_account_ids(self) -> tuple[str, ...]:
        """Connected accounts whose key may cancel (or was not found unable to)."""
        return tuple(a for a in self.venues if self._left_out(a) is None)

    def _left_out(self, account_id: str) -> str | None:
        check = self.key_checks.get(account_id)
        return "its key cannot cancel" if check is not None and check.list_only else None

    def report_problem(self, spec: AccountSpec, detail: str) -> None:
        """Show an account that could not be connected (e.g. its key is unreadable) as down."""
        self.specs.setdefault(spec.account_id, spec)
        self._set_status(AccountStatus(spec.account_id, spec.name, spec.venue, LinkState.DOWN, detail))

    async def remove_account(self, account_id: str) -> None:
        """Disconnect an account and forget its orders."""
        tasks = [
            t
            for t in (
                self._tasks.pop(account_id, None),
                self._fallback.pop(account_id, None),
                self._status_tasks.pop(account_id, None),
            )
            if t is not None
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._away.pop(account_id, None)
        self._away_rows.pop(account_id, None)
        venue = self.venues.pop(account_id, None)
        unhook = self._unhook.pop(account_id, None)
        if unhook is not None:
            unhook()
        if venue is not None:
            await venue.aclose()
        self.specs.pop(account_id, None)
        self.key_checks.pop(account_id, None)
        self.status.pop(account_id, None)
        self._wake.pop(account_id, None)
        self.store.drop_account(account_id)
        self.account_removed.emit(account_id)

    def _set_status(self, status: AccountStatus) -> None:
        if self.status.get(status.account_id) != status:
            self.status[status.account_id] = status
            self.account_changed.emit(status)

    def _link(self, account_id: str, link: LinkState, detail: str) -> None:
        st = self.status.get(account_id)
        if st is None:
            return
        now = self._wall_clock()
        since = st.since if st.link is link and st.since is not None else now
        live_at = now if link in (LinkState.LIVE, LinkState.POLLING) else st.live_at
        wait = retry_in_s(detail) if link is LinkState.RECONNECTING else None
        retry_at = now + wait if wait is not None else None
        if link is LinkState.RECONNECTING:
            # Reconnecting for long is down: red, with how long, still retried.
            gone_since = self._away.get(account_id, now)
            if now - gone_since >= DOWN_AFTER_S:
                link = LinkState.DOWN  # for how long: ``since``, so the window's count ticks
                since = gone_since
        self._set_status(
            replace(st, link=link, detail=detail, since=since, live_at=live_at, retry_at=retry_at)
        )

    def _recount(self, account_ids: set[str]) -> None:
        # O(1) per account: the store keeps its counts, so a stream of single removals on a
        # 10,000-order book does not rescan the book each time.
        for aid in account_ids:
            st = self.status.get(aid)
            if st is not None:
                self._set_status(
                    replace(st, open_orders=self.store.count(aid), last_update=self._wall_clock())
                )

    # --- keeping orders current ---------------------------------------------------------------

    async def _keep_current(self, account_id: str, venue: Venue) -> None:
        if venue.capabilities.streaming:
            await self._stream(account_id, venue)
        else:
            await self._poll(account_id, venue)

    async def _poll(self, account_id: str, venue: Venue) -> None:
        backoff = self.poll_interval_s
        wake = self._wake[account_id]
        while True:
            try:
                orders = await venue.list_open_orders()
            except (AuthError, PermissionDenied) as e:
                self._went_away(account_id)
                self._link(account_id, LinkState.DOWN, f"{e}: fix the key in Accounts")
                backoff = min(backoff * 2, 60.0)
            except VenueError as e:
                self._went_away(account_id)
                self._link(account_id, LinkState.DOWN, str(e))
                backoff = min(backoff * 2, 30.0)
            except Exception as e:
                log.exception("listing %s failed", account_id)
                self._went_away(account_id)
                self._link(account_id, LinkState.DOWN, f"internal error: {type(e).__name__}")
                backoff = min(backoff * 2, 30.0)
            else:
                backoff = self.poll_interval_s
                before = None if account_id in self._away else self._rows_of(account_id)
                self._apply_listing(account_id, orders, live=True)
                if before is not None:
                    self._changed_between_polls(account_id, before, orders)
                self._link(account_id, LinkState.POLLING, f"polled every {self.poll_interval_s:g} s")
            wake.clear()
            await self._poll_wait(wake, backoff)

    def _rows_of(self, account_id: str) -> dict[OrderKey, Order]:
        return {o.key: o for o in self.store.orders(account_id)}

    def _changed_between_polls(
        self, account_id: str, before: dict[OrderKey, Order], orders: Sequence[Order]
    ) -> None:
        """Say what changed between two listings of a polled account that the console did not do.

        A listing shows a partial fill (``filled`` grew) but cannot say why an order left: those
        are asked of the venue (``confirm``), as after an outage, never guessed.
        """
        fresh: set[OrderKey] = set()
        for order in orders:
            fresh.add(order.key)
            old = before.get(order.key)
            if old is not None and order.filled > old.filled:
                self.outside_change.emit(OutsideChange(account_id, order, "partially filled"))
        gone = [o for k, o in before.items() if k not in fresh and not self._settled_by_us(k)]
        if gone:
            task = asyncio.ensure_future(self._explain_gone(account_id, gone))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _explain_gone(self, account_id: str, gone: Sequence[Order]) -> None:
        """Ask the venue why orders left a polled account, and say so (``gone`` when not known)."""
        venue = self.venues.get(account_id)
        outcomes: dict[str, Outcome] = {}
        if venue is not None:
            try:
                outcomes = await venue.confirm(gone)
            except Exception as e:  # a failed look-up leaves "not known why", never a guess
                log.info("why orders left %s: %s", account_id, e)
        self._removed_outside(
            [
                (o, outcomes.get(o.order_id) or Outcome(CancelState.UNKNOWN))
                for o in gone
                if not self._settled_by_us(o.key)  # a cancel of ours may have begun meanwhile
            ]
        )

    def _went_away(self, account_id: str) -> None:
        """Note when an account stopped being current, and the rows it showed then."""
        if account_id not in self._away:
            self._away[account_id] = self._wall_clock()
            self._away_rows[account_id] = {o.key: o for o in self.store.orders(account_id)}

    def _apply_listing(self, account_id: str, orders: Sequence[Order], *, live: bool) -> None:
        # A listing cannot say why an order left. Orders being cancelled, or whose cancel ended
        # unknown, stay until the ledger knows why (never dropped silently); the fresh listing is
        # a good moment to re-check the unknown ones. ``live``: the listing is the account's own
        # (a stream's snapshot, a poll), so an account that was away is back.
        away_since = self._away.get(account_id)
        if away_since is not None and live:
            before = self._away_rows.pop(account_id, {})
            self._away.pop(account_id, None)
            fresh = {o.key for o in orders}
            gone = [o for k, o in before.items() if k not in fresh and not self._settled_by_us(k)]
            appeared = sum(1 for k in fresh if k not in before)
            # Read before the re-arm below replaces the state Kraken's deadline was in.
            fired = self.deadman.fired_between(account_id, away_since, self._wall_clock())
            task = asyncio.ensure_future(self._report_away(account_id, away_since, appeared, gone, fired))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            self.deadman.account_back(account_id)  # a failed refresh is sent again now
        self.store.replace_account(account_id, orders, keep=self.coordinator.held_keys(account_id))
        self.coordinator.kick(account_id)

    def _settled_by_us(self, key: OrderKey) -> bool:
        """True when the console already knows why the order left (or is still finding out)."""
        if self.store.is_gone(key):
            return True
        entry = self.coordinator.entry(key)
        return entry is not None and entry.state is not CancelState.FAILED

    async def _report_away(
        self, account_id: str, since: float, appeared: int, gone: Sequence[Order], fired: float | None
    ) -> None:
        """Say what changed while the account was away; ask the venue why orders left."""
        filled = cancelled = unknown = 0
        venue = self.venues.get(account_id)
        outcomes: dict[str, Outcome] = {}
        if gone and venue is not None:
            try:
                outcomes = await venue.confirm(gone)
            except Exception as e:  # a failed look-up leaves "not known why", never a guess
                log.info("why orders left %s while away: %s", account_id, e)
        for order in gone:
            outcome = outcomes.get(order.order_id)
            if outcome is None or outcome.state is CancelState.UNKNOWN:
                unknown += 1
            elif outcome.state is CancelState.FILLED:
                filled += 1
                self.outside_change.emit(OutsideChange(account_id, order, "filled", outcome.reason))
            elif outcome.state is CancelState.CANCELLED:
                cancelled += 1
                self.outside_change.emit(OutsideChange(account_id, order, "cancelled", outcome.reason))
            else:
                unknown += 1
        away_s = self._wall_clock() - since
        report = AwayReport(account_id, away_s, appeared, len(gone), filled, cancelled, unknown, fired)
        log.info("%s back: %s", account_id, report.summary())
        self.recovered.emit(report)

    def _removed_outside(self, removed: Sequence[tuple[Order, Outcome]]) -> None:
        for order, outcome in removed:
            entry = self.coordinator.entry(order.key)
            ours = entry is not None and (entry.state.is_open_attempt or entry.state is CancelState.UNKNOWN)
            if ours:
                continue
            what = {
                CancelState.FILLED: "filled",
                CancelState.CANCELLED: "cancelled",
            }.get(outcome.state, "gone")
            if outcome.reason and "expire" in outcome.reason.lower():
                what = "expired"
            self.outside_change.emit(OutsideChange(order.account_id, order, what, outcome.reason))

    def _fills_outside(self, upserts: Sequence[Order]) -> None:
        for order in upserts:
            old = self.store.get(order.key)
            if old is not None and order.filled > old.filled:
                self.outside_change.emit(OutsideChange(order.account_id, order, "partially filled"))

    # --- when a stream is down ----------------------------------------------------------------

    def _start_fallback(self, account_id: str, venue: Venue) -> None:
        if account_id not in self._fallback:
            self._fallback[account_id] = asyncio.create_task(
                self._list_while_down(account_id, venue), name=f"fallback-{account_id}"
            )

    def _stop_fallback(self, account_id: str) -> None:
        task = self._fallback.pop(account_id, None)
        if task is not None:
            task.cancel()

    async def _list_while_down(self, account_id: str, venue: Venue) -> None:
        """List the account over REST while its stream is down (Spot, Futures: Prime cannot)."""
        wake = self._wake[account_id]
        while True:
            try:
                orders = await venue.list_open_orders()
            except Exception as e:
                log.info("listing %s while its stream is down: %s", account_id, e)
            else:
                self._apply_listing(account_id, orders, live=False)
                st = self.status.get(account_id)
                if st is not None and st.link is not LinkState.LIVE:
                    at = time.strftime("%H:%M:%S", time.localtime(self._wall_clock()))
                    self._link(account_id, LinkState.POLLING, f"stream down; listed over REST at {at}")
            wake.clear()
            await self._poll_wait(wake, self.poll_interval_s)

    async def _watch_kraken(self, account_id: str, venue: Venue) -> None:
        """Ask Kraken's own status for the account's venue now and every ``STATUS_EVERY_S``."""
        while True:
            wake = self._status_wake.setdefault(account_id, asyncio.Event())
            wake.clear()
            try:
                status = await venue.kraken_status()
            except Exception as e:
                log.info("Kraken status for %s: %s", account_id, e)
                status = None
            st = self.status.get(account_id)
            if st is not None and status is not None and st.kraken != status:
                self._set_status(replace(st, kraken=status))
            await self._sleep_or_wake(wake, STATUS_EVERY_S)

    async def _sleep_or_wake(self, wake: asyncio.Event, seconds: float) -> None:
        """Wait ``seconds`` (the desk's own sleep) or until ``wake`` is set, whichever is first."""
        waits = [asyncio.ensure_future(self._sleep(seconds)), asyncio.ensure_future(wake.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _stream(self, account_id: str, venue: Venue) -> None:
        loop = asyncio.get_running_loop()
        burst = StreamCoalescer(account_id)

        def flush() -> None:
            for step in burst.drain(self.store.get):
                if isinstance(step, Replace):
                    self._apply_listing(account_id, step.orders, live=True)
                    continue
                if step.upserts:
                    self._fills_outside(step.upserts)
                    self.store.upsert(step.upserts)
                if step.removed:
                    self._removed_outside(step.removed)
                    self.coordinator.observe_removals(step.removed)
                    # A stream's removal is Kraken's word: a stale snapshot cannot bring it back.
                    self.store.remove([order.key for order, _ in step.removed], proven=True)

        def sink(event: StreamEvent) -> None:
            if burst.add(event):
                # A few ms gather a burst (a socket hands over one message per read) into runs:
                # one store call, one audit write, one Qt signal round per run.
                loop.call_later(STREAM_BATCH_S, flush)

        def link(state: LinkState, detail: str) -> None:
            if state is LinkState.LIVE:
                if account_id in self._away:  # back: ask Kraken's status again now
                    self._status_wake.setdefault(account_id, asyncio.Event()).set()
                flush()  # its snapshot first: "live" is never shown over rows not yet applied
                self._stop_fallback(account_id)
                self._link(account_id, state, detail)
                self.coordinator.kick(account_id)  # back: re-check what was unknown while away
                return
            if state in (LinkState.RECONNECTING, LinkState.DOWN):
                self._went_away(account_id)
                self._start_fallback(account_id, venue)
            if account_id in self._fallback and self.status[account_id].link is LinkState.POLLING:
                # The REST listing keeps the rows fresh: say the stream is down, not the account.
                self._set_status(
                    replace(self.status[account_id], detail=f"listed over REST; stream {detail}")
                )
                return
            self._link(account_id, state, detail)

        try:
            await venue.run_stream(sink, link)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("stream of %s ended", account_id)
            self._link(account_id, LinkState.DOWN, f"stream ended: {e}")

    async def refresh(self, account_id: str | None = None) -> None:
        """The F5 key: re-list now, and reconnect every link that is waiting to."""
        for aid, wake in self._wake.items():
            if account_id is None or aid == account_id:
                wake.set()
                venue = self.venues.get(aid)
                if venue is not None:
                    venue.reconnect_now()

    # --- cancels ------------------------------------------------------------------------------

    def plan(self, intent: CancelIntent) -> Plan:
        """What an intent would send now: for the confirmation dialog."""
        return self.coordinator.plan(intent)

    async def cancel(self, intent: CancelIntent, plan: Plan | None = None) -> CancelReport:
        """Cancel, settle, then refresh the polled accounts it touched."""
        plan = plan if plan is not None else self.plan(intent)
        report = await self.coordinator.cancel(intent, plan)
        for aid in {r.account_id for r in plan.requests}:
            venue = self.venues.get(aid)
            if venue is not None and not venue.capabilities.streaming:
                await self.refresh(aid)
        return report

    def kill_switch(
        self, hold_s: float = DEFAULT_HOLD_S, account_ids: Sequence[str] | None = None
    ) -> KillSwitch:
        """Press the kill switch: cancel everything, then hold flat for ``hold_s``.

        Every account whose key may cancel, unless ``account_ids`` names some. Pressed again
        while one runs, the running one stops and a new first wave goes out at once.

        Raises:
            ValueError: no account to cancel on, or a negative hold.
        """
        accounts = tuple(account_ids) if account_ids is not None else self.cancel_account_ids()
        switch = KillSwitch(self, accounts, hold_s, wall_clock=self._wall_clock)
        if self.kill is not None and self.kill.running:
            self.kill.stop()
        self.kill = switch
        switch.start()
        self.kill_started.emit(switch)
        return switch

    async def aclose(self) -> None:
        """Stop every task and close every venue (the dead man's switch is left as it is)."""
        if self.kill is not None:
            self.kill.stop()
        for aid in list(self._tasks):
            await self.remove_account(aid)
        await self.coordinator.aclose()

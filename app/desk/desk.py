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
from app.core.orders import Order, VenueKind
from app.core.plan import CancelIntent, Plan
from app.desk.audit import AuditLog
from app.desk.coalesce import Replace, StreamCoalescer
from app.desk.coordinator import CancelCoordinator, CancelReport
from app.desk.deadman import DeadmanManager
from app.desk.store import OrderStore
from app.desk.timing import Clock, Sleep, WakeWait, wait_for_wake
from app.venues.base import StreamEvent, Venue

log = logging.getLogger("app.desk")

STREAM_BATCH_S = 0.003  # how long stream events may wait to be applied together


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """What the sidebar shows for one account."""

    account_id: str
    name: str
    venue: VenueKind
    link: LinkState
    detail: str = ""
    open_orders: int = 0
    last_update: float | None = None
    can_cancel: bool | None = None  # the key probe's word: False = it can list but not cancel


class Desk:
    """The orchestrator. asyncio only; knows nothing of Qt.

    Events:
        account_changed(AccountStatus): an account was added, changed state, or its count moved.
        account_removed(str): an account was removed.
        venue_problem((account_id, text)): a venue skipped something it could not read (a
            malformed order in a listing or stream); the rest of the account goes on.

    Rules: each account gets one task that keeps its orders current (the venue's stream, or a
    poll every ``poll_interval_s``); a failing venue is shown as down with the reason and retried,
    never crashing the desk; after a cancel the touched polled accounts are refreshed at once.
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
        self._poll_wait = poll_wait
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self.account_changed: Event[AccountStatus] = Event("account_changed")
        self.account_removed: Event[str] = Event("account_removed")
        self.venue_problem: Event[tuple[str, str]] = Event("venue_problem")
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
        task = self._tasks.pop(account_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
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
        if st is not None:
            self._set_status(replace(st, link=link, detail=detail))

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
                self._link(account_id, LinkState.DOWN, f"{e}: fix the key in Accounts")
                backoff = min(backoff * 2, 60.0)
            except VenueError as e:
                self._link(account_id, LinkState.DOWN, str(e))
                backoff = min(backoff * 2, 30.0)
            except Exception as e:
                log.exception("listing %s failed", account_id)
                self._link(account_id, LinkState.DOWN, f"internal error: {type(e).__name__}")
                backoff = min(backoff * 2, 30.0)
            else:
                backoff = self.poll_interval_s
                self._apply_listing(account_id, orders)
                self._link(account_id, LinkState.POLLING, f"polled every {self.poll_interval_s:g} s")
            wake.clear()
            await self._poll_wait(wake, backoff)

    def _apply_listing(self, account_id: str, orders: Sequence[Order]) -> None:
        # A listing cannot say why an order left. Orders being cancelled, or whose cancel ended
        # unknown, stay until the ledger knows why (never dropped silently); the fresh listing is
        # a good moment to re-check the unknown ones.
        self.store.replace_account(account_id, orders, keep=self.coordinator.held_keys(account_id))
        self.coordinator.kick(account_id)

    async def _stream(self, account_id: str, venue: Venue) -> None:
        loop = asyncio.get_running_loop()
        burst = StreamCoalescer(account_id)

        def flush() -> None:
            for step in burst.drain(self.store.get):
                if isinstance(step, Replace):
                    self._apply_listing(account_id, step.orders)
                    continue
                if step.upserts:
                    self.store.upsert(step.upserts)
                if step.removed:
                    self.coordinator.observe_removals(step.removed)
                    # A stream's removal is Kraken's word: a stale snapshot cannot bring it back.
                    self.store.remove([order.key for order, _ in step.removed], proven=True)

        def sink(event: StreamEvent) -> None:
            if burst.add(event):
                # A few ms gather a burst (a socket hands over one message per read) into runs:
                # one store call, one audit write, one Qt signal round per run.
                loop.call_later(STREAM_BATCH_S, flush)

        def link(state: LinkState, detail: str) -> None:
            self._link(account_id, state, detail)
            if state is LinkState.LIVE:
                self.coordinator.kick(account_id)  # back: re-check what was unknown while away

        try:
            await venue.run_stream(sink, link)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("stream of %s ended", account_id)
            self._link(account_id, LinkState.DOWN, f"stream ended: {e}")

    async def refresh(self, account_id: str | None = None) -> None:
        """Re-list now (polled accounts) — the F5 key."""
        for aid, wake in self._wake.items():
            if account_id is None or aid == account_id:
                wake.set()

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

    async def aclose(self) -> None:
        """Stop every task and close every venue (the dead man's switch is left as it is)."""
        for aid in list(self._tasks):
            await self.remove_account(aid)
        await self.coordinator.aclose()

"""The one asyncio <-> Qt seam: runs desk coroutines for the widgets and turns desk events into Qt."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.orders import Order, VenueKind
from app.core.plan import CancelIntent, Plan, Scope
from app.desk.coordinator import ActionProgress, CancelReport, LedgerEntry
from app.desk.deadman import DeadmanState
from app.desk.desk import AccountStatus, AwayReport, Desk, OutsideChange
from app.desk.killswitch import KillState, KillSwitch
from app.ui.activity import ActivityModel
from app.ui.models import OrdersTableModel

log = logging.getLogger("app.ui.bridge")

COUNT_REFRESH_MS = 250  # open-order counts in the sidebar refresh at most this often
ACTIVITY_FLUSH_MS = 40  # ledger moves reach Activity this long after they happen, in one batch
FRAME_MS = 16  # the table follows a stream at most once a frame (one repaint, not dozens)
# While the stream stays busy (every frame had changes waiting), the table follows it this often:
# a repaint of the visible rows costs 10-40 ms here, so at one a frame the GUI loop did nothing else
# (bench 3: a 5 ms timer ~90 ms late on median) and keys waited behind paints.
BUSY_FRAME_MS = 50
AT_ONCE_PER_FRAME = 3  # changes shown at once in a frame; more wait for the frame's end


class FramePacedFeed(QObject):
    """Hands the store's changes to the orders model in order, at most once per ``FRAME_MS``.

    The first ``AT_ONCE_PER_FRAME`` changes of a frame reach the model at once (a lone change,
    a cancel's few steps: no added latency); further ones wait for the frame's end and go
    together, in order (runs of one kind joined). At 1,000 updates/s the stream arrives in
    hundreds of bursts a second: each was a model update and a repaint of every visible row
    (Qt's text layout), so the loop never had a quiet frame (bench: live table).
    """

    def __init__(self, model: OrdersTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._ops: list[tuple[str, list[Any]]] = []
        self._in_frame = 0  # changes applied at once since the frame started
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)

    def inserted(self, orders: list[Any]) -> None:
        self._add("insert", orders)

    def updated(self, orders: list[Any]) -> None:
        self._add("update", orders)

    def removed(self, keys: list[Any]) -> None:
        self._add("remove", keys)

    def _add(self, kind: str, items: list[Any]) -> None:
        if not self._timer.isActive():  # a quiet frame: it starts now
            self._in_frame = 0
            self._timer.start(FRAME_MS)
        if not self._ops and self._in_frame < AT_ONCE_PER_FRAME:
            self._in_frame += 1
            self._apply(kind, list(items))
            return
        if self._ops and self._ops[-1][0] == kind:
            self._ops[-1][1].extend(items)
        else:
            self._ops.append((kind, list(items)))

    def flush(self) -> None:
        """Apply what waited (also called before anything reads the model for a command)."""
        ops, self._ops = self._ops, []
        for kind, items in ops:
            self._apply(kind, items)
        self._in_frame = AT_ONCE_PER_FRAME if ops else 0  # after a busy frame, the next is paced
        if ops:
            self._timer.start(BUSY_FRAME_MS)
        else:
            self._timer.stop()

    def _apply(self, kind: str, items: list[Any]) -> None:
        if kind == "insert":
            self._model.insert_orders(items)
        elif kind == "update":
            self._model.update_orders(items)
        else:
            self._model.remove_keys(items)


class DeskBridge(QObject):
    """Holds the desk; widgets call its commands and listen to its signals, never awaiting.

    Signals:
        failed(str): a task failed; the text says what and why (shown in the status bar).
        cancel_started(object): ``(CancelIntent, Plan)`` just before the cancel is sent.
        cancel_settled(object): the ``CancelReport`` of a finished cancel.
        ledger_transitioned(object): ``list[LedgerEntry]`` that moved in the cancel ledger.
        account_changed(object): an ``AccountStatus`` (new account, state or count).
        account_removed(str): an account id that was removed.
        deadman_changed(object): a ``DeadmanState``, or None once an arm/disarm finished.
        busy_changed(int): how many tasks the bridge is running.
        kill_changed(object): the running kill switch's ``KillState`` (each wave, pending, end).
        cancel_progress(object): an ``ActionProgress``: a cancel moved on (done, waiting, ETA).
        outside_changed(object): a list of ``OutsideChange``: orders filled, partly filled or
            gone from the book by something other than the console (a batch every
            ``ACTIVITY_FLUSH_MS`` at most, oldest first).

    Rules kept:
    - every coroutine runs as a named task held in a set until it ends (no task is garbage
      collected mid-flight), and a failing task is logged and reported through ``failed``; it
      never propagates into Qt;
    - desk events arrive synchronously on the GUI thread (qasync runs asyncio inside Qt's loop);
      the orders model follows the store row by row, in order, at most once a frame
      (``FramePacedFeed``: a lone change at once);
    - nothing here opens a modal loop (no ``exec()``): dialogs are the widgets' business.
    """

    failed = Signal(str)
    cancel_started = Signal(object)
    cancel_settled = Signal(object)
    ledger_transitioned = Signal(object)
    account_changed = Signal(object)
    account_removed = Signal(str)
    deadman_changed = Signal(object)
    busy_changed = Signal(int)
    kill_changed = Signal(object)
    cancel_progress = Signal(object)
    outside_changed = Signal(object)

    def __init__(self, desk: Desk, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.desk = desk
        self._tasks: set[asyncio.Task[Any]] = set()
        self.orders_model = OrdersTableModel(
            outcome_of=desk.store.outcome, account_name=self.account_name, parent=self
        )
        self.activity_model = ActivityModel(
            account_name=self.account_name, market_name=self.market_name, parent=self
        )
        self.orders_model.load(desk.store.orders())
        self.feed = FramePacedFeed(self.orders_model, self)
        store, coord = desk.store, desk.coordinator
        self._disconnects: list[Callable[[], None]] = [
            store.inserted.connect(self.feed.inserted),
            store.updated.connect(self.feed.updated),
            store.removed.connect(self.feed.removed),
            coord.transitioned.connect(self._on_transitioned),
            coord.settled.connect(self._on_settled),
            desk.account_changed.connect(self._on_account_changed),
            desk.account_removed.connect(self._on_account_removed),
            desk.deadman.changed.connect(self.deadman_changed.emit),
        ]
        self._names: dict[str, str] = {aid: st.name for aid, st in desk.status.items()}
        self._shown: dict[str, AccountStatus] = dict(desk.status)
        self._counts_due: dict[str, AccountStatus] = {}
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(COUNT_REFRESH_MS)
        self._count_timer.timeout.connect(self._flush_counts)
        self._disconnects.append(coord.progressed.connect(self.cancel_progress.emit))
        self._hook_activity()

    # --- desk events -----------------------------------------------------------------------

    def _on_transitioned(self, entries: list[LedgerEntry]) -> None:
        self._queue_activity(entries)
        self.ledger_transitioned.emit(entries)

    def _on_settled(self, report: CancelReport) -> None:
        self.feed.flush()  # the table shows the ending the status bar is about to report
        self._flush_activity()
        self.activity_model.settle(report.attempt, unlisted=report.unlisted_cancelled)
        self.cancel_settled.emit(report)

    # --- Activity: what happened, per action ------------------------------------------------------

    def _hook_activity(self) -> None:
        """Feed Activity: ledger moves (batched off the cancel's path), the actions' names, the
        kill switch, outside changes, recoveries and venue problems."""
        desk = self.desk
        self._activity_due: list[LedgerEntry] = []
        self._outside_due: list[tuple[OutsideChange, float]] = []
        self._titles: dict[str, str] = {}  # attempt -> what the trader asked
        self._kill_waves: dict[str, KillSwitch] = {}  # attempts begun while a kill switch ran
        self._own_account_cancels: dict[str, int] = {}  # the window's own "cancel all on" intents
        self._activity_timer = QTimer(self)
        self._activity_timer.setSingleShot(True)
        self._activity_timer.setInterval(ACTIVITY_FLUSH_MS)
        self._activity_timer.timeout.connect(self._flush_activity)
        self._disconnects += [
            desk.coordinator.progressed.connect(self._on_progressed),
            desk.kill_started.connect(self._on_kill_started),
            desk.outside_change.connect(self._on_outside_change),
            desk.recovered.connect(self._on_recovered),
            desk.venue_problem.connect(self._on_venue_problem),
        ]

    def _queue_activity(self, entries: list[LedgerEntry]) -> None:
        # Synchronous with the ledger, which moves right before the bytes leave: keep it to a list
        # append here; the tree is updated a moment later, in one batch.
        kill = self.desk.kill
        if kill is not None and kill.running:
            for e in entries:
                if e.attempt not in self._titles:
                    self._kill_waves.setdefault(e.attempt, kill)
        self._activity_due.extend(entries)
        if not self._activity_timer.isActive():
            self._activity_timer.start()

    def _on_progressed(self, progress: ActionProgress) -> None:
        if progress.attempt not in self._titles:
            self._titles[progress.attempt] = progress.intent

    def _flush_activity(self) -> None:
        self._activity_timer.stop()
        due, self._activity_due = self._activity_due, []
        outside, self._outside_due = self._outside_due, []
        if outside:
            self.activity_model.add_outside_many(outside)
            self.outside_changed.emit([change for change, _ in outside])
        if not due:
            return
        model = self.activity_model
        for attempt in dict.fromkeys(e.attempt for e in due):
            if model.action(attempt) is not None:
                continue
            title = self._titles.get(attempt)
            if title is None:  # not begun in this session (a restart took it over): the audit says
                row = self.desk.audit.action(attempt)
                title = f"{row[0]} (earlier session)" if row is not None else "cancel (earlier session)"
                self._titles[attempt] = title
            model.name_action(attempt, title, kill=self._kill_wave(attempt, title))
        model.add_entries(due)

    def _kill_wave(self, attempt: str, title: str) -> int | None:
        """The kill switch an attempt is a wave of (a "cancel all on" begun while it ran, not
        asked by the window itself), if any."""
        kill = self._kill_waves.pop(attempt, None)
        if self._own_account_cancels.get(title, 0) > 0:
            self._own_account_cancels[title] -= 1
            return None
        if kill is None or not title.startswith("cancel all on "):
            return None
        return id(kill) if title.removeprefix("cancel all on ") in kill.state.accounts else None

    def _on_kill_started(self, switch: KillSwitch) -> None:
        self._flush_activity()
        kill_id = id(switch)
        self.activity_model.start_kill(kill_id, switch.state.accounts, time.time())

        def changed(state: KillState) -> None:
            self._flush_activity()
            self.activity_model.update_kill(kill_id, state, time.time())
            if not switch.running:
                unhook()

        unhook = switch.changed.connect(changed)
        self._disconnects.append(unhook)

    def _on_outside_change(self, change: OutsideChange) -> None:
        # A busy market brings hundreds a second: Activity and the notices take them in batches.
        self._outside_due.append((change, time.time()))
        if not self._activity_timer.isActive():
            self._activity_timer.start()

    def _on_recovered(self, report: AwayReport) -> None:
        self.activity_model.add_note(
            report.summary(),
            time.time(),
            label="back",
            account=report.account_id,
            problem=bool(report.unknown),
        )

    def _on_venue_problem(self, problem: tuple[str, str]) -> None:
        account_id, text = problem
        self.activity_model.add_note(text, time.time(), label="skipped", account=account_id, problem=True)

    def _on_account_changed(self, status: AccountStatus) -> None:
        old = self._names.get(status.account_id)
        self._names[status.account_id] = status.name
        if old is not None and old != status.name:
            self.orders_model.refresh_accounts(status.account_id)
        shown = self._shown.get(status.account_id)
        if shown is not None and (shown.link, shown.detail, shown.name) == (
            status.link,
            status.detail,
            status.name,
        ):
            # Only the count moved: a live stream moves it hundreds of times a second, and the
            # sidebar needs it a few times a second at most (bench: 0.7 s of every 5 s went here).
            self._counts_due[status.account_id] = status
            if not self._count_timer.isActive():
                self._count_timer.start()
            return
        self._counts_due.pop(status.account_id, None)
        self._shown[status.account_id] = status
        self.account_changed.emit(status)

    def _on_account_removed(self, account_id: str) -> None:
        self._counts_due.pop(account_id, None)  # a late count must not bring it back
        self._shown.pop(account_id, None)
        self.account_removed.emit(account_id)

    def _flush_counts(self) -> None:
        due, self._counts_due = self._counts_due, {}
        for status in due.values():
            self._shown[status.account_id] = status
            self.account_changed.emit(status)

    def market_name(self, order: Order) -> str:
        """The market's one name, as the orders table shows it (``BTC/USD`` for ``XBT/USD``)."""
        return self.orders_model.instruments.instrument(order.venue, order.symbol).display

    def market_name_of(self, venue: str, symbol: str) -> str:
        """``market_name`` for a venue and symbol as the audit log keeps them."""
        try:
            kind = VenueKind(venue)
        except ValueError:
            return symbol
        return self.orders_model.instruments.instrument(kind, symbol).display

    def account_name(self, account_id: str) -> str:
        """What the trader calls an account (its id if unknown)."""
        name = self._names.get(account_id)
        if name is None:
            st = self.desk.status.get(account_id)
            name = st.name if st is not None else account_id
        return name

    # --- running coroutines ------------------------------------------------------------------

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        """The tasks still running."""
        return frozenset(self._tasks)

    def run(self, coro: Coroutine[Any, Any, Any], name: str, *, what: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the bridge keeps until it ends; failures become ``failed``.

        Args:
            coro: the coroutine.
            name: the task's name (seen in debuggers and logs).
            what: a few words for the trader if it fails, e.g. ``"refresh"``.

        Returns:
            The task (callers may add callbacks; they need not keep it).
        """
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        self.busy_changed.emit(len(self._tasks))

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            self.busy_changed.emit(len(self._tasks))
            if t.cancelled():
                return
            exc = t.exception()
            if exc is not None:
                log.error("%s failed", what, exc_info=exc)
                self.failed.emit(f"{what} failed: {exc or type(exc).__name__}")

        task.add_done_callback(done)
        return task

    # --- commands ------------------------------------------------------------------------------

    def plan(self, intent: CancelIntent) -> Plan:
        """What ``intent`` would send now (synchronous: for a confirmation)."""
        return self.desk.plan(intent)

    def cancel(self, intent: CancelIntent, plan: Plan | None = None) -> asyncio.Task[CancelReport]:
        """Start a cancel; the result arrives as ``cancel_settled``."""
        plan = plan if plan is not None else self.desk.plan(intent)
        if intent.scope is Scope.ACCOUNT:  # not a kill switch wave, even while one runs
            what = intent.describe()
            self._own_account_cancels[what] = self._own_account_cancels.get(what, 0) + 1
        self.cancel_started.emit((intent, plan))
        return self.run(
            self.desk.cancel(intent, plan), f"cancel-{intent.scope.value}", what=intent.describe()
        )

    def kill_switch(self, hold_s: float) -> KillSwitch:
        """Press the kill switch: every account whose key may cancel, held flat for ``hold_s``."""
        accounts = self.desk.cancel_account_ids()
        self.cancel_started.emit((CancelIntent(Scope.EVERYTHING, account_ids=accounts), None))
        switch = self.desk.kill_switch(hold_s, accounts)
        switch.changed.connect(self.kill_changed.emit)
        self.kill_changed.emit(switch.state)
        self.run(_until_done(switch), "kill-switch", what="the kill switch")
        return switch

    def stop_kill_switch(self) -> bool:
        """Esc: stop the running kill switch's hold and waits; True if one was running."""
        kill = self.desk.kill
        if kill is None or not kill.running:
            return False
        kill.stop()
        return True

    def refresh(self, account_id: str | None = None) -> asyncio.Task[None]:
        """Re-list now (all accounts, or one)."""
        return self.run(self.desk.refresh(account_id), "refresh", what="refresh")

    def set_deadman(self, armed: bool) -> asyncio.Task[None]:
        """Arm (and keep refreshing) or disarm the dead man's switch on every account."""
        deadman = self.desk.deadman

        async def switch() -> None:
            try:
                await (deadman.arm() if armed else deadman.disarm())
            finally:
                self.deadman_changed.emit(None)  # ``armed`` flips after the per-account events

        what = "arming the dead man's switch" if armed else "disarming the dead man's switch"
        return self.run(switch(), "deadman-arm" if armed else "deadman-disarm", what=what)

    def deadman_states(self) -> list[DeadmanState]:
        """The switch state of every account, as last heard."""
        return list(self.desk.deadman.states.values())

    async def aclose(self) -> None:
        """Stop listening to the desk and cancel the tasks still running (the desk stays open)."""
        for disconnect in self._disconnects:
            disconnect()
        self._disconnects.clear()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def _until_done(switch: KillSwitch) -> KillState:
    return await switch.start()

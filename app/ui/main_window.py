"""The main window: accounts sidebar, orders table with filter, activity panel, status bar."""

from __future__ import annotations

import logging
from collections import Counter

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QSplitter,
    QTableView,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.accounts import LinkState
from app.core.ledger import CancelState
from app.core.orders import Order
from app.core.plan import CancelIntent, Plan
from app.desk.coordinator import CancelReport, LedgerEntry
from app.desk.deadman import NO_SWITCH, DeadmanState
from app.desk.desk import AccountStatus
from app.ui import theme
from app.ui.about import HelpActions
from app.ui.actions import SHORTCUTS, CancelFlow, WindowActions
from app.ui.bridge import DeskBridge
from app.ui.dialogs import AccountsDialog, AccountsStore, ShortcutsDialog
from app.ui.gc_guard import MainThreadCollector
from app.ui.models import ActivityColumn, Column, OrdersFilterProxy
from app.ui.sidebar import AccountsSidebar

log = logging.getLogger("app.ui.main_window")

COLUMN_WIDTHS: dict[Column, int] = {
    Column.VENUE: 60,
    Column.ACCOUNT: 90,
    Column.SYMBOL: 90,
    Column.SIDE: 45,
    Column.TYPE: 95,
    Column.PRICE: 90,
    Column.QUANTITY: 105,
    Column.FILLED: 90,
    Column.AGE: 70,
    Column.ORDER_ID: 250,
    Column.CLIENT_ID: 150,
    Column.USERREF: 70,
    Column.LEDGER: 200,
}
_BAD_STATES = (CancelState.FAILED, CancelState.REJECTED, CancelState.UNKNOWN)


def format_report(report: CancelReport) -> str:
    """The status bar's line for a finished cancel: what, outcome counts, latency, venue times."""
    n, r = report.orders, report.requests
    parts = [
        f"{report.intent}: {report.summary()}",
        f"{n} order{'s' if n != 1 else ''} in {r} request{'s' if r != 1 else ''}",
        f"{report.latency_ms:.1f} ms",
    ]
    if report.round_trips_ms:
        lo, hi = min(report.round_trips_ms), max(report.round_trips_ms)
        parts.append(
            f"round trip {lo:.1f} ms"
            if len(report.round_trips_ms) == 1
            else f"round trips {lo:.1f} to {hi:.1f} ms"
        )
    if report.venue_times:
        t_in, t_out = report.venue_times[-1]
        parts.append(f"venue in {t_in or '?'} out {t_out or '?'}")
    if report.errors:
        parts.append(
            f"{len(report.errors)} error{'s' if len(report.errors) != 1 else ''}: {report.errors[0]}"
        )
    return " · ".join(parts)


def _set_label(label: QLabel, text: str, style: str) -> None:
    """Update a label only where it changed (a style sheet change re-polishes the widget, and
    account counts may change hundreds of times a second while orders stream)."""
    if label.text() != text:
        label.setText(text)
    if label.styleSheet() != style:
        label.setStyleSheet(style)


PAINT_HOLD_MS = 60  # the longest the window waits to repaint after a cancel starts

NO_ACCOUNTS_HINT = (
    "No accounts yet: File > Accounts… adds one (its key goes to the system keychain only). "
    "To try the console first: kraken-cancel --demo"
)


class MainWindow(QMainWindow):
    """The console's one window.

    Signals:
        closed(): the window was closed (the app then shuts the desk down).

    Rules kept: widgets never await: every command goes through the bridge or the cancel flow;
    every shortcut works with the focus anywhere in the window; the table follows the store row
    by row, and only the Age column repaints on a timer.
    """

    closed = Signal()

    def __init__(
        self,
        bridge: DeskBridge,
        *,
        accounts_store: AccountsStore | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("main_window")
        self.setWindowTitle("Kraken Cancel Console")
        self.bridge = bridge
        self.accounts_store = accounts_store
        self.model = bridge.orders_model
        self.proxy = OrdersFilterProxy(self.model, account_name=bridge.account_name)
        self.commands = WindowActions(self)
        self.flow = CancelFlow(bridge, self)
        self._menu: QMenu | None = None
        self._dialogs: list[QDialog] = []
        # Set and started by ``app.ui.app.open_window``, which stops it when the window closes.
        self.gc_collector: MainThreadCollector | None = None

        self._build_table()
        self._build_central()
        self._build_activity()
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        if accounts_store is not None and not bridge.desk.status:
            self.last_action.setText(NO_ACCOUNTS_HINT)
        self._connect()
        for status in bridge.desk.status.values():
            self.sidebar.update_status(status)
        self._update_banner()
        self._update_deadman()
        # A child timer, not QTimer.singleShot(callable): it dies with the window, so it can
        # never call into a deleted one.
        self._paint_hold = QTimer(self)
        self._paint_hold.setSingleShot(True)
        self._paint_hold.setInterval(PAINT_HOLD_MS)
        self._paint_hold.timeout.connect(self._release_paint)
        self.age_timer = QTimer(self)
        self.age_timer.setInterval(1000)
        self.age_timer.timeout.connect(self.repaint_ages)
        self.age_timer.start()
        self.resize(1280, 760)
        self.table.setFocus()

    # --- construction ---------------------------------------------------------------------------

    def _build_table(self) -> None:
        t = self.table = QTableView()
        t.setObjectName("orders_table")
        t.setModel(self.proxy)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setWordWrap(False)
        t.setAlternatingRowColors(True)
        t.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        t.verticalHeader().hide()
        # Fixed row heights: the view never measures 10,000 rows.
        t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        t.verticalHeader().setDefaultSectionSize(t.fontMetrics().height() + 6)
        header = t.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        for col, width in COLUMN_WIDTHS.items():
            header.resizeSection(col, width)
        header.setStretchLastSection(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # arrival order until a header is clicked
        t.setSortingEnabled(True)

    def _build_central(self) -> None:
        self.sidebar = AccountsSidebar()
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("filter")
        self.filter_edit.setPlaceholderText("Filter: symbol, side, order id, client id, account   (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.count_label = QLabel()
        self.count_label.setObjectName("count")
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setStyleSheet(theme.BANNER_STYLE)
        self.banner.setWordWrap(True)
        self.banner.hide()

        right = QWidget()
        v = QVBoxLayout(right)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.banner)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.count_label)
        v.addLayout(top)
        v.addWidget(self.table, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.sidebar)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([270, 1010])
        self.setCentralWidget(splitter)

    def _build_activity(self) -> None:
        self.activity = QTableView()
        self.activity.setObjectName("activity_table")
        self.activity.setModel(self.bridge.activity_model)
        self.activity.verticalHeader().hide()
        self.activity.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.activity.verticalHeader().setDefaultSectionSize(self.activity.fontMetrics().height() + 4)
        self.activity.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.activity.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.activity.setWordWrap(False)
        self.activity.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        h = self.activity.horizontalHeader()
        for col, width in {
            ActivityColumn.TIME: 95,
            ActivityColumn.ACCOUNT: 90,
            ActivityColumn.SYMBOL: 90,
            ActivityColumn.ORDER_ID: 190,
            ActivityColumn.STATE: 100,
            ActivityColumn.REASON: 360,
        }.items():
            h.resizeSection(col, width)
        h.setStretchLastSection(True)
        self.activity_dock = QDockWidget("Activity", self)
        self.activity_dock.setObjectName("activity_dock")
        self.activity_dock.setWidget(self.activity)
        self.activity_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.activity_dock)
        self.resizeDocks([self.activity_dock], [190], Qt.Orientation.Vertical)

    def _build_toolbar(self) -> None:
        c = self.commands
        tb = self.toolbar = QToolBar("Commands")
        tb.setObjectName("toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.addAction(c.cancel_selected)
        tb.addAction(c.cancel_account)
        tb.addSeparator()
        tb.addAction(c.kill_switch)
        kill_button = tb.widgetForAction(c.kill_switch)
        if isinstance(kill_button, QToolButton):
            kill_button.setObjectName("kill_switch_button")
            kill_button.setStyleSheet(theme.KILL_SWITCH_STYLE)
        tb.addSeparator()
        tb.addAction(c.refresh)
        tb.addAction(c.deadman)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _build_menus(self) -> None:
        c = self.commands
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(c.accounts)
        file_menu.addSeparator()
        file_menu.addAction(c.quit)
        orders = bar.addMenu("&Orders")
        for a in (c.cancel_selected, c.cancel_account, c.kill_switch):
            orders.addAction(a)
        orders.addSeparator()
        for a in (c.select_all, c.copy_ids, c.find, c.clear, c.refresh):
            orders.addAction(a)
        orders.addSeparator()
        orders.addAction(c.deadman)
        view = bar.addMenu("&View")
        view.addAction(self.activity_dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(c.shortcuts)
        self.help_actions = HelpActions(self, help_menu, self.bridge, self._keep_dialog)
        if self.accounts_store is None:
            c.accounts.setEnabled(False)
            c.accounts.setToolTip("Accounts are fixed in this mode (demo or --config).")

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.last_action = QLabel("Ready.")
        self.last_action.setObjectName("last_action")
        self.last_action.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sb.addWidget(self.last_action, 1)
        self.exchange_label = QLabel()
        self.exchange_label.setObjectName("exchange_status")
        self.deadman_label = QLabel()
        self.deadman_label.setObjectName("deadman_status")
        self.busy_label = QLabel()
        self.busy_label.setObjectName("busy")
        sb.addPermanentWidget(self.busy_label)
        sb.addPermanentWidget(self.deadman_label)
        sb.addPermanentWidget(self.exchange_label)

    def _connect(self) -> None:
        c, b = self.commands, self.bridge
        c.cancel_selected.triggered.connect(self.cancel_selected)
        c.cancel_account.triggered.connect(lambda: self.flow.cancel_account(self.sidebar.current_account()))
        c.kill_switch.triggered.connect(self.flow.kill_switch)
        c.refresh.triggered.connect(self.refresh)
        c.deadman.toggled.connect(self._deadman_toggled)
        c.select_all.triggered.connect(self.select_all)
        c.find.triggered.connect(self.focus_filter)
        c.clear.triggered.connect(self.clear_selection_or_filter)
        c.copy_ids.triggered.connect(self.copy_selected_ids)
        c.accounts.triggered.connect(self.open_accounts)
        c.shortcuts.triggered.connect(self.open_shortcuts)
        c.quit.triggered.connect(self.close)
        self.filter_edit.textChanged.connect(self._filter_changed)
        self.sidebar.current_account_changed.connect(self.proxy.set_account)
        self.sidebar.current_account_changed.connect(lambda _a: self._update_count())
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.flow.message.connect(self.show_message)
        b.failed.connect(lambda text: self.show_message(text, error=True))
        b.cancel_started.connect(self._cancel_started)
        b.ledger_transitioned.connect(self._ledger_moved)
        b.cancel_settled.connect(self._cancel_settled)
        b.account_changed.connect(self._account_changed)
        b.account_removed.connect(self._account_removed)
        b.deadman_changed.connect(self._deadman_changed)
        b.busy_changed.connect(lambda n: self.busy_label.setText(f"working ({n})" if n else ""))
        # The model's rowsRemoved too: the filter proxy drops its rows while the model is still
        # "about to" remove them, so counting then said "271 of 272" with nothing filtered.
        for signal in (
            self.proxy.rowsInserted,
            self.proxy.rowsRemoved,
            self.proxy.modelReset,
            self.proxy.layoutChanged,
            self.model.rowsRemoved,
        ):
            signal.connect(self._update_count)
        self._update_count()

    # --- reading the selection -------------------------------------------------------------------

    def selected_orders(self) -> list[Order]:
        """The orders selected in the table (visible rows only), top to bottom."""
        sel = self.table.selectionModel()
        rows = sorted({i.row() for i in sel.selectedRows()})
        return [self.proxy.order_at(r) for r in rows]

    # --- commands ---------------------------------------------------------------------------------

    def cancel_selected(self) -> None:
        """Delete: cancel the selection (one order at once; more after confirming)."""
        self.flow.cancel_orders(self.selected_orders())

    def select_all(self) -> None:
        """Ctrl+A: select every visible row (in the filter box it selects the text instead)."""
        if self.filter_edit.hasFocus():
            self.filter_edit.selectAll()
            return
        self.table.selectAll()
        self.table.setFocus()

    def focus_filter(self) -> None:
        """Ctrl+F: put the cursor in the filter box."""
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def clear_selection_or_filter(self) -> None:
        """Esc: clear the selection; if there is none, clear the filter and go back to the table."""
        if self.table.selectionModel().hasSelection():
            self.table.clearSelection()
        elif self.filter_edit.text():
            self.filter_edit.clear()
            self.table.setFocus()
        else:
            self.table.setFocus()

    def refresh(self) -> None:
        """F5: re-list every account now."""
        self.bridge.refresh()
        self.show_message("Refreshing every account…")

    def copy_selected_ids(self) -> None:
        """Copy the selected order ids, one per line."""
        ids = [o.order_id for o in self.selected_orders()]
        if ids:
            QGuiApplication.clipboard().setText("\n".join(ids))
            self.show_message(f"Copied {len(ids)} order id{'s' if len(ids) != 1 else ''}.")

    def open_accounts(self) -> None:
        """File > Accounts: the accounts dialog (non-blocking)."""
        if self.accounts_store is None:
            return
        dialog = AccountsDialog(self.accounts_store, self.bridge, self)
        self._keep_dialog(dialog)
        dialog.open()

    def open_shortcuts(self) -> None:
        """Help > Keyboard shortcuts."""
        dialog = ShortcutsDialog(SHORTCUTS, self)
        self._keep_dialog(dialog)
        dialog.open()

    def _keep_dialog(self, dialog: QDialog) -> None:
        self._dialogs.append(dialog)

        def gone(*_args: object) -> None:
            if dialog in self._dialogs:
                self._dialogs.remove(dialog)
            dialog.deleteLater()

        dialog.finished.connect(gone)

    def show_message(self, text: str, *, error: bool = False) -> None:
        """Put ``text`` in the status bar's last-action area."""
        _set_label(self.last_action, text, "color: #c0392b;" if error else "")

    # --- reactions ----------------------------------------------------------------------------------

    def repaint_ages(self) -> None:
        """Repaint the visible part of the Age column (ages are computed when painted).

        Not ``dataChanged``: the filter proxy would re-filter all 10,000 rows every second.
        """
        vp = self.table.viewport()
        x = self.table.columnViewportPosition(Column.AGE)
        if x >= 0:
            vp.update(x, 0, self.table.columnWidth(Column.AGE), vp.height())

    def _filter_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_count()

    def _update_count(self, *_args: object) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{shown} of {total} orders" if shown != total else f"{total} orders")

    def _deadman_toggled(self, checked: bool) -> None:
        self.bridge.set_deadman(checked)
        self.show_message("Arming the dead man's switch…" if checked else "Disarming the dead man's switch…")

    def _deadman_changed(self, state: DeadmanState | None) -> None:
        self._update_deadman()
        if state is None:  # an arm or disarm finished: say what it did, account by account
            dm = self.bridge.desk.deadman
            states = list(dm.states.values())
            name = self.bridge.account_name
            done = [name(s.account_id) for s in states if s.armed and not s.error]
            none = [name(s.account_id) for s in states if not s.supported and s.error == NO_SWITCH]
            left = [f"{name(s.account_id)} (left out: {s.left_out})" for s in states if s.left_out]
            left += [
                f"{name(s.account_id)} ({s.error})"
                for s in states
                if not s.supported and s.error != NO_SWITCH
            ]
            verb = f"armed ({dm.timeout_s} s, re-sent every {dm.refresh_s:g} s)" if dm.armed else "off"
            text = f"Dead man's switch {verb} on {', '.join(done) or 'no account'}"
            if none:
                text += f"; {', '.join(none)} ha{'s' if len(none) == 1 else 've'} no dead man's switch"
            if left:
                text += f"; {', '.join(left)}"
            self.show_message(text + ".", error=any(s.error and s.supported for s in states))

    def _update_deadman(self) -> None:
        dm = self.bridge.desk.deadman
        states: list[DeadmanState] = list(dm.states.values())
        errors = [
            f"{self.bridge.account_name(s.account_id)}: {s.error}" for s in states if s.error and s.supported
        ]
        if dm.armed:
            text = f"Dead man's switch: armed ({dm.timeout_s} s)"
            color = "#1b8a3a"
        else:
            text = "Dead man's switch: off"
            color = ""
        if errors:
            text += " — " + "; ".join(errors)
            color = "#c0392b"
        _set_label(self.deadman_label, text, f"color: {color};" if color else "")
        self._update_banner()

    def _hold_paint(self) -> None:
        """Paint nothing until the cancel's first request has left (bounded by PAINT_HOLD_MS).

        Repainting 10,000 rows (after a selection change or a dialog closing) takes tens of ms
        on the GUI loop; that turn would otherwise come before the first cancel byte
        (bench/RESULTS.md, key press to wire). The window catches up right after.
        """
        if self.updatesEnabled():
            self.setUpdatesEnabled(False)
            self._paint_hold.start()

    def _release_paint(self, *_args: object) -> None:
        self._paint_hold.stop()
        if not self.updatesEnabled():
            self.setUpdatesEnabled(True)

    def _ledger_moved(self, entries: list[LedgerEntry]) -> None:
        # Past "sent": the venue answered, so the request has certainly left.
        if not self.updatesEnabled() and any(
            e.state not in (CancelState.QUEUED, CancelState.SENT) for e in entries
        ):
            self._release_paint()

    def _cancel_started(self, payload: tuple[CancelIntent, Plan]) -> None:
        self._hold_paint()
        intent, plan = payload
        n = plan.order_count
        self.show_message(f"{intent.describe()}: sending ({n} known order{'s' if n != 1 else ''})…")

    def _cancel_settled(self, report: CancelReport) -> None:
        self._release_paint()
        bad = any(report.counts.get(s, 0) for s in _BAD_STATES) or bool(report.errors)
        self.show_message(format_report(report), error=bad)

    def _account_changed(self, status: AccountStatus) -> None:
        self.sidebar.update_status(status)
        self._update_banner()
        if self.last_action.text() == NO_ACCOUNTS_HINT:
            self.last_action.setText("Ready.")

    def _account_removed(self, account_id: str) -> None:
        self.sidebar.remove_account(account_id)
        self._update_banner()

    def _update_banner(self) -> None:
        statuses = list(self.bridge.desk.status.values())
        links = Counter(s.link for s in statuses)
        up = links[LinkState.LIVE] + links[LinkState.POLLING]
        n = len(statuses)
        summary = f"{n} account{'s' if n != 1 else ''}: {up} up"
        if links[LinkState.DOWN]:
            summary += f", {links[LinkState.DOWN]} down"
        if links[LinkState.CONNECTING] + links[LinkState.RECONNECTING]:
            summary += f", {links[LinkState.CONNECTING] + links[LinkState.RECONNECTING]} connecting"
        _set_label(self.exchange_label, summary, "color: #c0392b;" if links[LinkState.DOWN] else "")
        problems = [
            f"{s.name} is {s.link.value}: {s.detail}" if s.detail else f"{s.name} is {s.link.value}"
            for s in statuses
            if s.link in (LinkState.DOWN, LinkState.RECONNECTING)
        ]
        dm = self.bridge.desk.deadman
        if dm.armed:
            problems.extend(
                f"Dead man's switch on {self.bridge.account_name(s.account_id)}: {s.error}"
                for s in dm.states.values()
                if s.error and s.supported
            )
        text = "\n".join(problems)
        if self.banner.text() != text:
            self.banner.setText(text)
        if self.banner.isVisibleTo(self) != bool(problems):
            self.banner.setVisible(bool(problems))

    def _context_menu(self, pos: QPoint) -> None:
        index: QModelIndex = self.table.indexAt(pos)
        if not index.isValid():
            return
        sel = self.table.selectionModel()
        if not sel.isRowSelected(index.row(), QModelIndex()):
            self.table.selectRow(index.row())
        order = self.proxy.order_at(index.row())
        selected = self.selected_orders()
        menu = QMenu(self)
        menu.setObjectName("orders_menu")
        n = len(selected)
        cancel = menu.addAction("Cancel order" if n == 1 else f"Cancel {n} selected orders")
        cancel.triggered.connect(lambda: self.flow.cancel_orders(selected))
        where = self.bridge.account_name(order.account_id)
        sym = menu.addAction(f"Cancel all {order.symbol} on {where}")
        sym.triggered.connect(lambda: self.flow.cancel_symbol(order.account_id, order.symbol))
        if order.userref is not None:
            ref = order.userref
            uref = menu.addAction(f"Cancel all with userref {ref} on {where}")
            uref.triggered.connect(lambda: self.flow.cancel_userref(order.account_id, ref))
        menu.addSeparator()
        copy = menu.addAction("Copy order id")
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(order.order_id))
        if order.client_id:
            cid = order.client_id
            copy_cl = menu.addAction("Copy client id")
            copy_cl.triggered.connect(lambda: QGuiApplication.clipboard().setText(cid))
        menu.aboutToHide.connect(menu.deleteLater)
        self._menu = menu
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.age_timer.stop()
        for d in list(self._dialogs):
            d.close()
        event.accept()
        self.closed.emit()

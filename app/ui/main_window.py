"""The main window: accounts sidebar, orders table (or grouped by symbol) with filter, activity
panel, status bar; its layout, theme and zoom kept per profile."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QModelIndex, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QFont, QFontMetrics, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.core.accounts import AccountSpec, LinkState
from app.core.ledger import CancelState
from app.core.orders import Order, Side
from app.core.plan import CancelIntent, Plan
from app.desk.coordinator import CancelReport, LedgerEntry
from app.desk.deadman import NO_SWITCH, DeadmanState
from app.desk.desk import AccountStatus
from app.desk.instruments import InstrumentBook
from app.desk.killswitch import DEFAULT_HOLD_S, KillPhase, KillState
from app.ui import status_text, theme
from app.ui.about import HelpActions
from app.ui.actions import SHORTCUTS, CancelFlow, WindowActions
from app.ui.activity import ActivityPanel
from app.ui.bridge import DeskBridge
from app.ui.desktop import DesktopIntegration
from app.ui.dialogs import AccountsDialog, AccountsStore, ShortcutsDialog
from app.ui.frozen_table import FrozenColumnsTable
from app.ui.gc_guard import MainThreadCollector
from app.ui.groups import SymbolGroupsModel
from app.ui.history import HistoryWindow
from app.ui.layout import LayoutStore
from app.ui.models import FROZEN_COLUMNS, HEADERS, Column, OrdersFilterProxy
from app.ui.progress import ProgressLabel
from app.ui.quit_guard import QuitGuard
from app.ui.sidebar import AccountsSidebar
from app.ui.theme import ThemeChoice
from app.ui.widgets import ElidedLabel

log = logging.getLogger("app.ui.main_window")

# The widest value a column shows in a typical book, per column: default widths are measured from
# these in the current font (and zoom), so numbers are never cut at the default widths.
WIDTH_SAMPLES: dict[Column, str] = {
    Column.ACCOUNT: "Demo Futures",
    Column.SYMBOL: "BTC/USD perp",
    Column.SIDE: "Side",
    Column.CANCEL: "acknowledged",
    Column.TYPE: "take-profit-limit",
    Column.LIMIT: "000,000.00000",
    Column.TRIGGER: "000,000.00000",
    Column.QUANTITY: "00,000.00000000",
    Column.FILLED: "00,000.00000000",
    Column.PCT_FILLED: "100.0%",
    Column.NOTIONAL: "00,000,000.00 USD",
    Column.STATUS: "partially filled",
    Column.TIF: "GTC",
    Column.FLAGS: "post-only, reduce-only",
    Column.AGE: "00d 00h",
    Column.VENUE: "Futures",
    Column.ORDER_ID: "2d269048-4013-4e33-a77b-20adfefed000",
    Column.CLIENT_ID: "grid-000000-000",
    Column.USERREF: "0000000000",
}
CELL_PADDING = 14  # the view's margins around a cell's text (Fusion: 2 x 3 px + the grid), rounded up
WARM_SLICE_ROWS = 40  # filter records built per idle turn (under a millisecond)
WARM_BULK_ROWS = 50  # an insert this large (a listing) is warmed at once
HOLD_CAP_MS = 3000  # rows held under the pointer catch up at least this often
ZOOM_STEPS = (70, 80, 90, 100, 110, 125, 140, 160, 180, 200)
KILL_HOLD_CHOICES = (0.0, 5.0, 10.0, 30.0, 60.0)  # Orders > Kill switch holds flat for
PAINT_HOLD_MS = 60  # the longest the window waits to repaint after a cancel starts
BUSY_SHOW_MS = 150  # "working (n)" shows this long after the count changes (a quick task never flickers it)
_BAD_STATES = (CancelState.FAILED, CancelState.REJECTED, CancelState.UNKNOWN)
_POINTING = frozenset({QEvent.Type.MouseMove, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel})

NO_ACCOUNTS_HINT = (
    "No accounts yet: File > Accounts… adds one (its key goes to the system keychain only). "
    "To try the console first: kraken-cancel --demo"
)
MODE_TEXT = {
    "demo": (
        "DEMO",
        "DEMO — a simulated exchange on this computer: these are not real orders, nothing reaches Kraken",
    ),
    "simulator": (
        "SIMULATOR",
        "SIMULATOR — connected to a simulated exchange (--endpoints): these are not Kraken's orders",
    ),
}


def short_time(text: str | None) -> str:
    """A venue's ISO timestamp as local ``HH:MM:SS.mmm`` (the text itself if it is not one)."""
    if not text:
        return "?"
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone()
    return local.strftime("%H:%M:%S.") + f"{local.microsecond // 1000:03d}"


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
        parts.append(f"venue in {short_time(t_in)} out {short_time(t_out)}")
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


def default_widths(fm: QFontMetrics) -> dict[Column, int]:
    """Each column's default width in font ``fm``: its widest typical value or its header."""
    bold = QFont()
    bold.setPointSizeF(QApplication.font().pointSizeF())
    header_fm = QFontMetrics(bold)
    return {
        c: max(fm.horizontalAdvance(WIDTH_SAMPLES[c]), header_fm.horizontalAdvance(HEADERS[c]) + 16)
        + CELL_PADDING
        for c in Column
    }


class MainWindow(QMainWindow):
    """The console's one window.

    Signals:
        closed(): the window was closed (the app then shuts the desk down).

    Rules kept: widgets never await: every command goes through the bridge or the cancel flow;
    every shortcut works with the focus anywhere in the window; the table follows the store row
    by row, and only the Age column repaints on a timer; rows under the pointer stay put
    (``HOLD_CAP_MS`` at most); a bulk cancel of a filtered table repeats the filter; the layout
    (columns, sort, splitter, geometry, theme, zoom, grouping) is saved in ``layout``.

    Parts, for whoever extends it: ``sidebar`` (accounts), ``filter_edit`` / ``count_label`` /
    ``held_label`` (the bar above the table), ``stack`` holding ``table`` (orders, key columns
    pinned) and ``groups_view`` (by symbol), ``activity_dock``, the status bar's
    ``last_action`` / ``busy_label`` / ``deadman_label`` / ``exchange_label``, ``mode_strip``,
    ``desktop`` (tray icon, notifications, global hotkey: ``app.ui.desktop``).
    """

    closed = Signal()

    def __init__(
        self,
        bridge: DeskBridge,
        *,
        accounts_store: AccountsStore | None = None,
        instruments: InstrumentBook | None = None,
        layout: LayoutStore | None = None,
        mode: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("main_window")
        self.mode = mode if mode in MODE_TEXT else None
        self.setWindowTitle(
            f"Kraken Cancel Console — {MODE_TEXT[self.mode][0]}" if self.mode else "Kraken Cancel Console"
        )
        self.bridge = bridge
        self.accounts_store = accounts_store
        self.layout_store = layout or LayoutStore(None)
        self.model = bridge.orders_model
        if instruments is not None:
            self.model.set_instruments(instruments)
        self.instruments = self.model.instruments
        self.proxy = OrdersFilterProxy(self.model)
        self.groups = SymbolGroupsModel(self.proxy, self)
        self.commands = WindowActions(self)
        self.flow = CancelFlow(bridge, self)
        self.quit_guard = QuitGuard(self, bridge, close=self.close, message=self.show_message)
        self._menu: QMenu | None = None
        self._dialogs: list[QDialog] = []
        self._zoom = 100
        self._base_point_size = QApplication.font().pointSizeF()
        self._theme_choice = ThemeChoice.SYSTEM
        self._markets_asked: set[str] = set(bridge.desk.specs)
        # Set and started by ``app.ui.app.open_window``, which stops it when the window closes.
        self.gc_collector: MainThreadCollector | None = None

        self._build_table()
        self._build_groups()
        self._build_central()
        self._build_activity()
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        if accounts_store is not None and not bridge.desk.status:
            self.show_message(NO_ACCOUNTS_HINT)
        self._build_timers()
        self._connect()
        for status in bridge.desk.status.values():
            self.sidebar.update_status(status)
        self._update_banner()
        self._update_deadman()
        self.resize(1280, 760)
        self.restore_layout()
        # Tray icon, notifications, global hotkey: after the menus and the layout store are ready.
        self.desktop = DesktopIntegration(self)
        self.table.setFocus()

    # --- construction ---------------------------------------------------------------------------

    def _build_table(self) -> None:
        t = self.table = FrozenColumnsTable(FROZEN_COLUMNS)
        t.setObjectName("orders_table")
        t.setModel(self.proxy)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setWordWrap(False)
        t.setAlternatingRowColors(True)
        t.frozen.setAlternatingRowColors(True)
        t.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        t.verticalHeader().hide()
        # Fixed row heights: the view never measures 10,000 rows.
        t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = t.horizontalHeader()
        header.setSectionsMovable(True)
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        t.frozen.horizontalHeader().setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # arrival order until a header is clicked
        t.setSortingEnabled(True)
        # A child of the table itself, above the pinned columns' view, laid over the rows.
        self.no_matches = QLabel(t)
        self.no_matches.setObjectName("no_matches")
        self.no_matches.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_matches.setWordWrap(True)
        self.no_matches.hide()
        self._apply_row_height()

    def _build_groups(self) -> None:
        v = self.groups_view = QTreeView()
        v.setObjectName("groups_view")
        v.setModel(self.groups)
        v.setUniformRowHeights(True)
        v.setAlternatingRowColors(True)
        v.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        v.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        v.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        v.setWordWrap(False)
        v.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        v.setAllColumnsShowFocus(True)
        v.header().setSectionsMovable(False)
        v.header().setStretchLastSection(True)
        self.groups.rowsInserted.connect(self._span_groups)
        self.groups.modelReset.connect(self._span_groups)
        self.groups.layoutChanged.connect(self._span_groups)
        self._apply_default_widths()

    def _build_central(self) -> None:
        self.sidebar = AccountsSidebar(count_of=self.bridge.desk.store.count)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("filter")
        self.filter_edit.setPlaceholderText(
            "Filter (Ctrl+F): btc sell · side:sell · type:stop · acct:main · venue:futures · >notional:10k"
        )
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip(
            "Every word must match, each in its own field: “btc sell” = BTC markets, sell side.\n"
            "field:value — sym, side, type, status, tif, flag, acct, venue, quote, id, cl, ref, cancel\n"
            "compare — >notional:10000, <price:100, >=qty:1, >pct:0, >age:1h;  -word excludes\n"
            "Enter goes to the table; Ctrl+A selects what is shown."
        )
        self.count_label = QLabel()
        self.count_label.setObjectName("count")
        self.held_label = QLabel()
        self.held_label.setObjectName("held")
        self.held_label.setToolTip(
            "The table holds still while the pointer is on it: new orders and re-sorting wait, "
            "orders that left are struck through. They catch up when the pointer leaves."
        )
        self.held_label.hide()
        self.filter_error = ElidedLabel()
        self.filter_error.setObjectName("filter_error")
        self.filter_error.hide()
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.mode_strip = QLabel(MODE_TEXT[self.mode][1] if self.mode else "")
        self.mode_strip.setObjectName("mode_strip")
        self.mode_strip.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.mode_strip.setVisible(self.mode is not None)

        right = QWidget()
        v = QVBoxLayout(right)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.banner)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.filter_error, 1)
        top.addWidget(self.held_label)
        top.addWidget(self.count_label)
        top.setContentsMargins(0, 2, 6, 2)
        top.setSpacing(8)
        v.addLayout(top)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.groups_view)
        v.addWidget(self.stack, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("splitter")
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self._default_splitter()

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.mode_strip)
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

    def _build_activity(self) -> None:
        """The Activity dock: one row per action, its orders and their steps (``app.ui.activity``)."""
        self.activity_panel = ActivityPanel(self.bridge.activity_model, self._activity_accounts)
        self.history_window: HistoryWindow | None = None
        self.activity_panel.history_asked.connect(lambda _account, order_id: self.open_history(order_id))
        self.activity = self.activity_panel.view
        self.activity.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.activity_dock = QDockWidget("Activity", self)
        self.activity_dock.setObjectName("activity_dock")
        self.activity_dock.setWidget(self.activity_panel)
        self.activity_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable
        )
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.activity_dock)
        self.resizeDocks([self.activity_dock], [200], Qt.Orientation.Vertical)
        self.bridge.account_changed.connect(lambda _s: self.activity_panel.refresh_accounts())
        self.bridge.account_removed.connect(lambda _a: self.activity_panel.refresh_accounts())

    def _activity_accounts(self) -> list[tuple[str, str]]:
        return [(aid, st.name) for aid, st in self.bridge.desk.status.items()]

    def open_history(self, order_id: str | None = None) -> HistoryWindow:
        """Ctrl+H: the History window over this session's audit file (one window, brought
        forward and searched again if already open); ``order_id``: searched for it (an order
        double-clicked in Activity)."""
        if self.history_window is None:
            self.history_window = HistoryWindow(
                self.bridge.desk.audit.path,
                account_name=self.bridge.account_name,
                market_name=self.bridge.market_name_of,
                run=self.bridge.run,
                mode=self.mode,
                parent=self,
            )
        else:
            self.history_window.refresh_accounts()
        if order_id is not None:
            self.history_window.find_order(order_id)
        else:
            self.history_window.search()
        self.history_window.show()
        self.history_window.raise_()
        self.history_window.activateWindow()
        return self.history_window

    def _apply_activity_widths(self) -> None:
        self.activity_panel.apply_widths()

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
        self.kill_button = kill_button if isinstance(kill_button, QToolButton) else None
        if self.kill_button is not None:
            self.kill_button.setObjectName("kill_switch_button")
        tb.addSeparator()
        tb.addAction(c.refresh)
        tb.addAction(c.deadman)
        tb.addSeparator()
        tb.addAction(c.group_by_symbol)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)

    def _build_menus(self) -> None:
        c = self.commands
        bar = self.menuBar()
        file_menu = self.file_menu = bar.addMenu("&File")
        file_menu.addAction(c.accounts)
        file_menu.addSeparator()
        file_menu.addAction(c.quit)
        orders = bar.addMenu("&Orders")
        for a in (c.cancel_selected, c.cancel_account, c.kill_switch):
            orders.addAction(a)
        orders.addSeparator()
        for a in (c.cancel_symbol_buys, c.cancel_symbol_sells, c.cancel_symbol_all):
            orders.addAction(a)
        orders.addSeparator()
        for a in (c.select_all, c.copy_ids, c.find, c.clear, c.refresh):
            orders.addAction(a)
        hold_menu = orders.addMenu("Kill switch holds flat for")
        hold_menu.setObjectName("kill_hold_menu")
        self._hold_actions: list[QAction] = []
        for seconds in KILL_HOLD_CHOICES:
            act = hold_menu.addAction("no hold (one wave)" if seconds == 0 else f"{seconds:g} s")
            act.setCheckable(True)
            act.setData(seconds)
            act.triggered.connect(lambda _c=False, s=seconds: self.set_kill_hold(s))
            self._hold_actions.append(act)
        orders.addSeparator()
        orders.addAction(c.deadman)
        view = self.view_menu = bar.addMenu("&View")
        view.addAction(c.group_by_symbol)
        view.addAction(c.columns)
        view.addAction(self.activity_dock.toggleViewAction())
        view.addAction(c.history)
        view.addSeparator()
        theme_menu = view.addMenu("Theme")
        for a in c.theme_actions.values():
            theme_menu.addAction(a)
        for a in (c.zoom_in, c.zoom_out, c.zoom_reset):
            view.addAction(a)
        view.addSeparator()
        view.addAction(c.reset_layout)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(c.shortcuts)
        self.help_actions = HelpActions(self, help_menu, self.bridge, self._keep_dialog)
        if self.accounts_store is None:
            c.accounts.setEnabled(False)
            c.accounts.setToolTip("Accounts are fixed in this mode (demo or --config).")

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.last_action = ElidedLabel("")
        self.last_action.setObjectName("last_action")
        sb.addWidget(self.last_action, 1)
        self.exchange_label = QLabel()
        self.exchange_label.setObjectName("exchange_status")
        self.deadman_label = QLabel()
        self.deadman_label.setObjectName("deadman_status")
        self.busy_label = QLabel()
        self.busy_label.setObjectName("busy")
        self.kill_label = QLabel()
        self.kill_label.setObjectName("kill_switch_status")
        self.kill_label.hide()
        self._kill_state: KillState | None = None
        self.progress_label = ProgressLabel(time.monotonic)
        sb.addPermanentWidget(self.kill_label)
        sb.addPermanentWidget(self.progress_label)
        sb.addPermanentWidget(self.busy_label)
        sb.addPermanentWidget(self.deadman_label)
        sb.addPermanentWidget(self.exchange_label)
        if not self.last_action.full_text():
            self.show_message("Ready.")

    def _build_timers(self) -> None:
        self._pending_message: str | None = None
        # Child timers, not QTimer.singleShot(callable): they die with the window, so they can
        # never call into a deleted one.
        self._paint_hold = QTimer(self)
        self._paint_hold.setSingleShot(True)
        self._paint_hold.setInterval(PAINT_HOLD_MS)
        self._paint_hold.timeout.connect(self._release_paint)
        # "working (n)" is written a moment later, at most once per BUSY_SHOW_MS: a label's new
        # text relayouts the status bar on the next loop turn, the turn a cancel's first request
        # waits for (bench: key press to wire).
        self._busy = 0
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_SHOW_MS)
        self._busy_timer.timeout.connect(self._show_busy)
        self.age_timer = QTimer(self)
        self.age_timer.setInterval(1000)
        self.age_timer.timeout.connect(self.repaint_ages)
        self.age_timer.start()
        self.hold_cap = QTimer(self)
        self.hold_cap.setSingleShot(True)
        self.hold_cap.setInterval(HOLD_CAP_MS)
        self.hold_cap.timeout.connect(self._hold_cap_reached)
        # Filter records are built in idle slices after a listing (a slice is a few ms: a key
        # press waits at most that long).
        self._warm_timer = QTimer(self)
        self._warm_timer.setInterval(0)
        self._warm_timer.timeout.connect(self._warm_slice)
        self._warm_row = 0
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(1000)
        self._save_timer.timeout.connect(self.save_layout)
        # Countdowns tick: reconnect waits, "down for", the dead man's switch, the kill switch.
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(1000)
        self.status_timer.timeout.connect(self._tick_status)
        self.status_timer.start()

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
        c.history.triggered.connect(lambda: self.open_history())
        c.quit.triggered.connect(self.close)
        c.group_by_symbol.toggled.connect(self.set_grouped)
        c.cancel_symbol_buys.triggered.connect(lambda: self.cancel_current_market(Side.BUY))
        c.cancel_symbol_sells.triggered.connect(lambda: self.cancel_current_market(Side.SELL))
        c.cancel_symbol_all.triggered.connect(lambda: self.cancel_current_market(None))
        c.zoom_in.triggered.connect(lambda: self.step_zoom(+1))
        c.zoom_out.triggered.connect(lambda: self.step_zoom(-1))
        c.zoom_reset.triggered.connect(lambda: self.set_zoom(100))
        c.columns.triggered.connect(lambda: self._column_menu(self.table.horizontalHeader().rect().center()))
        c.reset_layout.triggered.connect(self.reset_layout)
        for choice, action in c.theme_actions.items():
            action.triggered.connect(lambda _checked=False, ch=choice: self.set_theme(ch))
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_scheme_changed)
        self.filter_edit.installEventFilter(self)
        self.filter_edit.textChanged.connect(self._filter_changed)
        self.filter_edit.returnPressed.connect(self.focus_table)
        self.sidebar.current_account_changed.connect(self.proxy.set_account)
        self.sidebar.current_account_changed.connect(lambda _a: self._update_count())
        self.sidebar.cancel_account_requested.connect(self.flow.cancel_account)
        self.sidebar.refresh_requested.connect(lambda aid: self.bridge.refresh(aid))
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.groups_view.customContextMenuRequested.connect(self._groups_menu)
        for h in (self.table.horizontalHeader(), self.table.frozen.horizontalHeader()):
            h.customContextMenuRequested.connect(self._column_menu)
        header = self.table.horizontalHeader()
        for sig in (header.sectionResized, header.sectionMoved, header.sortIndicatorChanged):
            sig.connect(self._layout_touched)
        self.table.frozen.horizontalHeader().sectionResized.connect(self._layout_touched)
        self.splitter.splitterMoved.connect(self._layout_touched)
        self._viewports = (self.table.viewport(), self.table.frozen.viewport(), self.groups_view.viewport())
        for view in (self.table, self.groups_view):
            view.installEventFilter(self)
        for vp in self._viewports:
            vp.setMouseTracking(True)  # moves without a button pressed: the trader is pointing
            vp.installEventFilter(self)
        self.model.held_changed.connect(self._held_changed)
        self.model.texts_changed.connect(self._texts_changed)
        self.flow.message.connect(self.show_message)
        b.failed.connect(lambda text: self.show_message(text, error=True))
        b.cancel_started.connect(self._cancel_started)
        b.ledger_transitioned.connect(self._ledger_moved)
        b.cancel_settled.connect(self._cancel_settled)
        b.account_changed.connect(self._account_changed)
        b.account_removed.connect(self._account_removed)
        b.deadman_changed.connect(self._deadman_changed)
        b.kill_changed.connect(self._kill_changed)
        b.cancel_progress.connect(self.progress_label.update_progress)
        b.busy_changed.connect(self._busy_changed)
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
        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            signal.connect(self._counts_due)
        self.model.modelReset.connect(self._warm_from_start)
        self.model.texts_changed.connect(self._warm_from_start)
        self.model.rowsInserted.connect(self._warm_inserted)
        self._update_count()

    # --- sizes ------------------------------------------------------------------------------------

    def _apply_row_height(self) -> None:
        h = self.table.fontMetrics().height() + 6
        self.table.set_row_height(h)

    def _apply_default_widths(self) -> None:
        widths = default_widths(self.table.fontMetrics())
        for col, width in widths.items():
            self.table.set_column_width(col, width)
            self.groups_view.setColumnWidth(col, width)
        self.table.update_frozen_geometry()

    def _default_splitter(self) -> None:
        self.splitter.setSizes([self.sidebar.preferred_width(), 1000])

    # --- reading the selection -------------------------------------------------------------------

    @property
    def grouped(self) -> bool:
        """Whether the orders are shown grouped by symbol."""
        return self.stack.currentWidget() is self.groups_view

    def selected_orders(self) -> list[Order]:
        """The orders selected (visible rows only, not rows that already left), top to bottom.

        Grouped: a selected symbol row stands for the orders it shows.
        """
        if self.grouped:
            out: dict[Any, Order] = {}
            for index in self._grouped_rows():
                order = self.groups.order_at(index)
                if order is not None:
                    out[order.key] = order
                    continue
                g = self.groups.group_at(index)
                if g is not None:
                    for o in g.of_side(None):
                        out.setdefault(o.key, o)
            return [o for o in out.values() if not self.model.is_leaving(o.key)]
        sel = self.table.selectionModel()
        rows = sorted({i.row() for i in sel.selectedRows()})
        orders = [self.proxy.order_at(r) for r in rows]
        return [o for o in orders if not self.model.is_leaving(o.key)]

    def _grouped_rows(self) -> list[QModelIndex]:
        """One index (column 0) per selected row of the grouped view, top to bottom."""
        seen: dict[tuple[int, int], QModelIndex] = {}
        for index in self.groups_view.selectionModel().selectedIndexes():
            key = (int(index.internalId()), index.row())
            if key not in seen:
                seen[key] = index.siblingAtColumn(0)
        return list(seen.values())

    def filter_note(self) -> str | None:
        """What the table is filtered by, in words (None when it shows everything)."""
        parts: list[str] = []
        text = self.proxy.text.strip()
        if text:
            parts.append(f"filter “{text}”")
        account = self.proxy.account
        if account is not None:
            parts.append(f"account {self.bridge.account_name(account)}")
        if not parts:
            return None
        return f"{' and '.join(parts)}: {self.proxy.rowCount():,} of {self.model.rowCount():,} orders shown"

    def current_order(self) -> Order | None:
        """The order of the current row (the one the keyboard is on), else the first selected."""
        if self.grouped:
            index = self.groups_view.currentIndex()
            order = self.groups.order_at(index)
            if order is None:
                g = self.groups.group_at(index)
                return g.of_side(None)[0] if g is not None and g.keys else None
            return order
        index = self.table.currentIndex()
        if index.isValid():
            return self.proxy.order_at(index.row())
        selected = self.selected_orders()
        return selected[0] if selected else None

    # --- commands ---------------------------------------------------------------------------------

    def cancel_selected(self) -> None:
        """Delete: cancel the selection (one order at once; more after confirming).

        Grouped, a lone selected symbol row is "everything for this symbol".
        """
        if self.grouped:
            rows = self._grouped_rows()
            if len(rows) == 1 and self.groups.order_at(rows[0]) is None:
                g = self.groups.group_at(rows[0])
                if g is not None:
                    self.cancel_market(g.symbol, None)
                    return
        self.flow.cancel_orders(self.selected_orders(), shown=self.filter_note())

    def cancel_current_market(self, side: Side | None) -> None:
        """Ctrl+Shift+B / S / Del: the current row's symbol, its buys, sells or everything."""
        order = self.current_order()
        if order is None:
            self.show_message("Put the cursor on an order of the symbol first.")
            return
        self.cancel_market(self.model.facts(order).symbol, side)

    def cancel_market(self, symbol: str, side: Side | None) -> None:
        """Cancel the buys, sells or everything of one symbol (one name across venues) on every
        account shown; never wider than that symbol."""
        shown = self.proxy.visible_orders() if self.proxy.filtering else self.model.orders()
        orders = [
            o for o in shown if not self.model.is_leaving(o.key) and self.model.facts(o).symbol == symbol
        ]
        note = self.filter_note()
        self.flow.cancel_market(symbol, orders, side, whole_symbol=note is None, shown=note)

    def select_all(self) -> None:
        """Ctrl+A: select every visible row and put the focus on the table (from the filter box
        too: the filter's own text is selected again by Ctrl+F)."""
        view: QAbstractItemView = self.groups_view if self.grouped else self.table
        view.selectAll()
        view.setFocus()

    def focus_filter(self) -> None:
        """Ctrl+F: put the cursor in the filter box."""
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def focus_table(self) -> None:
        """Enter in the filter box: to the table, the cursor on its first row (nothing selected)."""
        view: QAbstractItemView = self.groups_view if self.grouped else self.table
        view.setFocus(Qt.FocusReason.OtherFocusReason)
        model = view.model()
        if not view.currentIndex().isValid() and model is not None and model.rowCount() > 0:
            first = self.table.horizontalHeader().logicalIndexAt(0) if view is self.table else 0
            view.selectionModel().setCurrentIndex(
                model.index(0, first), view.selectionModel().SelectionFlag.NoUpdate
            )

    def clear_selection_or_filter(self) -> None:
        """Esc: stop a running kill switch; else clear the selection; if there is none, clear the
        filter and go back to the table."""
        if self.bridge.stop_kill_switch():
            self.show_message("Stopping the kill switch (requests already sent still settle)…")
            return
        view: QAbstractItemView = self.groups_view if self.grouped else self.table
        if view.selectionModel().hasSelection():
            view.clearSelection()
        elif self.filter_edit.text():
            self.filter_edit.clear()
            view.setFocus()
        else:
            view.setFocus()

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
        """Help > Keyboard shortcuts, sized so that every line shows without scrolling."""
        dialog = ShortcutsDialog(SHORTCUTS, self)
        t = dialog.table
        t.resizeColumnsToContents()
        t.resizeRowsToContents()
        t.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        t.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        height = t.horizontalHeader().height() + t.verticalHeader().length() + 2 * t.frameWidth() + 2
        width = t.verticalHeader().width() + t.horizontalHeader().length() + 2 * t.frameWidth() + 2
        t.setMinimumSize(width, height)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        dialog.adjustSize()
        if screen is not None:
            dialog.resize(min(dialog.width(), screen.width()), min(dialog.height(), screen.height()))
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
        """Put ``text`` in the status bar (local time first; the whole text on hover)."""
        line = f"{theme.fmt_time(time.time())}  {text}"
        self.last_action.set_full_text(line)
        style = theme.text_style("failed") if error else ""
        if self.last_action.styleSheet() != style:
            self.last_action.setStyleSheet(style)

    def last_message(self) -> str:
        """The status bar's last message, whole and without its time."""
        return self.last_action.full_text().split("  ", 1)[-1]

    # --- grouping -------------------------------------------------------------------------------------

    def set_grouped(self, grouped: bool) -> None:
        """Show the orders grouped by symbol (True) or as one table."""
        if self.commands.group_by_symbol.isChecked() != grouped:
            self.commands.group_by_symbol.setChecked(grouped)  # comes back here through toggled
            return
        self.groups.set_active(grouped)
        if grouped:
            self._sync_group_columns()
            self._span_groups()
        self.stack.setCurrentWidget(self.groups_view if grouped else self.table)
        (self.groups_view if grouped else self.table).setFocus()
        self._layout_touched()

    def _sync_group_columns(self) -> None:
        header = self.table.horizontalHeader()
        for col in Column:
            self.groups_view.setColumnHidden(col, not self.table.column_shown(col))
            extra = self.groups_view.indentation() if col == Column.ACCOUNT else 0
            self.groups_view.setColumnWidth(col, self.table.column_width(col) + extra)
        order = [
            *FROZEN_COLUMNS,
            *(c for c in map(header.logicalIndex, range(header.count())) if c not in FROZEN_COLUMNS),
        ]
        gh = self.groups_view.header()
        for visual, logical in enumerate(order):
            if gh.visualIndex(logical) != visual:
                gh.moveSection(gh.visualIndex(logical), visual)

    def _span_groups(self, *_args: object) -> None:
        root = QModelIndex()
        for row in range(self.groups.rowCount()):
            self.groups_view.setFirstColumnSpanned(row, root, True)

    # --- holding rows under the pointer ----------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if (
            watched is self.filter_edit
            and kind == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.matches(QKeySequence.StandardKey.SelectAll)
        ):
            self.select_all()  # Ctrl+A selects the orders shown, from the filter box too
            return True
        if kind in _POINTING and watched in self._viewports:
            # The trader points at rows (moves, clicks, scrolls): hold them still.
            if not self.model.held:
                self.set_held(True)
        elif kind == QEvent.Type.Leave and watched in (self.table, self.groups_view):
            self.set_held(False)
        elif kind == QEvent.Type.Resize and watched is self.table.viewport():
            self._place_no_matches()
        return super().eventFilter(watched, event)

    def set_held(self, held: bool) -> None:
        """Hold the rows still (the pointer is on the table) or let them catch up."""
        self.model.set_held(held)
        self.groups.set_held(held)
        if not held:
            self.hold_cap.stop()
            self._held_changed(self.model.held_count())

    def _held_changed(self, n: int) -> None:
        if n and not self.hold_cap.isActive():
            self.hold_cap.start()
        text = f"{n:,} update{'s' if n != 1 else ''} held" if n else ""
        _set_label(self.held_label, text, theme.text_style("in_flight"))
        if self.held_label.isVisibleTo(self) != bool(n):
            self.held_label.setVisible(bool(n))

    def _hold_cap_reached(self) -> None:
        # The pointer stayed: catch up anyway (the selection follows its orders), and hold again.
        self.model.release_held()
        if self.groups.rowCount() or self.grouped:
            self.groups.set_held(False)
            self.groups.set_held(self.model.held)

    # --- filter --------------------------------------------------------------------------------------

    def _filter_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        errors = self.proxy.query.errors
        if errors:
            self.filter_error.set_full_text("Cannot read the filter: " + "; ".join(errors))
            self.filter_error.setStyleSheet(theme.text_style("failed"))
        self.filter_error.setVisible(bool(errors))
        self._update_count()

    def _update_count(self, *_args: object) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        if self.proxy.filtering:
            text = f"{shown:,} of {total:,} orders"
        else:
            text = f"{total:,} order{'s' if total != 1 else ''}"
        _set_label(self.count_label, text, "")
        self._update_no_matches(shown, total)

    def _update_no_matches(self, shown: int, total: int) -> None:
        query = self.proxy.query
        if query.errors:
            text = "The filter cannot be read, so nothing is shown:\n" + "\n".join(query.errors)
        elif shown == 0 and total > 0 and self.proxy.filtering:
            what = f"“{query.text.strip()}”" if query.text.strip() else "this account"
            text = f"No order matches {what}.\nEsc clears the filter."
        else:
            text = ""
        if self.no_matches.text() != text:
            self.no_matches.setText(text)
        if self.no_matches.isVisibleTo(self.table) != bool(text):
            self.no_matches.setVisible(bool(text))
        if text:
            self.no_matches.setStyleSheet(theme.text_style("dim") + " font-size: 13pt;")
            self._place_no_matches()

    def _place_no_matches(self) -> None:
        vp = self.table.viewport().geometry()
        self.no_matches.setGeometry(vp.x(), vp.y(), vp.width(), min(vp.height(), 160))
        self.no_matches.raise_()

    # --- layout, theme, zoom -----------------------------------------------------------------------------

    def _layout_touched(self, *_args: object) -> None:
        self._save_timer.start()

    def save_layout(self) -> None:
        """Keep the layout in the profile (columns, sort, splitter, geometry, theme, zoom, grouping)."""
        s = self.layout_store
        s.set("table/header", self.table.horizontalHeader().saveState())
        s.set("table/pinned_widths", [self.table.column_width(c) for c in FROZEN_COLUMNS])
        s.set("window/geometry", self.saveGeometry())
        s.set("window/state", self.saveState())
        s.set("splitter", self.splitter.saveState())
        s.set("theme", self._theme_choice.value)
        s.set("zoom", self._zoom)
        s.set("grouped", self.grouped)
        s.sync()

    def restore_layout(self) -> None:
        """Apply the saved layout (or the defaults), theme and zoom included."""
        s = self.layout_store
        choice = str(s.value("theme", ThemeChoice.SYSTEM.value))
        self.set_theme(
            ThemeChoice(choice) if choice in {c.value for c in ThemeChoice} else ThemeChoice.SYSTEM
        )
        zoom = s.value("zoom", 100)
        try:
            zoom_pct = int(zoom)
        except (TypeError, ValueError):
            zoom_pct = 100
        if zoom_pct != 100:
            self.set_zoom(zoom_pct, save=False)
        for key, restore in (
            ("window/geometry", self.restoreGeometry),
            ("window/state", self.restoreState),
            ("splitter", self.splitter.restoreState),
        ):
            value = s.value(key)
            if isinstance(value, QByteArray | bytes):
                restore(QByteArray(value))
        header_state = s.value("table/header")
        header = self.table.horizontalHeader()
        pinned = s.value("table/pinned_widths")
        if isinstance(pinned, list) and len(pinned) == len(FROZEN_COLUMNS):
            for col, width in zip(FROZEN_COLUMNS, pinned, strict=True):
                if str(width).isdigit() and int(width) > 0:
                    self.table.set_column_width(col, int(width))
        if isinstance(header_state, QByteArray | bytes) and header.restoreState(QByteArray(header_state)):
            self.table.refresh_frozen()
            column = header.sortIndicatorSection()
            if 0 <= column < len(Column) and header.isSortIndicatorShown():
                self.proxy.sort(column, header.sortIndicatorOrder())
        grouped = s.value("grouped", False)
        if grouped in (True, "true", 1, "1"):
            self.set_grouped(True)
        try:
            hold = float(s.value("settings/kill_hold_s", DEFAULT_HOLD_S))
        except (TypeError, ValueError):
            hold = DEFAULT_HOLD_S
        self.set_kill_hold(hold if hold in KILL_HOLD_CHOICES else DEFAULT_HOLD_S)

    def reset_layout(self) -> None:
        """View > Reset layout: default columns, widths, sort, splitter, zoom and theme (settings
        such as the kill switch's hold are kept)."""
        self.layout_store.clear()
        self.set_kill_hold(self.flow.kill_hold_s)
        header = self.table.horizontalHeader()
        for col in Column:
            self.table.setColumnHidden(col, False)
            if header.visualIndex(col) != col:
                header.moveSection(header.visualIndex(col), col)
        self.set_zoom(100, save=False)
        self._apply_default_widths()
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.model.sort(-1)
        self._default_splitter()
        self.set_grouped(False)
        self.set_theme(ThemeChoice.SYSTEM)
        self.activity_dock.show()
        self.save_layout()
        self.show_message("Layout reset.")

    def _column_menu(self, pos: QPoint) -> None:
        """The header's right-click: show or hide columns (the key columns always show)."""
        menu = QMenu(self)
        menu.setObjectName("columns_menu")
        for col in Column:
            action = menu.addAction(HEADERS[col])
            action.setCheckable(True)
            action.setChecked(self.table.column_shown(col))
            if col in FROZEN_COLUMNS:
                action.setEnabled(False)
                action.setToolTip("Always shown")
            action.toggled.connect(lambda on, c=col: self.set_column_visible(c, on))
        menu.addSeparator()
        menu.addAction(self.commands.reset_layout)
        menu.aboutToHide.connect(menu.deleteLater)
        self._menu = menu
        menu.popup(self.table.horizontalHeader().mapToGlobal(pos))

    def set_column_visible(self, column: Column, visible: bool) -> None:
        """Show or hide a column (not a key column)."""
        if column in FROZEN_COLUMNS:
            return
        self.table.setColumnHidden(column, not visible)
        self.groups_view.setColumnHidden(column, not visible)
        self._layout_touched()

    def set_theme(self, choice: ThemeChoice) -> None:
        """Light, dark, or following the system."""
        self._theme_choice = choice
        action = self.commands.theme_actions[choice]
        if not action.isChecked():
            action.setChecked(True)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, theme.palette_for(choice))
        self._apply_styles()
        self._layout_touched()

    @property
    def theme_choice(self) -> ThemeChoice:
        """The theme picked (``system`` follows the desktop)."""
        return self._theme_choice

    def _system_scheme_changed(self, *_args: object) -> None:
        if self._theme_choice is ThemeChoice.SYSTEM:
            self.set_theme(ThemeChoice.SYSTEM)

    def _apply_styles(self) -> None:
        if self.kill_button is not None:
            self.kill_button.setStyleSheet(theme.kill_switch_style())
        self.banner.setStyleSheet(theme.banner_style())
        self.mode_strip.setStyleSheet(theme.demo_strip_style())
        self._held_changed(self.model.held_count())
        self._update_deadman()
        self._update_banner()
        for view in (self.table, self.table.frozen, self.groups_view):
            view.viewport().update()
        for status in self.bridge.desk.status.values():
            self.sidebar.update_status(status)

    @property
    def zoom(self) -> int:
        """The text size, in percent of the system's."""
        return self._zoom

    def step_zoom(self, direction: int) -> None:
        """Ctrl+= / Ctrl+-: one step larger or smaller."""
        steps = list(ZOOM_STEPS)
        pos = min(range(len(steps)), key=lambda i: abs(steps[i] - self._zoom))
        pos = max(0, min(len(steps) - 1, pos + direction))
        self.set_zoom(steps[pos])

    def set_zoom(self, percent: int, *, save: bool = True) -> None:
        """Text at ``percent`` of the system size; columns widen in proportion."""
        percent = max(ZOOM_STEPS[0], min(ZOOM_STEPS[-1], percent))
        if percent == self._zoom:
            return
        ratio = percent / self._zoom
        self._zoom = percent
        app = QApplication.instance()
        if isinstance(app, QApplication):
            font = QFont(app.font())
            font.setPointSizeF(self._base_point_size * percent / 100)
            app.setFont(font)
        self._apply_row_height()
        for col in Column:
            self.table.set_column_width(col, round(self.table.column_width(col) * ratio))
        self._apply_activity_widths()
        self.table.update_frozen_geometry()
        self.show_message(f"Zoom {percent}%.")
        if save:
            self._layout_touched()

    # --- reactions ----------------------------------------------------------------------------------

    def repaint_ages(self) -> None:
        """Repaint the visible part of the Age column (ages are computed when painted).

        Not ``dataChanged``: the filter proxy would re-filter all 10,000 rows every second.
        """
        view: QAbstractItemView = self.groups_view if self.grouped else self.table
        vp = view.viewport()
        if view is self.table:
            x = self.table.columnViewportPosition(Column.AGE)
            if x >= 0:
                vp.update(x, 0, self.table.column_width(Column.AGE), vp.height())
        else:
            vp.update()

    def _texts_changed(self) -> None:
        for view in (self.table, self.table.frozen, self.groups_view):
            view.viewport().update()

    def _warm_from_start(self, *_args: object) -> None:
        self._warm_row = 0
        if not self._warm_timer.isActive():
            self._warm_timer.start()

    def _warm_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        # A listing arrives as one bulk insert: warm it. Orders streaming in one by one are
        # built when first filtered (a few each), not by rescanning the book for each.
        if last - first >= WARM_BULK_ROWS:
            self._warm_row = min(self._warm_row, first) if self._warm_timer.isActive() else first
            self._warm_timer.start()

    def _warm_slice(self) -> None:
        self._warm_row = self.model.warm_filter(self._warm_row, WARM_SLICE_ROWS)
        if self._warm_row >= self.model.rowCount():
            self._warm_timer.stop()

    def _counts_due(self, *_args: object) -> None:
        self.sidebar.counts_changed()

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
            color = "good"
        else:
            text = "Dead man's switch: off"
            color = ""
        if errors:
            text += " — " + "; ".join(errors)
            color = "failed"
        _set_label(self.deadman_label, text, theme.text_style(color))
        self.deadman_label.setToolTip(text)
        self.sidebar.update_deadman(dm.states, dm.armed)
        self._update_banner()

    def _tick_status(self) -> None:
        self.sidebar.tick()
        self._update_banner()
        self._show_kill(time.time())
        self.progress_label.tick()

    def _busy_changed(self, n: int) -> None:
        self._busy = n
        if not self._busy_timer.isActive():
            self._busy_timer.start()

    def _show_busy(self) -> None:
        text = f"working ({self._busy})" if self._busy else ""
        if self.busy_label.text() != text:
            self.busy_label.setText(text)

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
        if self._pending_message is not None:
            text, self._pending_message = self._pending_message, None
            self.show_message(text)
        if not self.updatesEnabled():
            self.setUpdatesEnabled(True)

    def _ledger_moved(self, entries: list[LedgerEntry]) -> None:
        # Past "sent": the venue answered, so the request has certainly left.
        if not self.updatesEnabled() and any(
            e.state not in (CancelState.QUEUED, CancelState.SENT) for e in entries
        ):
            self._release_paint()

    def _cancel_started(self, payload: tuple[CancelIntent, Plan | None]) -> None:
        # Nothing of ours runs before the first byte: no repaint, no warming slice.
        self._warm_timer.stop()
        self._hold_paint()
        intent, plan = payload
        if plan is None:  # the kill switch plans per account, wave by wave
            self._pending_message = "Kill switch: cancelling everything…"
            return
        n = plan.order_count
        # Written when painting resumes (it could not show before anyway): the status bar's
        # relayout stays off the key press's path.
        self._pending_message = f"{intent.describe()}: sending ({n:,} known order{'s' if n != 1 else ''})…"

    # --- the kill switch ------------------------------------------------------------------------------

    def _kill_changed(self, state: KillState) -> None:
        self._kill_state = state
        self._show_kill(time.time())
        if state.phase in (KillPhase.DONE, KillPhase.STOPPED):
            how = "stopped (Esc)" if state.phase is KillPhase.STOPPED else "done"
            bad = bool(state.problems or state.pending) or any(state.counts.get(s, 0) for s in _BAD_STATES)
            self.show_message(f"Kill switch {how}: {state.summary()}", error=bad)

    def _show_kill(self, now: float) -> None:
        state = self._kill_state
        if state is None or state.phase in (KillPhase.DONE, KillPhase.STOPPED):
            if self.kill_label.isVisible():
                self.kill_label.hide()
            return
        if state.phase is KillPhase.HOLDING and state.hold_until is not None:
            left = max(0.0, state.hold_until - now)
            what = f"holding flat {left:.0f} s"
        else:
            what = "cancelling"
        text = f"KILL SWITCH {what} · {state.summary()} — Esc stops"
        _set_label(self.kill_label, text, theme.text_style("failed") + "font-weight: bold;")
        self.kill_label.setToolTip("\n".join((text, *state.problems)))
        if not self.kill_label.isVisible():
            self.kill_label.show()

    def set_kill_hold(self, seconds: float) -> None:
        """How long the kill switch holds flat after its first wave (kept in the profile)."""
        self.flow.kill_hold_s = seconds
        self.layout_store.set("settings/kill_hold_s", seconds)
        for action in self._hold_actions:
            action.setChecked(float(action.data()) == seconds)

    def _cancel_settled(self, report: CancelReport) -> None:
        self._pending_message = None  # the report says more
        self.progress_label.finished(report.attempt)
        self._release_paint()
        if self._warm_row < self.model.rowCount() and not self._warm_timer.isActive():
            self._warm_timer.start()
        kill = self.bridge.desk.kill
        if kill is not None and kill.running:
            return  # a wave of the kill switch: its own line says it all (each wave is in Activity)
        bad = any(report.counts.get(s, 0) for s in _BAD_STATES) or bool(report.errors)
        self.show_message(format_report(report), error=bad)

    def _account_changed(self, status: AccountStatus) -> None:
        self.sidebar.update_status(status)
        why = f"{status.name} is {status.link.value}" if status.stale else None
        self.model.set_stale(status.account_id, status.live_at, why)
        self._update_banner()
        if self.last_action.full_text().endswith(NO_ACCOUNTS_HINT):
            self.show_message("Ready.")
        spec = self.bridge.desk.specs.get(status.account_id)
        if spec is not None and status.account_id not in self._markets_asked:
            # A new account: its venue's market data (fetched once per venue and host).
            self._markets_asked.add(status.account_id)
            self.bridge.run(self.load_markets([spec]), "instruments", what="loading market data")

    async def load_markets(self, specs: list[AccountSpec]) -> None:
        """Fetch the market data of these accounts' venues (each venue and host once), and say
        in the status bar what could not be loaded."""
        problems = await self.instruments.load(specs)
        if problems:
            self.show_message("; ".join(problems) + " — numbers shown as the orders give them.")

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
        _set_label(self.exchange_label, summary, theme.text_style("failed") if links[LinkState.DOWN] else "")
        now = time.time()
        problems = [
            status_text.link(s, now).long
            for s in statuses
            if s.link in (LinkState.DOWN, LinkState.RECONNECTING)
        ]
        dm = self.bridge.desk.deadman
        if dm.armed:
            problems.extend(
                f"Dead man's switch on {self.bridge.account_name(s.account_id)}: "
                + status_text.deadman(s, now, switch_on=True).long
                for s in dm.states.values()
                if s.failing
            )
        problems.extend(status_text.maintenance_reminder(statuses, dm.states, now))
        text = "\n".join(problems)
        if self.banner.text() != text:
            self.banner.setText(text)
        if self.banner.isVisibleTo(self) != bool(problems):
            self.banner.setVisible(bool(problems))

    # --- context menus --------------------------------------------------------------------------------

    def _add_market_cancels(self, menu: QMenu, symbol: str) -> None:
        where = "on every account shown" if self.proxy.filtering else "on every account"
        for side, text in ((Side.BUY, "all buys"), (Side.SELL, "all sells"), (None, "everything")):
            action = menu.addAction(f"Cancel {text} of {symbol} {where}")
            action.setObjectName(f"market_{'all' if side is None else side.value}")
            action.triggered.connect(lambda _c=False, s=side: self.cancel_market(symbol, s))

    def _order_menu(self, order: Order, selected: list[Order]) -> QMenu:
        menu = QMenu(self)
        menu.setObjectName("orders_menu")
        n = len(selected)
        cancel = menu.addAction("Cancel order" if n == 1 else f"Cancel {n} selected orders")
        cancel.triggered.connect(lambda: self.flow.cancel_orders(selected, shown=self.filter_note()))
        symbol = self.model.facts(order).symbol
        where = self.bridge.account_name(order.account_id)
        sym = menu.addAction(f"Cancel all {symbol} on {where}")
        sym.triggered.connect(lambda: self.flow.cancel_symbol(order.account_id, order.symbol))
        if order.userref is not None:
            ref = order.userref
            uref = menu.addAction(f"Cancel all with userref {ref} on {where}")
            uref.triggered.connect(lambda: self.flow.cancel_userref(order.account_id, ref))
        menu.addSeparator()
        self._add_market_cancels(menu, symbol)
        menu.addSeparator()
        copy = menu.addAction("Copy order id")
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(order.order_id))
        if order.client_id:
            cid = order.client_id
            copy_cl = menu.addAction("Copy client id")
            copy_cl.triggered.connect(lambda: QGuiApplication.clipboard().setText(cid))
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        index: QModelIndex = self.table.indexAt(pos)
        if not index.isValid():
            return
        sel = self.table.selectionModel()
        if not sel.isRowSelected(index.row(), QModelIndex()):
            self.table.selectRow(index.row())
        order = self.proxy.order_at(index.row())
        menu = self._order_menu(order, self.selected_orders())
        self._show_menu(menu, self.table.viewport().mapToGlobal(pos))

    def _groups_menu(self, pos: QPoint) -> None:
        index = self.groups_view.indexAt(pos)
        if not index.isValid():
            return
        sel = self.groups_view.selectionModel()
        if not sel.isSelected(index):
            self.groups_view.setCurrentIndex(index)
        order = self.groups.order_at(index)
        if order is not None:
            menu = self._order_menu(order, self.selected_orders())
        else:
            g = self.groups.group_at(index)
            if g is None:
                return
            menu = QMenu(self)
            menu.setObjectName("group_menu")
            self._add_market_cancels(menu, g.symbol)
        self._show_menu(menu, self.groups_view.viewport().mapToGlobal(pos))

    def _show_menu(self, menu: QMenu, at: QPoint) -> None:
        menu.aboutToHide.connect(menu.deleteLater)
        self._menu = menu
        menu.popup(at)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.quit_guard.may_close():  # the dead man's switch is armed: asked first
            event.ignore()
            return
        try:
            self.save_layout()
        except Exception:  # a layout that cannot be written must not keep the window open
            log.exception("the layout was not saved")
        if self._zoom != 100:  # the application's font goes back as it was (kept in the layout)
            app = QApplication.instance()
            if isinstance(app, QApplication):
                font = QFont(app.font())
                font.setPointSizeF(self._base_point_size)
                app.setFont(font)
        self.age_timer.stop()
        self._warm_timer.stop()
        self.hold_cap.stop()
        for d in list(self._dialogs):
            d.close()
        if self.history_window is not None:
            self.history_window.close()
        event.accept()
        self.closed.emit()

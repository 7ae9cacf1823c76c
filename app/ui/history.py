"""History (Ctrl+H): the audit log across sessions, searched and paged, one order's whole life, CSV."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.ledger import CancelState
from app.desk.history import PAGE_ROWS, AuditReader, HistoryQuery, HistoryRow
from app.ui import theme
from app.ui.activity import intent_text
from app.ui.widgets import ask_csv_path

Index = QModelIndex | QPersistentModelIndex

ROW_ROLE = Qt.ItemDataRole.UserRole + 20
"""The ``HistoryRow`` behind a row."""

SEARCH_DELAY_MS = 250  # typing in a search box searches this long after the last key
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class HistoryColumn(enum.IntEnum):
    """History's columns (the results and an order's life share them)."""

    TIME = 0
    ACCOUNT = enum.auto()
    SYMBOL = enum.auto()
    ORDER_ID = enum.auto()
    STATE = enum.auto()
    REASON = enum.auto()
    ACTION = enum.auto()  # what the trader asked (the action's intent)
    CLIENT_ID = enum.auto()
    ROUND_TRIP = enum.auto()
    ATTEMPT = enum.auto()


HISTORY_HEADERS: dict[HistoryColumn, str] = {
    HistoryColumn.TIME: "Time",
    HistoryColumn.ACCOUNT: "Account",
    HistoryColumn.SYMBOL: "Symbol",
    HistoryColumn.ORDER_ID: "Order id",
    HistoryColumn.STATE: "State",
    HistoryColumn.REASON: "Reason",
    HistoryColumn.ACTION: "Action",
    HistoryColumn.CLIENT_ID: "Client id",
    HistoryColumn.ROUND_TRIP: "Round trip",
    HistoryColumn.ATTEMPT: "Attempt",
}


def fmt_when(ts: float) -> str:
    """``2026-11-27 14:03:05.123`` local time: History spans days, so the date is always there."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int((ts % 1) * 1000):03d}"


_FINAL = frozenset(s.value for s in CancelState if s.is_final)
_BOLD: list[QFont] = []


def _bold() -> QFont:
    if not _BOLD:
        font = QFont()
        font.setBold(True)
        _BOLD.append(font)
    return _BOLD[0]


def state_color(state: str) -> Any:
    """Final states strongest (as in Activity): cancelled green, filled blue, refused red,
    unknown violet; in flight amber."""
    try:
        s = CancelState(state)
    except ValueError:
        return None
    return theme.qcolor(
        {
            CancelState.CANCELLED: "good",
            CancelState.ALREADY_GONE: "text",
            CancelState.FILLED: "filled",
            CancelState.REJECTED: "failed",
            CancelState.FAILED: "failed",
            CancelState.UNKNOWN: "unknown",
        }.get(s, "in_flight")
    )


class HistoryModel(QAbstractTableModel):
    """Audit rows, newest first, read a page at a time as the view scrolls (``fetchMore``).

    Rules kept: a new search replaces the rows (a reset: this is not live data); scrolling down
    appends the next page (``rowsInserted``); only ``PAGE_ROWS`` rows are read per step, so a
    year of audit opens as fast as a day.
    """

    def __init__(
        self,
        reader: AuditReader | None,
        *,
        account_name: Callable[[str], str] | None = None,
        market_name: Callable[[str, str], str] | None = None,
        page_rows: int = PAGE_ROWS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.reader = reader
        self.page_rows = page_rows
        self._account_name = account_name or (lambda a: a)
        self._market_name = market_name or (lambda _venue, symbol: symbol)
        self._rows: list[HistoryRow] = []
        self._query: HistoryQuery | None = None
        self._more = False
        # True while rows change: a view (or Qt's model tester) that asks for more from inside
        # the change's signals is told there is none, so a fetch never nests in a change.
        self._changing = False

    # --- feeding --------------------------------------------------------------------------------

    def search(self, query: HistoryQuery) -> int:
        """Show the first page of ``query``; returns its rows."""
        assert self.reader is not None
        rows = self.reader.page(query, limit=self.page_rows)
        self._changing = True
        self.beginResetModel()
        self._query = query
        self._rows = rows
        self._more = len(rows) == self.page_rows
        self.endResetModel()
        self._changing = False
        return len(rows)

    def show_rows(self, rows: Sequence[HistoryRow]) -> None:
        """Show these rows as they are (an order's life); nothing more to fetch."""
        self._changing = True
        self.beginResetModel()
        self._query = None
        self._rows = list(rows)
        self._more = False
        self.endResetModel()
        self._changing = False

    @property
    def more(self) -> bool:
        """Older rows match beyond those read so far."""
        return self._more

    @property
    def query(self) -> HistoryQuery | None:
        """The search shown (None for rows given as they are)."""
        return self._query

    def row_at(self, row: int) -> HistoryRow:
        """The audit row on ``row``."""
        return self._rows[row]

    # --- Qt API ---------------------------------------------------------------------------------

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._more and not self._changing

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent) or self._query is None or not self._rows or self.reader is None:
            return
        rows = self.reader.page(self._query, after=self._rows[-1].cursor, limit=self.page_rows)
        self._more = len(rows) == self.page_rows
        if rows:
            first = len(self._rows)
            self._changing = True
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
            self._changing = False

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HistoryColumn)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(HistoryColumn):
            if role == Qt.ItemDataRole.DisplayRole:
                return HISTORY_HEADERS[HistoryColumn(section)]
            if role == Qt.ItemDataRole.TextAlignmentRole and section == HistoryColumn.ROUND_TRIP:
                return _RIGHT
        return None

    def text(self, r: HistoryRow, col: HistoryColumn) -> str:
        """A cell's text."""
        match col:
            case HistoryColumn.TIME:
                return fmt_when(r.at)
            case HistoryColumn.ACCOUNT:
                return self._account_name(r.account)
            case HistoryColumn.SYMBOL:
                return self._market_name(r.venue, r.symbol) if r.symbol else ""
            case HistoryColumn.ORDER_ID:
                return r.order_id
            case HistoryColumn.STATE:
                return r.state
            case HistoryColumn.REASON:
                return r.reason or ""
            case HistoryColumn.ACTION:
                return intent_text(r.intent, self._account_name)
            case HistoryColumn.CLIENT_ID:
                return r.client_id or ""
            case HistoryColumn.ROUND_TRIP:
                return "" if r.latency_ms is None else f"{r.latency_ms:.0f} ms"
            case HistoryColumn.ATTEMPT:
                return r.attempt
        return ""

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        col = HistoryColumn(index.column())
        if role == Qt.ItemDataRole.ToolTipRole and col is HistoryColumn.SYMBOL and r.symbol:
            return f"{self.text(r, col)}: {r.venue.capitalize()} calls it {r.symbol}"
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            text = self.text(r, col)
            return text if role == Qt.ItemDataRole.DisplayRole or text else None
        if role == Qt.ItemDataRole.ForegroundRole and col is HistoryColumn.STATE:
            return state_color(r.state)
        if role == Qt.ItemDataRole.FontRole and col is HistoryColumn.STATE and r.state in _FINAL:
            return _bold()
        if role == Qt.ItemDataRole.TextAlignmentRole and col is HistoryColumn.ROUND_TRIP:
            return _RIGHT
        if role == ROW_ROLE:
            return r
        return None


def _table(name: str, model: HistoryModel) -> QTableView:
    view = QTableView()
    view.setObjectName(name)
    view.setModel(model)
    view.verticalHeader().hide()
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.horizontalHeader().setStretchLastSection(True)
    fm = view.fontMetrics()
    view.verticalHeader().setDefaultSectionSize(fm.height() + 6)
    for col, sample in {
        HistoryColumn.TIME: "2026-11-27 00:00:00.000",
        HistoryColumn.ACCOUNT: "Demo Futures",
        HistoryColumn.SYMBOL: "PF_XBTUSD",
        HistoryColumn.ORDER_ID: "OMWMWM-WMWMW-MWMWMW",
        HistoryColumn.STATE: "acknowledged",
        HistoryColumn.REASON: "EOrder:Unknown order (already gone)",
        HistoryColumn.ACTION: "cancel all on demo-spot",
        HistoryColumn.CLIENT_ID: "my-client-id-01",
        HistoryColumn.ROUND_TRIP: "Round trip",
    }.items():
        view.horizontalHeader().resizeSection(col, fm.horizontalAdvance(sample) + 18)
    return view


class HistoryWindow(QWidget):
    """The History window: search fields above the results, an order's whole life below.

    Rules kept: every read is one indexed page (``app.desk.history``) on the GUI thread; the CSV
    export of every match runs in a thread with its own connection, as a named bridge task;
    nothing here opens a modal loop (the file dialog is opened with ``open()``).
    """

    def __init__(
        self,
        audit_path: Path,
        *,
        account_name: Callable[[str], str] | None = None,
        market_name: Callable[[str, str], str] | None = None,
        run: Callable[..., asyncio.Task[Any]] | None = None,
        mode: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """Build the window (not shown).

        Args:
            audit_path: the audit file this session writes (demo and simulator runs have their own).
            account_name: what the trader calls an account id.
            market_name: the market's one name for a (venue, symbol) as stored (``BTC/USD``
                for Spot's ``XBT/USD``): shown, and searched as well as Kraken's names.
            run: the bridge's ``run`` (coroutine, task name, ``what=``): runs the export.
            mode: ``"demo"`` or ``"simulator"``, said in the title (their audit is kept apart).
        """
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("history_window")
        self.audit_path = audit_path
        self.reader = AuditReader(audit_path)
        self._account_name = account_name or (lambda a: a)
        self._market_name = market_name or (lambda _venue, symbol: symbol)
        self._run = run
        self.setWindowTitle(f"History — {mode} audit log" if mode else "History — audit log")
        names = self._account_name, self._market_name
        self.model = HistoryModel(self.reader, account_name=names[0], market_name=names[1], parent=self)
        self.life_model = HistoryModel(None, account_name=names[0], market_name=names[1], parent=self)
        self.export_task: asyncio.Task[int] | None = None

        self.ids = QLineEdit()
        self.ids.setObjectName("history_ids")
        self.ids.setPlaceholderText("Order, client or attempt id (or its start)")
        self.ids.setClearButtonEnabled(True)
        self.symbol = QLineEdit()
        self.symbol.setObjectName("history_symbol")
        self.symbol.setPlaceholderText("Symbol, e.g. BTC/USD")
        self.symbol.setClearButtonEnabled(True)
        self.symbol.setMaximumWidth(self.fontMetrics().horizontalAdvance("PF_XBTUSD_XXXXXX") + 30)
        self.account = QComboBox()
        self.account.setObjectName("history_account")
        self.since_on = QCheckBox("From")
        self.since = QDateEdit(QDate.currentDate().addDays(-7))
        self.until_on = QCheckBox("to")
        self.until = QDateEdit(QDate.currentDate())
        for check, date in ((self.since_on, self.since), (self.until_on, self.until)):
            date.setCalendarPopup(True)
            date.setDisplayFormat("yyyy-MM-dd")
            date.setEnabled(False)
            check.toggled.connect(date.setEnabled)
            check.toggled.connect(lambda _on: self.search())
            date.dateChanged.connect(lambda _d: self.search())
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("history_search")
        self.export = QPushButton("Export CSV…")
        self.export.setObjectName("history_export")
        self.export.setToolTip("Save every row the search finds (not only those shown) as CSV")
        self.status = QLabel()
        self.status.setObjectName("history_status")
        self.results = _table("history_results", self.model)
        self.life_title = QLabel("Select a row to see the whole life of its order's cancels.")
        self.life_title.setObjectName("history_life_title")
        self.life = _table("history_life", self.life_model)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        bar.addWidget(self.ids, 2)
        bar.addWidget(self.symbol, 1)
        bar.addWidget(self.account)
        for w in (self.since_on, self.since, self.until_on, self.until, self.search_button, self.export):
            bar.addWidget(w)
        lower = QWidget()
        lower_box = QVBoxLayout(lower)
        lower_box.setContentsMargins(0, 4, 0, 0)
        lower_box.addWidget(self.life_title)
        lower_box.addWidget(self.life, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.results)
        split.addWidget(lower)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        box = QVBoxLayout(self)
        box.addLayout(bar)
        box.addWidget(self.status)
        box.addWidget(split, 1)

        self._delay = QTimer(self)
        self._delay.setSingleShot(True)
        self._delay.setInterval(SEARCH_DELAY_MS)
        self._delay.timeout.connect(self.search)
        for edit in (self.ids, self.symbol):
            edit.textChanged.connect(lambda _t: self._delay.start())
            edit.returnPressed.connect(self.search)
        self.account.activated.connect(lambda _i: self.search())
        self.search_button.clicked.connect(self.search)
        self.export.clicked.connect(self.ask_export)
        self.results.selectionModel().currentRowChanged.connect(lambda cur, _prev: self._show_life(cur))
        self.model.rowsInserted.connect(lambda *_a: self._say_count())
        QShortcut(QKeySequence("Ctrl+F"), self, self.ids.setFocus)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self, self.close)
        self.resize(1280, 720)
        self.refresh_accounts()
        self.search()

    # --- searching ------------------------------------------------------------------------------

    def refresh_accounts(self) -> None:
        """Fill the account choice with every account the log names (keeping the choice)."""
        current = self.account.currentData()
        self.account.clear()
        self.account.addItem("All accounts", None)
        for aid in self.reader.accounts():
            name = self._account_name(aid)
            self.account.addItem(name if name == aid else f"{name} ({aid})", aid)
        self.account.setCurrentIndex(max(self.account.findData(current), 0))

    def query(self) -> HistoryQuery:
        """The search the fields describe (dates are local days, the last one included)."""

        def midnight(d: QDate) -> float:
            return dt.datetime(d.year(), d.month(), d.day()).timestamp()

        symbol = self.symbol.text().strip()
        return HistoryQuery(
            ids=self.ids.text().strip(),
            symbol=symbol,
            symbols=self._venue_symbols(symbol),
            account=self.account.currentData(),
            since=midnight(self.since.date()) if self.since_on.isChecked() else None,
            until=midnight(self.until.date().addDays(1)) if self.until_on.isChecked() else None,
        )

    def _venue_symbols(self, name: str) -> tuple[str, ...]:
        """The stored symbols whose market is called ``name`` (any case)."""
        want = name.casefold()
        if not want:
            return ()
        return tuple(
            s for s, venue in self.reader.symbol_venues() if self._market_name(venue, s).casefold() == want
        )

    def find_order(self, order_id: str) -> int:
        """Search one order id over every account, symbol and date; its life shows below."""
        for w in (self.ids, self.symbol, self.account, self.since_on, self.until_on):
            w.blockSignals(True)
        self.ids.setText(order_id)
        self.symbol.clear()
        self.account.setCurrentIndex(0)
        self.since_on.setChecked(False)
        self.until_on.setChecked(False)
        self.since.setEnabled(False)
        self.until.setEnabled(False)
        for w in (self.ids, self.symbol, self.account, self.since_on, self.until_on):
            w.blockSignals(False)
        return self.search()

    def search(self) -> int:
        """Run the search the fields describe; returns the rows of its first page."""
        self._delay.stop()
        t0 = time.perf_counter()
        n = self.model.search(self.query())
        self._took_ms = (time.perf_counter() - t0) * 1000
        self._say_count()
        if n:
            self.results.selectRow(0)
        else:
            self._show_life(QModelIndex())
        return n

    def _say_count(self) -> None:
        n = self.model.rowCount()
        if not self.reader.path.exists():
            text = "Nothing audited yet: the audit log is written with the first cancel."
        elif n == 0:
            text = "Nothing found."
        elif self.model.more:
            text = f"Newest {n:,} rows shown; older ones load as you scroll."
        else:
            text = f"{n:,} row{'s' if n != 1 else ''} found."
        self.status.setText(f"{text}   ({self._took_ms:.0f} ms; {self.audit_path})")

    def _show_life(self, index: QModelIndex) -> None:
        row = index.data(ROW_ROLE) if index.isValid() else None
        if not isinstance(row, HistoryRow):
            self.life_model.show_rows([])
            self.life_title.setText("Select a row to see the whole life of its order's cancels.")
            return
        life = self.reader.order_life(row.account, row.order_id)
        self.life_model.show_rows(life)
        symbol = self._market_name(row.venue, row.symbol) if row.symbol else ""
        self.life_title.setText(life_summary(row, life, self._account_name(row.account), symbol))

    # --- export ---------------------------------------------------------------------------------

    def ask_export(self) -> None:
        """Export CSV…: a file dialog (not modal), then ``export_csv``."""
        ask_csv_path(self, "History", "history", self.export_csv)

    def export_csv(self, path: Path) -> asyncio.Task[int]:
        """Write every row the search finds to ``path``, in a thread; the task's result is the
        number of rows (the status line says it when done)."""
        query = self.model.query or self.query()
        folder = self.audit_path

        def write() -> int:
            reader = AuditReader(folder)  # its own connection: the window keeps reading meanwhile
            try:
                return reader.export_csv(query, path)
            finally:
                reader.close()

        self.export.setEnabled(False)
        self.status.setText(f"Exporting to {path}…")
        coro = asyncio.to_thread(write)
        if self._run is not None:
            task: asyncio.Task[int] = self._run(coro, "history-export", what="History export")
        else:
            task = asyncio.get_running_loop().create_task(coro, name="history-export")
        task.add_done_callback(lambda t: self._exported(t, path))
        self.export_task = task
        return task

    def _exported(self, task: asyncio.Task[int], path: Path) -> None:
        self.export.setEnabled(True)
        if task.cancelled():
            self.status.setText("Export stopped.")
        elif task.exception() is not None:
            self.status.setText(f"Export failed: {task.exception()}")
        else:
            self.status.setText(f"Exported {task.result():,} rows to {path}")

    def closeEvent(self, event: Any) -> None:
        self.reader.close()
        super().closeEvent(event)


def life_summary(row: HistoryRow, life: Sequence[HistoryRow], account: str, symbol: str) -> str:
    """``O… on Main spot (XBT/USD): 2 cancel attempts; last: cancelled 2026-11-27 14:03:05``."""
    attempts = list(dict.fromkeys(r.attempt for r in life))
    last = life[-1] if life else row
    what = f"{last.state} ({last.reason})" if last.reason else last.state
    n = len(attempts)
    return (
        f"{row.order_id} on {account}"
        + (f" ({symbol})" if symbol else "")
        + f": {n} cancel attempt{'s' if n != 1 else ''}; last: {what} at {fmt_when(last.at)[:19]}"
    )

"""Qt models over the desk: the live orders table and its filter proxy (Activity: ``app.ui.activity``)."""

from __future__ import annotations

import bisect
import enum
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont

from app.core.ledger import Outcome
from app.core.orders import Order, OrderKey
from app.desk.instruments import InstrumentBook
from app.desk.orderfacts import STATUSES, OrderFacts, facts_of
from app.ui import theme
from app.ui.filter_query import (
    FilterRecord,
    Query,
    account_words,
    cancel_words,
    kind_words,
    market_words,
    one_spelling,
    parse,
    state_words,
)

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
"""Raw values for sorting: floats and strings, so Qt compares them in C++ (no Python lessThan)."""
ORDER_ROLE = Qt.ItemDataRole.UserRole + 2
"""The ``Order`` behind a row."""
LEAVING_ROLE = Qt.ItemDataRole.UserRole + 3
"""True on a row whose order left the book while updates are held (shown dimmed, then removed)."""
FLASH_ROLE = Qt.ItemDataRole.UserRole + 4
"""True on a row flashing (a fill, a cancel elsewhere or a failed cancel just happened to it)."""
FLASH_S = 1.5  # how long a flashed row stays highlighted
FLASH_MAX = 500  # rows highlighted at once at most: a 10,000-order burst flashes a sample, cheaply

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter

Index = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    """The orders table's columns, in their default order: the key columns first (they stay on
    screen when the table scrolls sideways), the cancel state right beside them."""

    ACCOUNT = 0
    SYMBOL = enum.auto()
    SIDE = enum.auto()
    CANCEL = enum.auto()
    TYPE = enum.auto()
    LIMIT = enum.auto()
    TRIGGER = enum.auto()
    QUANTITY = enum.auto()
    NOTIONAL = enum.auto()
    FILLED = enum.auto()
    PCT_FILLED = enum.auto()
    STATUS = enum.auto()
    TIF = enum.auto()
    FLAGS = enum.auto()
    AGE = enum.auto()
    VENUE = enum.auto()
    ORDER_ID = enum.auto()
    CLIENT_ID = enum.auto()
    USERREF = enum.auto()


FROZEN_COLUMNS: tuple[Column, ...] = (Column.ACCOUNT, Column.SYMBOL, Column.SIDE, Column.CANCEL)
"""Always shown, always first: which order, on which account, which way, and its cancel."""

HEADERS: dict[Column, str] = {
    Column.ACCOUNT: "Account",
    Column.SYMBOL: "Symbol",
    Column.SIDE: "Side",
    Column.CANCEL: "Cancel state",
    Column.TYPE: "Type",
    Column.LIMIT: "Limit price",
    Column.TRIGGER: "Trigger price",
    Column.QUANTITY: "Quantity",
    Column.FILLED: "Filled",
    Column.PCT_FILLED: "% filled",
    Column.NOTIONAL: "Notional",
    Column.STATUS: "Status",
    Column.TIF: "TIF",
    Column.FLAGS: "Flags",
    Column.AGE: "Age",
    Column.VENUE: "Venue",
    Column.ORDER_ID: "Order id",
    Column.CLIENT_ID: "Client id",
    Column.USERREF: "Userref",
}
HEADER_TIPS: dict[Column, str] = {
    Column.CANCEL: "Where the order is in its cancellation: queued, sent, acknowledged, cancelled…",
    Column.LIMIT: "The limit price (blank for market and stop-market orders)",
    Column.TRIGGER: "The trigger (stop) price of stop-loss and take-profit orders",
    Column.NOTIONAL: "Open quantity × price (limit, else trigger), in the quote currency",  # noqa: RUF001
    Column.TIF: "Time in force: GTC good till cancelled, GTD good till date, IOC",
    Column.FLAGS: "post-only, reduce-only",
    Column.STATUS: "new, partially filled, triggered, pending, pending cancel",
}
NUMERIC_COLUMNS = frozenset(
    {
        Column.LIMIT,
        Column.TRIGGER,
        Column.QUANTITY,
        Column.FILLED,
        Column.PCT_FILLED,
        Column.NOTIONAL,
        Column.AGE,
        Column.USERREF,
    }
)
# Sort keys that depend on market data (names, precision): a re-sort when markets load.
_MARKET_SORTED = frozenset({Column.SYMBOL, Column.NOTIONAL})
_COLUMNS = tuple(Column)
_NCOLS = len(_COLUMNS)
_NUMERIC_COLS = frozenset(int(c) for c in NUMERIC_COLUMNS)
_CANCEL, _AGE, _STATUS, _SIDE = int(Column.CANCEL), int(Column.AGE), int(Column.STATUS), int(Column.SIDE)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole.value)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_FONT = int(Qt.ItemDataRole.FontRole.value)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole.value)
_ROLES_ANSWERED = frozenset(
    {
        _DISPLAY,
        _ALIGN,
        _FOREGROUND,
        _TOOLTIP,
        _FONT,
        _BACKGROUND,
        int(SORT_ROLE),
        int(ORDER_ROLE),
        int(LEAVING_ROLE),
        int(FLASH_ROLE),
    }
)
_NO_USERREF = -(2**40)  # sorts rows without a userref first, below every int32
_BULK = 64  # more rows than this at once: append/update then re-sort in one layout change
_STATUS_RANK = {s: i for i, s in enumerate(STATUSES)}


def contiguous_runs(rows: Iterable[int]) -> list[tuple[int, int]]:
    """Group row numbers into inclusive ``(first, last)`` runs, ascending.

    Args:
        rows: row numbers, any order, duplicates allowed.

    Returns:
        The runs, e.g. ``[5, 1, 2, 3, 9]`` -> ``[(1, 3), (5, 5), (9, 9)]``.
    """
    runs: list[tuple[int, int]] = []
    for r in sorted(set(rows)):
        if runs and runs[-1][1] == r - 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    return runs


class _RowCache:
    """What one version of one order shows: its facts, display strings and filter record.

    Built on first need and kept until the order changes (another ``Order`` object) or markets
    load (``gen``); ``data()`` then costs a dict lookup and a tuple index.
    """

    __slots__ = ("facts", "gen", "order", "record", "texts")

    def __init__(self, order: Order, facts: OrderFacts, gen: int) -> None:
        self.order = order
        self.facts = facts
        self.gen = gen
        self.texts: tuple[str, ...] | None = None
        self.record: FilterRecord | None = None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class OrdersTableModel(QAbstractTableModel):
    """Every open order of the desk, one row each, fed by the order store's row-level events.

    Signals:
        held_changed(int): how many changes are held back while the trader points at the table.
        texts_changed(): names or precisions changed for many rows (markets loaded): views
            should repaint; nothing moved.

    Rules kept:
    - row-level signals only: new orders are inserted (``rowsInserted``: appended, or at their
      sorted place), removed orders leave in contiguous runs from the bottom up
      (``rowsRemoved``), changed orders emit ``dataChanged`` for their own rows; ``modelReset``
      happens only in ``load`` (the first listing), and sorting is a layout change;
    - a key -> row index makes every lookup O(log n), with no re-numbering on removal;
    - the model sorts itself (``sort``), with one Python key per row: a QSortFilterProxyModel
      would call ``data()`` from C++ for every comparison (1.4 s for 10,000 rows, measured);
      the proxy above only filters;
    - ``data()`` is cheap: each order version's display strings are built once (``_RowCache``);
      the Age and Cancel state columns are computed when painted, never by per-row churn;
    - while held (``set_held``: the pointer is over the table), rows stay put: new orders and
      re-sorts wait, removed orders are dimmed (``LEAVING_ROLE``) and leave at ``release_held``;
      changed values still show at once, in place;
    - ``SORT_ROLE`` gives the raw sort key (float/int/str); ``ORDER_ROLE`` gives the Order;
    - ``flash`` highlights rows for ``FLASH_S`` (background; ``FLASH_ROLE``): one dict lookup per
      painted cell while something flashes, nothing otherwise; at most ``FLASH_MAX`` rows.
    """

    held_changed = Signal(int)
    texts_changed = Signal()

    def __init__(
        self,
        *,
        outcome_of: Callable[[OrderKey], Outcome | None] | None = None,
        account_name: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
        instruments: InstrumentBook | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._rows: list[Order] = []
        self._keys: list[OrderKey] = []
        # Each row has a tag; tags increase down the rows, so a key's row is a bisection of
        # ``_tags`` (C speed) and removing rows shifts no index: the old key -> row dict had to
        # re-number every row below each removal (0.6 ms each at 10,000 rows; bench, live table).
        self._index: dict[OrderKey, float] = {}
        self._tags: list[float] = []
        self._outcome_of = outcome_of or (lambda _key: None)
        self._account_name = account_name or (lambda account_id: account_id)
        # Accounts whose link is neither live nor listed over REST: their rows may be out of
        # date. account -> when they were last current (None: never listed), and why.
        self._stale: dict[str, tuple[float | None, str]] = {}
        self._clock = clock
        self._sort_col: Column | None = None
        self._desc = False
        self._skeys: list[Any] = []  # sort keys parallel to the rows, while sorted
        self._cache: dict[OrderKey, _RowCache] = {}
        self._gen = 0
        # Filter words orders share: per market (with the generation they were made in), per
        # account, per (side, type, time in force).
        self._market_words: dict[tuple[Any, str], tuple[Any, ...]] = {}
        self._account_words: dict[str, tuple[str, str, str]] = {}
        self._kind_words: dict[tuple[str, str, str], frozenset[str]] = {}
        self._instruments = instruments if instruments is not None else InstrumentBook(fetchers={})
        self._unhook = self._instruments.changed.connect(lambda _none: self.markets_changed())
        # Held back while the trader points at the table (see ``set_held``).
        self._held = False
        self._held_inserts: dict[OrderKey, Order] = {}
        self._held_moves: set[OrderKey] = set()
        self._leaving: set[OrderKey] = set()
        self._leaving_font: QFont | None = None
        self._flash: dict[OrderKey, float] = {}  # key -> when its highlight ends (clock time)
        self._flash_timer = QTimer(self)
        self._flash_timer.setSingleShot(True)
        self._flash_timer.timeout.connect(self._unflash)

    # --- Qt API -----------------------------------------------------------------------------

    # rowCount/columnCount/data run thousands of times per repaint, called from C++: plain ints
    # and tuples here, no enum construction (profiled at 10,000 rows, 1,000 updates/s).

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _NCOLS

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < _NCOLS:
            column = _COLUMNS[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return HEADERS[column]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return _RIGHT if column in NUMERIC_COLUMNS else _LEFT
            if role == Qt.ItemDataRole.ToolTipRole:
                return HEADER_TIPS.get(column, HEADERS[column])
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role not in _ROLES_ANSWERED:
            return None  # most roles a view asks about (background, ...): answer at once
        row, col = index.row(), index.column()
        if not (0 <= row < len(self._rows) and 0 <= col < _NCOLS):
            return None  # also an invalid index (-1, -1)
        if role == _ALIGN:
            return _RIGHT if col in _NUMERIC_COLS else _LEFT
        if role == _BACKGROUND:
            return theme.qcolor("flash") if self._flash and self._keys[row] in self._flash else None
        order = self._rows[row]
        if role == _DISPLAY:
            if col == _AGE:
                return theme.fmt_age(order.opened_at, self._clock())
            if col == _CANCEL:
                outcome = self._outcome_of(order.key)
                return "" if outcome is None else str(outcome)
            if col == _STATUS and self._leaving and order.key in self._leaving:
                return "left the book"
            return self._texts(order)[col]
        if role == _FOREGROUND:
            if self._leaving and order.key in self._leaving:
                return theme.qcolor("dim")
            if self._stale and order.account_id in self._stale:
                return theme.qcolor("dim")  # may be out of date: never shown as if live
            if col == _SIDE:
                return theme.side_color(order.side)
            if col == _CANCEL:
                outcome = self._outcome_of(order.key)
                return theme.ledger_color(outcome.state) if outcome is not None else None
            return None
        if role == _FONT:
            if self._leaving and order.key in self._leaving:
                if self._leaving_font is None:
                    self._leaving_font = QFont()
                    self._leaving_font.setStrikeOut(True)
                    self._leaving_font.setItalic(True)
                return self._leaving_font
            return None
        if role == SORT_ROLE:
            return self._sort_value(order, _COLUMNS[col])
        if role == ORDER_ROLE:
            return order
        if role == LEAVING_ROLE:
            return bool(self._leaving) and order.key in self._leaving
        if role == FLASH_ROLE:
            return bool(self._flash) and order.key in self._flash
        if role == _TOOLTIP:
            tip = self._tooltip(order, _COLUMNS[col])
            stale = self._stale.get(order.account_id) if self._stale else None
            if stale is not None:
                as_of, why = stale
                when = (
                    time.strftime("%H:%M:%S", time.localtime(as_of)) if as_of is not None else "never listed"
                )
                line = f"As of {when}: {why}; this row may be out of date"
                return f"{line}\n{tip}" if tip else line
            return tip
        return None

    def set_stale(self, account_id: str, as_of: float | None, why: str | None) -> None:
        """Mark an account's rows stale (dimmed, "as of" on hover) or, with ``why`` None, current."""
        now = (as_of, why) if why is not None else None
        if self._stale.get(account_id) == now:
            return
        if now is None:
            self._stale.pop(account_id, None)
        else:
            self._stale[account_id] = now
        if self._rows:
            last = self.index(len(self._rows) - 1, _NCOLS - 1)
            self.dataChanged.emit(self.index(0, 0), last, [Qt.ItemDataRole.ForegroundRole])

    def flash(self, keys: Iterable[OrderKey], seconds: float = FLASH_S) -> int:
        """Highlight the rows of ``keys`` for ``seconds`` (keys without a row are skipped).

        Returns:
            How many rows started (or went on) flashing.
        """
        until = self._clock() + seconds
        rows: list[int] = []
        for key in keys:
            if len(self._flash) >= FLASH_MAX and key not in self._flash:
                break
            row = self._row(key)
            if row is None:
                continue
            self._flash[key] = until
            rows.append(row)
        self._flash_changed(rows)
        if rows:
            self._arm_flash_timer()
        return len(rows)

    def flashing(self) -> set[OrderKey]:
        """The keys highlighted now."""
        return set(self._flash)

    def _arm_flash_timer(self) -> None:
        if self._flash:
            wait_ms = max(0, math.ceil((min(self._flash.values()) - self._clock()) * 1000))
            self._flash_timer.start(wait_ms)

    def _unflash(self) -> None:
        now = self._clock()
        ended = [k for k, until in self._flash.items() if until <= now]
        for k in ended:
            del self._flash[k]
        self._flash_changed([r for k in ended if (r := self._row(k)) is not None])
        self._arm_flash_timer()

    def _flash_changed(self, rows: list[int]) -> None:
        roles = [Qt.ItemDataRole.BackgroundRole]
        for first, last in contiguous_runs(rows):
            self.dataChanged.emit(self.index(first, 0), self.index(last, _NCOLS - 1), roles)

    def stale_accounts(self) -> dict[str, tuple[float | None, str]]:
        """Accounts whose rows are shown stale: when they were last current, and why."""
        return dict(self._stale)

    # --- cell values --------------------------------------------------------------------------

    def _entry(self, o: Order) -> _RowCache:
        e = self._cache.get(o.key)
        if e is None or e.order is not o or e.gen != self._gen:
            inst = self._instruments.instrument(o.venue, o.symbol)
            e = _RowCache(o, facts_of(o, inst), self._gen)
            self._cache[o.key] = e
        return e

    def facts(self, o: Order) -> OrderFacts:
        """The order in the one vocabulary (cached per order version)."""
        return self._entry(o).facts

    def _texts(self, o: Order) -> tuple[str, ...]:
        e = self._entry(o)
        texts = e.texts
        if texts is None:
            texts = e.texts = self._build_texts(o, e.facts)
        return texts

    def _build_texts(self, o: Order, f: OrderFacts) -> tuple[str, ...]:
        pd, sd = f.price_decimals, f.size_decimals
        notional = (
            "" if f.notional is None else f"{theme.fmt_amount(f.notional, f.notional_decimals)} {f.quote}"
        )
        by_col = {
            Column.ACCOUNT: self._account_name(o.account_id),
            Column.SYMBOL: f.symbol,
            Column.SIDE: o.side.value,
            Column.CANCEL: "",
            Column.TYPE: f.order_type,
            Column.LIMIT: theme.fmt_number(o.price, pd),
            Column.TRIGGER: theme.fmt_number(o.stop_price, pd),
            Column.QUANTITY: theme.fmt_number(o.quantity, sd),
            Column.FILLED: theme.fmt_number(o.filled, sd) if o.filled else "",
            Column.PCT_FILLED: theme.fmt_pct(f.pct_filled),
            Column.NOTIONAL: notional.rstrip(),
            Column.STATUS: f.status,
            Column.TIF: f.time_in_force,
            Column.FLAGS: ", ".join(f.flags),
            Column.AGE: "",
            Column.VENUE: o.venue.value.capitalize(),
            Column.ORDER_ID: o.order_id,
            Column.CLIENT_ID: o.client_id or "",
            Column.USERREF: "" if o.userref is None else str(o.userref),
        }
        return tuple(by_col[c] for c in _COLUMNS)

    def _sort_value(self, o: Order, column: Column) -> Any:
        match column:
            case Column.LIMIT:
                return -math.inf if o.price is None else float(o.price)
            case Column.TRIGGER:
                return -math.inf if o.stop_price is None else float(o.stop_price)
            case Column.QUANTITY:
                return float(o.quantity)
            case Column.FILLED:
                return float(o.filled)
            case Column.PCT_FILLED:
                return self._entry(o).facts.pct_filled
            case Column.NOTIONAL:
                n = self._entry(o).facts.notional
                return -math.inf if n is None else float(n)
            case Column.STATUS:
                return _STATUS_RANK.get(self._entry(o).facts.status, len(_STATUS_RANK))
            case Column.AGE:
                return -o.opened_at  # ascending = youngest first, and constant while time passes
            case Column.USERREF:
                return _NO_USERREF if o.userref is None else o.userref
            case Column.CANCEL:
                outcome = self._outcome_of(o.key)
                return "" if outcome is None else str(outcome).casefold()
            case Column.SYMBOL:
                return self._entry(o).facts.symbol.casefold()
        return self._texts(o)[column].casefold()

    def _tooltip(self, o: Order, column: Column) -> str | None:
        match column:
            case Column.SYMBOL:
                f = self._entry(o).facts
                inst = self._instruments.known(o.venue, o.symbol)
                where = f"{o.venue.value.capitalize()} calls it {o.symbol}"
                if inst is None:
                    return f"{f.symbol}: {where} (no market data: decimals as the orders give them)"
                return (
                    f"{f.symbol}: {where}; prices to {f.price_decimals} decimals, sizes to {f.size_decimals}"
                )
            case Column.CANCEL:
                outcome = self._outcome_of(o.key)
                return None if outcome is None else str(outcome)
            case Column.AGE:
                return time.strftime("opened %Y-%m-%d %H:%M:%S", time.localtime(o.opened_at))
            case Column.TYPE:
                return f"{o.venue.value.capitalize()} calls it {o.order_type}" if o.order_type else None
            case Column.STATUS:
                return f"{o.venue.value.capitalize()} says {o.status}"
            case Column.NOTIONAL:
                f = self._entry(o).facts
                if f.notional is None:
                    return "No price: a market order's notional is not known"
                basis = "limit" if o.price is not None else "trigger"
                return f"open {theme.fmt_number(f.remaining, f.size_decimals)} × {basis} price"  # noqa: RUF001
            case Column.ACCOUNT:
                return f"{self._account_name(o.account_id)} ({o.account_id})"
        text = self._texts(o)[column]
        return text or None

    def filter_record(self, row: int) -> FilterRecord:
        """Source row ``row`` as the filter reads it (cached per order version; the parts orders
        share, their market's and their account's words, are built once)."""
        o = self._rows[row]
        e = self._entry(o)
        r = e.record
        if r is None:
            f = e.facts
            market = self._market_words.get((o.venue, o.symbol))
            if market is None or market[0] != self._gen:
                pair = one_spelling(f"{f.base}/{f.quote}" if f.quote else f.base)
                parts = (pair, one_spelling(f.base), one_spelling(f.quote), f.market, one_spelling(f.symbol))
                venue_symbol = one_spelling(o.symbol)
                exact = market_words(parts[1], pair, f.market, parts[4], venue_symbol)
                market = (self._gen, *parts, venue_symbol, exact)
                self._market_words[(o.venue, o.symbol)] = market
            account = self._account_words.get(o.account_id)
            if account is None:
                name, aid = self._account_name(o.account_id).lower(), o.account_id.lower()
                account = (name, aid, account_words(name, aid))
                self._account_words[o.account_id] = account
            side, tif = str(o.side), f.time_in_force.lower()
            kind = self._kind_words.get((side, f.order_type, tif))
            if kind is None:
                kind = self._kind_words[(side, f.order_type, tif)] = kind_words(side, f.order_type, tif)
            oid, cid = o.order_id.lower(), (o.client_id or "").lower()
            ref = "" if o.userref is None else str(o.userref)
            venue = str(o.venue)
            starts = (state_words(f.order_type, f.status, f.flags), account[2], venue, oid, cid, ref)
            r = e.record = FilterRecord(
                pair=market[1],
                base=market[2],
                quote=market[3],
                market=market[4],
                symbol=market[5],
                venue_symbol=market[6],
                side=side,
                order_type=f.order_type,
                status=f.status,
                tif=tif,
                flags=f.flags,
                account_name=account[0],
                account_id=account[1],
                venue=venue,
                order_id=oid,
                client_id=cid,
                userref=ref,
                cancel="",
                notional=_float(f.notional),
                limit=_float(o.price),
                trigger=_float(o.stop_price),
                qty=float(o.quantity),
                filled=float(o.filled),
                pct=f.pct_filled,
                opened_at=o.opened_at,
                exact=market[7],
                kinds=kind,
                blob="\x00" + "\x00".join(p for p in starts if p),
            )
        outcome = self._outcome_of(o.key)
        if outcome is not None:  # the cancel state moves without a new order version
            cancel = str(outcome).lower()
            return replace(r, cancel=cancel, blob=r.blob + "\x00" + cancel_words(cancel))
        return r

    def warm_filter(self, start: int, count: int) -> int:
        """Build the filter records of rows ``start`` to ``start + count`` ahead of a first
        filter (in idle time: typing the first letter then filters 10,000 rows in tens of ms,
        not hundreds).

        Returns:
            The row to go on from (``rowCount()`` when done).
        """
        end = min(len(self._rows), start + count)
        for row in range(start, end):
            self.filter_record(row)
        return end

    def now(self) -> float:
        """The model's clock (ages)."""
        return self._clock()

    # --- reading ------------------------------------------------------------------------------

    def order_at(self, row: int) -> Order:
        """The order shown on source row ``row``."""
        return self._rows[row]

    def row_of(self, key: OrderKey) -> int | None:
        """The row of the order with ``key``, if listed."""
        return self._row(key)

    def _row(self, key: OrderKey) -> int | None:
        tag = self._index.get(key)
        return None if tag is None else bisect.bisect_left(self._tags, tag)

    def _retag(self) -> None:
        """Tags 0, 1, 2, ... in row order (after a reset or sort, or when midpoints run out)."""
        self._tags = [float(i) for i in range(len(self._keys))]
        self._index = dict(zip(self._keys, self._tags, strict=True))

    def orders(self) -> list[Order]:
        """Every listed order, in row order (rows leaving the book included while held)."""
        return list(self._rows)

    def is_leaving(self, key: OrderKey) -> bool:
        """Whether the order left the book and its row waits, dimmed, for the hold to end."""
        return key in self._leaving

    @property
    def instruments(self) -> InstrumentBook:
        """The market data the rows are written with."""
        return self._instruments

    # --- market data ----------------------------------------------------------------------------

    def set_instruments(self, book: InstrumentBook) -> None:
        """Write the rows with ``book``'s market data (names, precisions) from now on."""
        self._unhook()
        self._instruments = book
        self._unhook = book.changed.connect(lambda _none: self.markets_changed())
        book.observe(self._rows)
        self.markets_changed()

    def markets_changed(self) -> None:
        """Names or precisions changed: rebuild each row's strings when next painted (no row signal:
        nothing moved; ``texts_changed`` asks views to repaint), re-sort if the order depends on them."""
        self._gen += 1
        if self._sort_col in _MARKET_SORTED:
            self._resort()
        self.texts_changed.emit()

    def _observe(self, orders: Sequence[Order]) -> None:
        if self._instruments.observe(orders):
            self.markets_changed()

    # --- sorting (here, not in the proxy: see the class docstring) -----------------------------

    @property
    def sort_column(self) -> Column | None:
        """The column rows are kept sorted by, None for arrival order."""
        return self._sort_col

    @property
    def sort_descending(self) -> bool:
        """Whether the sort is descending."""
        return self._desc

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Keep the rows sorted by ``column`` from now on (-1: keep the current order)."""
        self._sort_col = Column(column) if 0 <= column < _NCOLS else None
        self._desc = order == Qt.SortOrder.DescendingOrder
        if self._sort_col is None:
            self._skeys = []
            return
        self._resort()

    def _sort_key(self, o: Order) -> Any:
        assert self._sort_col is not None
        return self._sort_value(o, self._sort_col)

    def _resort(self) -> None:
        """Sort every row now, as one layout change (persistent indexes, so the selection, follow)."""
        n = len(self._rows)
        keys = [self._sort_key(o) for o in self._rows]
        perm = sorted(range(n), key=keys.__getitem__, reverse=self._desc)
        self._held_moves.clear()
        if perm == list(range(n)):
            self._skeys = keys
            return
        self.layoutAboutToBeChanged.emit()
        pos = [0] * n
        for new, old in enumerate(perm):
            pos[old] = new
        persistent = self.persistentIndexList()
        self.changePersistentIndexList(persistent, [self.index(pos[i.row()], i.column()) for i in persistent])
        self._rows = [self._rows[i] for i in perm]
        self._keys = [self._keys[i] for i in perm]
        self._skeys = [keys[i] for i in perm]
        self._retag()
        self.layoutChanged.emit()

    def _insert_pos(self, skey: Any) -> int:
        """Where a row with sort key ``skey`` goes (after its equals, so arrival order breaks ties)."""
        keys = self._skeys
        if not self._desc:
            return bisect.bisect_right(keys, skey)
        lo, hi = 0, len(keys)
        while lo < hi:  # keys are non-increasing: find the first key smaller than skey
            mid = (lo + hi) // 2
            if keys[mid] < skey:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _in_place(self, row: int, skey: Any) -> bool:
        keys, last = self._skeys, len(self._skeys) - 1
        if self._desc:
            return (row == 0 or keys[row - 1] >= skey) and (row == last or skey >= keys[row + 1])
        return (row == 0 or keys[row - 1] <= skey) and (row == last or skey <= keys[row + 1])

    # --- holding rows still under the pointer ---------------------------------------------------

    @property
    def held(self) -> bool:
        """Whether new rows, moves and removals are held back."""
        return self._held

    def held_count(self) -> int:
        """How many changes wait for the hold to end (new orders, moves, departures)."""
        return len(self._held_inserts) + len(self._held_moves) + len(self._leaving)

    def set_held(self, held: bool) -> None:
        """Hold rows in place (True), or apply what was held and follow the book again (False)."""
        if held == self._held:
            return
        self._held = held
        if not held:
            self.release_held()

    def release_held(self) -> None:
        """Apply every held change now (the hold itself stays as it is)."""
        if not self.held_count():
            return
        was_held, self._held = self._held, False
        try:
            if self._leaving:
                leaving, self._leaving = self._leaving, set()
                self._remove_rows([r for k in leaving if (r := self._row(k)) is not None])
            if self._held_moves and self._sort_col is not None:
                # One layout change: persistent indexes (the selection) follow their orders.
                self._resort()
            self._held_moves.clear()
            if self._held_inserts:
                fresh, self._held_inserts = list(self._held_inserts.values()), {}
                self.insert_orders(fresh)
        finally:
            self._held = was_held
        self.held_changed.emit(0)

    # --- feeding (connected to OrderStore events by the bridge) -------------------------------

    def load(self, orders: Sequence[Order]) -> None:
        """Replace everything: the first listing only (this is the one model reset)."""
        self.beginResetModel()
        rows = list(orders)
        self._instruments.observe(rows)
        self._held_inserts.clear()
        self._held_moves.clear()
        self._leaving.clear()
        if self._sort_col is not None:
            rows.sort(key=self._sort_key, reverse=self._desc)
            self._skeys = [self._sort_key(o) for o in rows]
        self._rows = rows
        self._keys = [o.key for o in self._rows]
        listed = set(self._keys)
        self._cache = {k: e for k, e in self._cache.items() if k in listed}
        self._retag()
        self.endResetModel()

    def insert_orders(self, orders: Sequence[Order]) -> None:
        """Add new orders: appended, or at their sorted place (ones already listed are updated).

        While held, new orders wait (``held_changed``) and join at ``release_held``.
        """
        fresh: list[Order] = []
        seen: set[OrderKey] = set()
        known: list[Order] = []
        for o in orders:
            k = o.key
            if k in self._index:
                known.append(o)
            elif k not in seen:
                seen.add(k)
                fresh.append(o)
        self._observe(orders)
        if fresh and self._held and self._rows:  # an empty table has no row to keep still
            for o in fresh:
                self._held_inserts[o.key] = o
            self.held_changed.emit(self.held_count())
            fresh = []
        if fresh and (self._sort_col is None or len(fresh) > _BULK):
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self._rows.extend(fresh)
            new_keys = [o.key for o in fresh]
            self._keys.extend(new_keys)
            start = self._tags[-1] + 1 if self._tags else 0.0
            tags = [start + i for i in range(len(fresh))]
            self._tags.extend(tags)
            self._index.update(zip(new_keys, tags, strict=True))
            if self._sort_col is not None:
                self._skeys.extend(self._sort_key(o) for o in fresh)
            self.endInsertRows()
            if self._sort_col is not None:
                self._resort()
        elif fresh:
            for o in fresh:
                self._insert_one(o, self._sort_key(o))
        if known:
            self.update_orders(known)

    def _insert_one(self, o: Order, skey: Any) -> None:
        pos = self._insert_pos(skey)
        tag = self._tag_between(pos)  # before the lists grow: it may re-number the rows
        self.beginInsertRows(QModelIndex(), pos, pos)
        self._rows.insert(pos, o)
        self._keys.insert(pos, o.key)
        self._skeys.insert(pos, skey)
        self._tags.insert(pos, tag)
        self._index[o.key] = tag
        self.endInsertRows()

    def _tag_between(self, pos: int) -> float:
        """A tag for a row about to be inserted at ``pos`` (neighbours are tags[pos-1], tags[pos])."""
        tags = self._tags
        if not tags:
            return 0.0
        if pos == 0:
            return tags[0] - 1.0
        if pos == len(tags):
            return tags[-1] + 1.0
        low, high = tags[pos - 1], tags[pos]
        mid = (low + high) / 2
        if low < mid < high:
            return mid
        self._retag()  # many inserts at one spot used up the float's precision: re-number
        return pos - 0.5

    def update_orders(self, orders: Sequence[Order]) -> None:
        """Replace changed orders; ``dataChanged`` covers only their rows.

        When sorted and an order's sort key moved it out of place, it is removed and re-inserted
        at its new place (row signals; a move signal would make the filter proxy re-filter every
        row), or, for many such orders at once, re-sorted as one layout change. While held, the
        new values show in place and the move waits for ``release_held``.
        """
        rows: list[int] = []
        out_of_place: list[Order] = []
        held = self._held
        for o in orders:
            row = self._row(o.key)
            if row is None:
                if o.key in self._held_inserts:
                    self._held_inserts[o.key] = o
                continue
            if self._leaving and o.key in self._leaving:
                self._leaving.discard(o.key)  # listed again: it stays
            self._rows[row] = o
            if self._sort_col is not None:
                skey = self._sort_key(o)
                if skey != self._skeys[row]:
                    self._skeys[row] = skey
                    if not self._in_place(row, skey):
                        if held:
                            self._held_moves.add(o.key)
                        else:
                            out_of_place.append(o)
                            continue
            rows.append(row)
        self._observe(orders)
        last_col = _NCOLS - 1
        for first, last in contiguous_runs(rows):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_col))
        if held and self._held_moves:
            self.held_changed.emit(self.held_count())
        if len(out_of_place) > _BULK:
            self._resort()
        elif out_of_place:
            self._remove_rows([r for o in out_of_place if (r := self._row(o.key)) is not None])
            for o in out_of_place:
                self._insert_one(o, self._sort_key(o))

    def remove_keys(self, keys: Iterable[OrderKey]) -> None:
        """Remove orders by key, in contiguous runs from the bottom up (unknown keys ignored).

        While held, their rows are dimmed (``LEAVING_ROLE``) and leave at ``release_held``.
        """
        if self._held:
            dimmed: list[int] = []
            for k in keys:
                if self._held_inserts.pop(k, None) is not None:
                    continue
                r = self._row(k)
                if r is not None and k not in self._leaving:
                    self._leaving.add(k)
                    dimmed.append(r)
            for first, last in contiguous_runs(dimmed):
                self.dataChanged.emit(self.index(first, 0), self.index(last, _NCOLS - 1))
            self.held_changed.emit(self.held_count())
            return
        self._remove_rows([r for k in keys if (r := self._row(k)) is not None])

    def _remove_rows(self, rows: list[int]) -> None:
        if not rows:
            return
        runs = contiguous_runs(rows)
        sorted_rows = self._sort_col is not None
        for first, last in reversed(runs):
            self.beginRemoveRows(QModelIndex(), first, last)
            for k in self._keys[first : last + 1]:
                del self._index[k]
                self._cache.pop(k, None)
                if self._flash:
                    self._flash.pop(k, None)
            del self._rows[first : last + 1]
            del self._keys[first : last + 1]
            del self._tags[first : last + 1]
            if sorted_rows:
                del self._skeys[first : last + 1]
            self.endRemoveRows()

    def refresh_ages(self) -> None:
        """Signal the Age column changed (one ``dataChanged``, that column only).

        Views over a filter proxy should rather repaint the column (the proxy re-filters every
        row on ``dataChanged``); ages are computed at paint time either way.
        """
        if self._rows:
            self.dataChanged.emit(
                self.index(0, Column.AGE),
                self.index(len(self._rows) - 1, Column.AGE),
                [Qt.ItemDataRole.DisplayRole],
            )

    def refresh_accounts(self, account_id: str) -> None:
        """Repaint the Account column after an account was renamed (re-sort if sorted by it)."""
        self._account_words.pop(account_id, None)
        for k in [k for k in self._cache if k[0] == account_id]:
            del self._cache[k]
        if self._sort_col is Column.ACCOUNT:
            self._resort()
            return
        rows = [i for i, k in enumerate(self._keys) if k[0] == account_id]
        for first, last in contiguous_runs(rows):
            self.dataChanged.emit(self.index(first, Column.ACCOUNT), self.index(last, Column.ACCOUNT))


class OrdersFilterProxy(QSortFilterProxyModel):
    """Filters by the filter language (``app.ui.filter_query``) and by account; sorting is handed
    to the source model.

    Signals:
        query_changed(object): the new ``Query`` (the window shows its errors and the count).

    Rules kept: filtering reads the source model's cached filter records (no per-cell ``data()``
    round trips) and stays live as rows change; with nothing filtered, ``filterAcceptsRow``
    answers at once; the proxy itself never sorts (its sort column stays -1, so it keeps the
    source's order): ``sort`` sorts the source, which computes one key per row instead of a
    Python ``data()`` call per comparison.
    """

    query_changed = Signal(object)

    def __init__(self, source: OrdersTableModel) -> None:
        super().__init__(source)
        self._source = source
        self._query: Query = parse("")
        self._account: str | None = None
        self.setSourceModel(source)
        self.setDynamicSortFilter(True)
        source.texts_changed.connect(self._markets_changed)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows (the view's header calls this): done by the source model."""
        self._source.sort(column, order)

    @property
    def text(self) -> str:
        """The current filter text."""
        return self._query.text

    @property
    def query(self) -> Query:
        """The parsed filter."""
        return self._query

    @property
    def account(self) -> str | None:
        """The account the table is limited to, None for all."""
        return self._account

    @property
    def filtering(self) -> bool:
        """Whether any row may be hidden (a filter text or an account)."""
        return self._account is not None or not self._query.empty

    def set_text(self, text: str) -> None:
        """Show only the orders ``text`` describes (see ``app.ui.filter_query``)."""
        if text.strip() == self._query.text.strip():
            return
        query = parse(text)
        self.beginFilterChange()
        self._query = query
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        self.query_changed.emit(query)

    def set_account(self, account_id: str | None) -> None:
        """Show only ``account_id``'s orders (None: every account)."""
        if account_id != self._account:
            self.beginFilterChange()
            self._account = account_id
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def _markets_changed(self) -> None:
        if not self._query.empty:  # names may read differently now
            self.beginFilterChange()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        query, account = self._query, self._account
        if account is None and query.empty:
            return True
        if account is not None and self._source.order_at(source_row).account_id != account:
            return False
        if query.empty:
            return True
        return query.matches(self._source.filter_record(source_row), self._source.now())

    def order_at(self, proxy_row: int) -> Order:
        """The order on proxy row ``proxy_row``."""
        return self._source.order_at(self.mapToSource(self.index(proxy_row, 0)).row())

    def visible_orders(self) -> list[Order]:
        """Every order the filter shows, top to bottom."""
        return [self.order_at(r) for r in range(self.rowCount())]

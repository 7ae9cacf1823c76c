"""Orders grouped by market: one row per symbol (counts and notionals per side), its orders inside."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QFont

from app.core.orders import Order, OrderKey, Side
from app.ui import theme
from app.ui.models import ORDER_ROLE, Column, OrdersFilterProxy, OrdersTableModel, contiguous_runs

GROUP_ROLE = Qt.ItemDataRole.UserRole + 20
"""The market name of a group row (None on an order row)."""

REFRESH_MS = 250  # the groups follow the table at most this often while shown

Index = QModelIndex | QPersistentModelIndex
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_FONT = int(Qt.ItemDataRole.FontRole.value)


@dataclass(eq=False)
class SymbolGroup:
    """One market's orders as shown (the filter and the account apply), with its sums.

    ``keys`` are in the table's order; ``orders`` holds the version last shown of each.
    """

    gid: int
    symbol: str
    keys: list[OrderKey] = field(default_factory=list)
    orders: dict[OrderKey, Order] = field(default_factory=dict)
    quote: str = ""
    summary: str = ""

    def of_side(self, side: Side | None) -> list[Order]:
        """The group's orders of one side (None: all), in row order."""
        return [self.orders[k] for k in self.keys if side is None or self.orders[k].side is side]

    @property
    def account_ids(self) -> list[str]:
        """The accounts the group's orders rest on, in order of appearance."""
        return list(dict.fromkeys(k[0] for k in self.keys))


class SymbolGroupsModel(QAbstractItemModel):
    """A tree over the filtered orders: top-level rows are markets (``BTC/USD``, ``BTC/USD perp``),
    in name order; their children are the market's orders, with the table's columns.

    Rules kept: row-level signals only after the first build (groups and orders are inserted and
    removed in runs, a reorder within a group is a layout change that persistent indexes
    follow); the groups follow the filter proxy at most every ``REFRESH_MS`` while active, and
    not at all while hidden or held (the trader points at them); an order row reads its cells
    from the orders model, so both views show the same words.
    """

    def __init__(self, proxy: OrdersFilterProxy, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._proxy = proxy
        self._source: OrdersTableModel = proxy.sourceModel()  # type: ignore[assignment]
        self._groups: list[SymbolGroup] = []
        self._by_id: dict[int, SymbolGroup] = {}
        self._ids = itertools.count(1)
        self._active = False
        self._held = False
        self._due = False
        self._bold: QFont | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        for signal in (
            proxy.rowsInserted,
            proxy.rowsRemoved,
            proxy.modelReset,
            proxy.layoutChanged,
            proxy.dataChanged,
            self._source.texts_changed,
        ):
            signal.connect(self._schedule)

    # --- following the table ---------------------------------------------------------------------

    def set_active(self, active: bool) -> None:
        """Follow the table (True: shown) or stop (hidden: nothing is computed)."""
        self._active = active
        if active:
            self.refresh()

    def set_held(self, held: bool) -> None:
        """Hold the rows in place while the trader points at them; catch up when released."""
        self._held = held
        if not held and self._due:
            self._schedule()

    def _schedule(self, *_args: object) -> None:
        self._due = True
        if self._active and not self._held and not self._timer.isActive():
            self._timer.start()

    def refresh(self) -> None:
        """Bring the groups up to date with the filtered table now (row-level changes)."""
        self._due = False
        self._timer.stop()
        wanted = self._collect()
        self._apply(wanted)

    def _collect(self) -> dict[str, list[Order]]:
        proxy, source = self._proxy, self._source
        rows = source.orders() if not proxy.filtering else proxy.visible_orders()
        out: dict[str, list[Order]] = {}
        for o in rows:
            if source.is_leaving(o.key):
                continue
            out.setdefault(source.facts(o).symbol, []).append(o)
        return out

    def _apply(self, wanted: dict[str, list[Order]]) -> None:
        # Groups that went: removed bottom-up.
        gone = [i for i, g in enumerate(self._groups) if g.symbol not in wanted]
        for first, last in reversed(contiguous_runs(gone)):
            self.beginRemoveRows(QModelIndex(), first, last)
            for g in self._groups[first : last + 1]:
                del self._by_id[g.gid]
            del self._groups[first : last + 1]
            self.endRemoveRows()
        # Groups that stay: their orders.
        present = {g.symbol: g for g in self._groups}
        for row, g in enumerate(self._groups):
            self._update_children(row, g, wanted[g.symbol])
        # New groups: at their place in name order.
        for symbol in sorted(set(wanted) - set(present), key=str.casefold):
            names = [g.symbol.casefold() for g in self._groups]
            pos = next((i for i, n in enumerate(names) if n > symbol.casefold()), len(names))
            g = SymbolGroup(next(self._ids), symbol)
            orders = wanted[symbol]
            g.keys = [o.key for o in orders]
            g.orders = {o.key: o for o in orders}
            self._summarise(g)
            self.beginInsertRows(QModelIndex(), pos, pos)
            self._groups.insert(pos, g)
            self._by_id[g.gid] = g
            self.endInsertRows()

    def _update_children(self, row: int, g: SymbolGroup, orders: Sequence[Order]) -> None:
        parent = self.index(row, 0)
        new_keys = [o.key for o in orders]
        new_set = set(new_keys)
        gone = [i for i, k in enumerate(g.keys) if k not in new_set]
        for first, last in reversed(contiguous_runs(gone)):
            self.beginRemoveRows(parent, first, last)
            for k in g.keys[first : last + 1]:
                g.orders.pop(k, None)
            del g.keys[first : last + 1]
            self.endRemoveRows()
        kept = [k for k in new_keys if k in g.orders]
        if kept != g.keys:  # the table's order moved: one layout change, persistent rows follow
            self.layoutAboutToBeChanged.emit()
            where = {k: i for i, k in enumerate(kept)}
            old_persistent = [i for i in self.persistentIndexList() if i.parent() == parent]
            new_persistent = [
                self.index(where[g.keys[i.row()]], i.column(), parent)
                if i.row() < len(g.keys)
                else QModelIndex()
                for i in old_persistent
            ]
            g.keys = kept
            self.changePersistentIndexList(old_persistent, new_persistent)
            self.layoutChanged.emit()
        # New orders: inserted in runs at their place.
        i = 0
        changed: list[int] = []
        by_key = {o.key: o for o in orders}
        while i < len(new_keys):
            k = new_keys[i]
            if k in g.orders:
                if g.orders[k] is not by_key[k]:
                    g.orders[k] = by_key[k]
                    changed.append(i)
                i += 1
                continue
            j = i
            while j < len(new_keys) and new_keys[j] not in g.orders:
                j += 1
            self.beginInsertRows(parent, i, j - 1)
            g.keys[i:i] = new_keys[i:j]
            for key in new_keys[i:j]:
                g.orders[key] = by_key[key]
            self.endInsertRows()
            i = j
        last_col = self.columnCount() - 1
        for first, last in contiguous_runs(changed):
            self.dataChanged.emit(self.index(first, 0, parent), self.index(last, last_col, parent))
        old_summary = g.summary
        self._summarise(g)
        if g.summary != old_summary:
            self.dataChanged.emit(parent, self.index(row, last_col))

    def _summarise(self, g: SymbolGroup) -> None:
        """The group row's line: counts and notionals per side, accounts, cancels in flight."""
        sums: dict[Side, Decimal] = {Side.BUY: Decimal(0), Side.SELL: Decimal(0)}
        counts = {Side.BUY: 0, Side.SELL: 0}
        decimals = 2
        quote = ""
        for o in g.orders.values():
            f = self._source.facts(o)
            counts[o.side] += 1
            if f.notional is not None:
                sums[o.side] += f.notional
            quote, decimals = f.quote, f.notional_decimals
        g.quote = quote
        n = len(g.keys)
        accounts = len(g.account_ids)

        def side(s: Side, word: str) -> str:
            if not counts[s]:
                return f"no {word}s"
            amount = theme.fmt_amount(sums[s], decimals)
            return f"{counts[s]} {word}{'s' if counts[s] != 1 else ''} {amount} {quote}".rstrip()

        orders = f"{n} order{'s' if n != 1 else ''} on {accounts} account{'s' if accounts != 1 else ''}"
        g.summary = f"{g.symbol}   ·   {orders}   ·   {side(Side.BUY, 'buy')}   ·   {side(Side.SELL, 'sell')}"

    # --- reading ---------------------------------------------------------------------------------

    def groups(self) -> list[SymbolGroup]:
        """Every group, in row order."""
        return list(self._groups)

    def group_at(self, index: Index) -> SymbolGroup | None:
        """The group of a group row or of an order row."""
        if not index.isValid():
            return None
        gid = int(index.internalId())
        if gid:
            return self._by_id.get(gid)
        return self._groups[index.row()] if 0 <= index.row() < len(self._groups) else None

    def group_of(self, symbol: str) -> SymbolGroup | None:
        """The group named ``symbol``."""
        return next((g for g in self._groups if g.symbol == symbol), None)

    def order_at(self, index: Index) -> Order | None:
        """The order of an order row (None on a group row)."""
        gid = int(index.internalId()) if index.isValid() else 0
        g = self._by_id.get(gid) if gid else None
        if g is None or not 0 <= index.row() < len(g.keys):
            return None
        return g.orders[g.keys[index.row()]]

    # --- Qt API ------------------------------------------------------------------------------------

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column < 0 or column >= len(Column):
            return QModelIndex()
        if not parent.isValid():
            if 0 <= row < len(self._groups):
                return self.createIndex(row, column, 0)
            return QModelIndex()
        if parent.internalId() != 0 or not 0 <= parent.row() < len(self._groups):
            return QModelIndex()
        g = self._groups[parent.row()]
        if 0 <= row < len(g.keys):
            return self.createIndex(row, column, g.gid)
        return QModelIndex()

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        gid = int(index.internalId())
        if gid == 0:
            return QModelIndex()
        g = self._by_id.get(gid)
        if g is None:
            return QModelIndex()
        return self.createIndex(self._groups.index(g), 0, 0)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() != 0 or parent.column() != 0 or not 0 <= parent.row() < len(self._groups):
            return 0
        return len(self._groups[parent.row()].keys)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(Column)

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return self.rowCount(parent) > 0

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return self._source.headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        gid = int(index.internalId())
        if gid == 0:
            if not 0 <= index.row() < len(self._groups):
                return None
            g = self._groups[index.row()]
            if role == GROUP_ROLE:
                return g.symbol
            if index.column() == 0 and role in (_DISPLAY, _TOOLTIP):
                return g.summary
            if role == _FONT:
                if self._bold is None:
                    self._bold = QFont()
                    self._bold.setBold(True)
                return self._bold
            return None
        order = self.order_at(index)
        if order is None:
            return None
        if role == GROUP_ROLE:
            return None
        if role == ORDER_ROLE:
            return order
        row = self._source.row_of(order.key)
        if row is None:  # left the table a moment ago: the next refresh takes the row away
            return None
        return self._source.data(self._source.index(row, index.column()), role)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

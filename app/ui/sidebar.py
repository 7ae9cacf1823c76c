"""The accounts sidebar: each account's venue, connection state and open-order count."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPaintEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTreeWidget, QTreeWidgetItem, QWidget

from app.core.accounts import LinkState
from app.desk.desk import AccountStatus
from app.ui import theme

ACCOUNT_ROLE = Qt.ItemDataRole.UserRole + 10
"""The account id of a sidebar row (None on "All accounts")."""
LIST_ONLY_COLOR = QColor("#b7791f")  # amber: connected, but its key cannot cancel


class AccountsSidebar(QTreeWidget):
    """One row per account plus "All accounts" on top; the selection is the current account.

    Signals:
        current_account_changed(object): the selected account id, or None for all accounts.
        cancel_account_requested(str): "Cancel all on this account…" from the right-click menu.
        refresh_requested(str): "Refresh this account" from the right-click menu.

    Rules kept: rows change in place as the desk reports (no rebuild, the selection survives);
    the state is shown as text and colour, the detail as a tooltip; counts are read from
    ``count_of`` (the order store) when given, so they are right from the first paint.
    """

    current_account_changed = Signal(object)
    cancel_account_requested = Signal(str)
    refresh_requested = Signal(str)

    COLUMNS = ("Account", "Venue", "State", "Orders")

    def __init__(
        self, parent: QWidget | None = None, *, count_of: Callable[[str], int] | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("accounts_sidebar")
        self._count_of = count_of
        self.setColumnCount(len(self.COLUMNS))
        self.setHeaderLabels(list(self.COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        # Keyboard shortcuts belong to the orders table; the sidebar is for the mouse and Tab.
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu_at)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._counts: dict[str, int] = {}
        self._menu: QMenu | None = None
        self._counts_dirty = False
        self.all_item = QTreeWidgetItem(["All accounts", "", "", "0"])
        self.all_item.setData(0, ACCOUNT_ROLE, None)
        self.all_item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        font = self.all_item.font(0)
        font.setBold(True)
        self.all_item.setFont(0, font)
        self.addTopLevelItem(self.all_item)
        self.setCurrentItem(self.all_item)
        self.currentItemChanged.connect(self._current_changed)

    def _current_changed(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        self.current_account_changed.emit(self.current_account())

    def current_account(self) -> str | None:
        """The selected account id, None when "All accounts" (or nothing) is selected."""
        item = self.currentItem()
        if item is None:
            return None
        value = item.data(0, ACCOUNT_ROLE)
        return str(value) if value is not None else None

    def select_account(self, account_id: str | None) -> None:
        """Make ``account_id`` (None: all accounts) the current row."""
        self.setCurrentItem(
            self.all_item if account_id is None else self._items.get(account_id, self.all_item)
        )

    def account_ids(self) -> list[str]:
        """Every account listed, top to bottom."""
        return list(self._items)

    def preferred_width(self) -> int:
        """Wide enough for every name, venue, state and count without cutting them."""
        fm = self.fontMetrics()
        names = [self.all_item.text(0), *(i.text(0) for i in self._items.values()), "Demo Futures"]
        widths = [
            max(fm.horizontalAdvance(n) for n in names) + 24,
            fm.horizontalAdvance("Futures") + 16,
            fm.horizontalAdvance("reconnecting") + 16,
            fm.horizontalAdvance("00,000") + 16,
        ]
        return sum(widths) + 2 * self.frameWidth() + 4

    def update_status(self, status: AccountStatus) -> None:
        """Add or update an account's row."""
        item = self._items.get(status.account_id)
        if item is None:
            item = QTreeWidgetItem()
            item.setData(0, ACCOUNT_ROLE, status.account_id)
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._items[status.account_id] = item
            self.addTopLevelItem(item)
        item.setText(0, status.name)
        item.setText(1, status.venue.value.capitalize())
        list_only = status.can_cancel is False and status.link is not LinkState.DOWN
        item.setText(2, f"{status.link.value} · list only" if list_only else status.link.value)
        item.setForeground(2, QBrush(LIST_ONLY_COLOR if list_only else theme.link_color(status.link)))
        tip = f"{status.name} ({status.account_id}): {status.link.value}"
        if status.detail:
            tip += f" — {status.detail}"
        if status.can_cancel is False:
            tip += " — its key can list but not cancel: left out of the kill switch and dead man's switch"
        for col in range(len(self.COLUMNS)):
            item.setToolTip(col, tip)
        count = self._count_of(status.account_id) if self._count_of is not None else status.open_orders
        self._set_count(status.account_id, count)

    def _set_count(self, account_id: str, count: int) -> None:
        item = self._items.get(account_id)
        if item is None:
            return
        self._counts[account_id] = count
        text = f"{count:,}"
        if item.text(3) != text:
            item.setText(3, text)
        total = f"{sum(self._counts.values()):,}"
        if self.all_item.text(3) != total:
            self.all_item.setText(3, total)

    def refresh_counts(self) -> None:
        """Read every account's count again (from ``count_of``)."""
        self._counts_dirty = False
        if self._count_of is None:
            return
        for account_id in self._items:
            self._set_count(account_id, self._count_of(account_id))

    def counts_changed(self) -> None:
        """The book changed: the counts are read when the sidebar is next painted (so whatever
        is on screen, a screenshot included, is right; a busy stream costs one read a frame)."""
        if not self._counts_dirty:
            self._counts_dirty = True
            self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._counts_dirty:
            self.refresh_counts()
        super().paintEvent(event)

    def remove_account(self, account_id: str) -> None:
        """Drop an account's row (selecting "All accounts" if it was current)."""
        item = self._items.pop(account_id, None)
        self._counts.pop(account_id, None)
        if item is None:
            return
        if self.currentItem() is item:
            self.setCurrentItem(self.all_item)
        self.takeTopLevelItem(self.indexOfTopLevelItem(item))
        self.all_item.setText(3, f"{sum(self._counts.values()):,}")

    def _menu_at(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        self.setCurrentItem(item)
        account_id = item.data(0, ACCOUNT_ROLE)
        menu = QMenu(self)
        menu.setObjectName("sidebar_menu")
        if account_id is None:
            show = menu.addAction("Show every account's orders")
            show.triggered.connect(lambda: self.select_account(None))
        else:
            aid, name = str(account_id), item.text(0)
            show = menu.addAction(f"Show only {name}'s orders")
            show.triggered.connect(lambda: self.select_account(aid))
            refresh = menu.addAction(f"Refresh {name}")
            refresh.triggered.connect(lambda: self.refresh_requested.emit(aid))
            menu.addSeparator()
            cancel = menu.addAction(f"Cancel all orders on {name}…")
            cancel.setObjectName("sidebar_cancel_all")
            cancel.triggered.connect(lambda: self.cancel_account_requested.emit(aid))
            menu.addSeparator()
            copy = menu.addAction("Copy account id")
            copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(aid))
        menu.aboutToHide.connect(menu.deleteLater)
        self._menu = menu
        menu.popup(self.viewport().mapToGlobal(pos))

"""The accounts sidebar: each account's venue, connection state and open-order count."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

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

    Rules kept: rows change in place as the desk reports (no rebuild, the selection survives);
    the state is shown as text and colour, the detail as a tooltip.
    """

    current_account_changed = Signal(object)

    COLUMNS = ("Account", "Venue", "State", "Orders")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("accounts_sidebar")
        self.setColumnCount(len(self.COLUMNS))
        self.setHeaderLabels(list(self.COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # Keyboard shortcuts belong to the orders table; the sidebar is for the mouse and Tab.
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._counts: dict[str, int] = {}
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
        color = theme.LINK_COLORS.get(status.link, theme.LINK_COLORS[LinkState.DOWN])
        list_only = status.can_cancel is False and status.link is not LinkState.DOWN
        item.setText(2, f"{status.link.value} · list only" if list_only else status.link.value)
        item.setForeground(2, QBrush(LIST_ONLY_COLOR if list_only else color))
        item.setText(3, str(status.open_orders))
        tip = f"{status.name} ({status.account_id}): {status.link.value}"
        if status.detail:
            tip += f" — {status.detail}"
        if status.can_cancel is False:
            tip += " — its key can list but not cancel: left out of the kill switch and dead man's switch"
        for col in range(len(self.COLUMNS)):
            item.setToolTip(col, tip)
        self._counts[status.account_id] = status.open_orders
        self.all_item.setText(3, str(sum(self._counts.values())))

    def remove_account(self, account_id: str) -> None:
        """Drop an account's row (selecting "All accounts" if it was current)."""
        item = self._items.pop(account_id, None)
        self._counts.pop(account_id, None)
        if item is None:
            return
        if self.currentItem() is item:
            self.setCurrentItem(self.all_item)
        self.takeTopLevelItem(self.indexOfTopLevelItem(item))
        self.all_item.setText(3, str(sum(self._counts.values())))

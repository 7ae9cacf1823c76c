"""The accounts sidebar: each account's venue, connection state, dead man's switch and open-order count.

Under an account, a second line appears when there is something to say: Kraken's own status
(maintenance, cancel only, an announced maintenance), how old the rows are when the link is not
live, a dead man's switch Kraken has not acknowledged. Countdowns tick (``tick`` once a second).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPaintEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTreeWidget, QTreeWidgetItem, QWidget

from app.core.accounts import LinkState
from app.desk.deadman import DeadmanState
from app.desk.desk import AccountStatus
from app.desk.venues import descriptor
from app.ui import status_text, theme

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

    COLUMNS = ("Account", "Venue", "State", "Switch", "Orders")
    COUNT = 4  # the Orders column

    def __init__(
        self, parent: QWidget | None = None, *, count_of: Callable[[str], int] | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("accounts_sidebar")
        self._count_of = count_of
        self.setColumnCount(len(self.COLUMNS))
        self.setHeaderLabels(list(self.COLUMNS))
        self.setRootIsDecorated(False)
        self.setItemsExpandable(False)  # a detail line is shown whenever it has something to say
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
        self._details: dict[str, QTreeWidgetItem] = {}
        self._status: dict[str, AccountStatus] = {}
        self._deadman: dict[str, DeadmanState] = {}
        self._switch_on = False
        self._counts: dict[str, int] = {}
        self._menu: QMenu | None = None
        self._counts_dirty = False
        self.all_item = QTreeWidgetItem(["All accounts", "", "", "", "0"])
        self.all_item.setData(0, ACCOUNT_ROLE, None)
        self.all_item.setTextAlignment(
            self.COUNT, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
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
            fm.horizontalAdvance("⚠ 00:00:00") + 16,
            fm.horizontalAdvance("00,000") + 16,
        ]
        return sum(widths) + 2 * self.frameWidth() + 4

    def update_status(self, status: AccountStatus) -> None:
        """Add or update an account's row."""
        item = self._items.get(status.account_id)
        if item is None:
            item = QTreeWidgetItem()
            item.setData(0, ACCOUNT_ROLE, status.account_id)
            item.setTextAlignment(self.COUNT, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._items[status.account_id] = item
            self.addTopLevelItem(item)
        item.setText(0, status.name)
        item.setText(1, status.venue.value.capitalize())
        self._status[status.account_id] = status
        self._show(status.account_id, time.time())
        count = self._count_of(status.account_id) if self._count_of is not None else status.open_orders
        self._set_count(status.account_id, count)

    def update_deadman(self, states: Mapping[str, DeadmanState], switch_on: bool) -> None:
        """The dead man's switch of every account (``switch_on``: the window's switch is on)."""
        self._deadman = dict(states)
        self._switch_on = switch_on
        self.tick()

    def tick(self, now: float | None = None) -> None:
        """Say every account's state again at ``now``: countdowns move, "down for" grows."""
        at = time.time() if now is None else now
        for account_id in self._items:
            self._show(account_id, at)

    def _show(self, account_id: str, now: float) -> None:
        item, status = self._items.get(account_id), self._status.get(account_id)
        if item is None or status is None:
            return
        said = status_text.link(status, now)
        list_only = status.can_cancel is False and status.link is not LinkState.DOWN
        _set(item, 2, f"{said.short} · list only" if list_only else said.short)
        item.setForeground(2, QBrush(LIST_ONLY_COLOR if list_only else theme.qcolor(said.tone or "text")))
        dm_state = self._deadman.get(account_id)
        if dm_state is None and not descriptor(status.venue).capabilities.deadman:
            dm_state = DeadmanState(account_id, False, supported=False)  # none, armed or not
        dm = status_text.deadman(dm_state, now, switch_on=self._switch_on)
        _set(item, 3, dm.short)
        item.setForeground(3, QBrush(theme.qcolor(dm.tone or "text")))
        tip = f"{said.long} ({status.account_id})"
        if status.can_cancel is False:
            tip += "\nIts key can list but not cancel: left out of the kill switch and dead man's switch"
        tip += f"\n{dm.long}"
        kraken = status_text.kraken(status.kraken, now)
        if kraken is not None:
            tip += f"\n{kraken.long}"
        for col in range(len(self.COLUMNS)):
            if item.toolTip(col) != tip:
                item.setToolTip(col, tip)
        self._detail(account_id, item, status, dm_state, kraken, now)

    def _detail(
        self,
        account_id: str,
        item: QTreeWidgetItem,
        status: AccountStatus,
        dm: DeadmanState | None,
        kraken: status_text.Said | None,
        now: float,
    ) -> None:
        parts: list[str] = []
        tone = "dim"
        if dm is not None and dm.armed and dm.trigger_at is not None and (dm.failing or dm.trigger_at <= now):
            since = status_text.clock(dm.acked_at) if dm.acked_at is not None else "the start"
            fires = "fired" if dm.trigger_at <= now else "cancels all"
            parts.append(f"no ack since {since}: Kraken {fires} at {status_text.clock(dm.trigger_at)}")
            tone = "failed"
        if kraken is not None and status.kraken is not None and status.kraken.status != "unknown":
            parts.append(f"Kraken: {kraken.short}")
            if tone == "dim":
                tone = kraken.tone
        if status.stale and status.live_at is not None:
            parts.append(f"rows as of {status_text.clock(status.live_at)}")
        elif status.stale:
            parts.append("no rows listed yet")
        child = self._details.get(account_id)
        if not parts:
            if child is not None:
                item.removeChild(child)
                del self._details[account_id]
            return
        if child is None:
            child = QTreeWidgetItem()
            child.setData(0, ACCOUNT_ROLE, account_id)
            item.addChild(child)
            child.setFirstColumnSpanned(True)
            item.setExpanded(True)
            self._details[account_id] = child
        _set(child, 0, "   " + " · ".join(parts))
        child.setForeground(0, QBrush(theme.qcolor(tone)))
        child.setToolTip(0, item.toolTip(0))

    def _set_count(self, account_id: str, count: int) -> None:
        item = self._items.get(account_id)
        if item is None:
            return
        self._counts[account_id] = count
        _set(item, self.COUNT, f"{count:,}")
        _set(self.all_item, self.COUNT, f"{sum(self._counts.values()):,}")

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
        self._status.pop(account_id, None)
        self._details.pop(account_id, None)
        if item is None:
            return
        if self.currentItem() is item:
            self.setCurrentItem(self.all_item)
        self.takeTopLevelItem(self.indexOfTopLevelItem(item))
        self.all_item.setText(self.COUNT, f"{sum(self._counts.values()):,}")

    def _menu_at(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        parent = item.parent()
        if parent is not None:  # an account's detail line: its account
            item = parent
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


def _set(item: QTreeWidgetItem, column: int, text: str) -> None:
    """Set a cell's text only when it changed (a tick a second repaints nothing that stayed)."""
    if item.text(column) != text:
        item.setText(column, text)

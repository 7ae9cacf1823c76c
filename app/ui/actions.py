"""The window's commands as QActions with their shortcuts, and the cancel flow (confirm, then send)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.core.orders import Order
from app.core.plan import CancelIntent, Plan, RequestForm, Scope
from app.ui.bridge import DeskBridge
from app.ui.dialogs import ConfirmCancelDialog

log = logging.getLogger("app.ui.actions")

SHORTCUTS: list[tuple[str, str]] = [
    ("Del", "Cancel the selected orders (one order at once; more after a confirmation)"),
    ("Ctrl+A", "Select every visible order"),
    ("Ctrl+F", "Filter orders (symbol, side, order id, client id, account)"),
    ("Esc", "Clear the selection; pressed again, clear the filter"),
    ("F5", "Refresh every account now"),
    ("Ctrl+Shift+X", "Cancel all orders on the current account (sidebar)"),
    ("Ctrl+Shift+K", "Kill switch: cancel all orders on every account"),
    ("Ctrl+Shift+C", "Copy the selected order ids"),
    ("Ctrl+Shift+D", "Dead man's switch on/off: Kraken cancels everything if this console goes quiet"),
    ("Ctrl+,", "Accounts and API keys"),
    ("Return", "In a confirmation: cancel the orders"),
    ("Esc", "In a confirmation: keep the orders"),
    ("F1", "Show these shortcuts"),
    ("Ctrl+Q", "Quit"),
]


def _action(
    parent: QWidget, text: str, shortcut: str | QKeySequence.StandardKey | None, tip: str, name: str
) -> QAction:
    action = QAction(text, parent)
    action.setObjectName(name)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
        # Works wherever the focus is in the window (table, sidebar, toolbar); widgets that use
        # a key themselves (the filter box's Delete, Ctrl+A, Esc) still get it first.
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        tip = f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(tip)
    action.setStatusTip(tip)
    parent.addAction(action)
    return action


class WindowActions:
    """Every command of the main window; each action is added to the window so its shortcut works
    with the focus anywhere in it (``Qt.WindowShortcut``)."""

    def __init__(self, window: QWidget) -> None:
        self.cancel_selected = _action(
            window, "Cancel selected", "Del", "Cancel the selected orders", "cancel_selected"
        )
        self.cancel_account = _action(
            window,
            "Cancel all on account",
            "Ctrl+Shift+X",
            "Cancel all on the current account",
            "cancel_account",
        )
        self.kill_switch = _action(
            window, "Kill switch", "Ctrl+Shift+K", "Cancel all orders on every account", "kill_switch"
        )
        self.refresh = _action(window, "Refresh", "F5", "Re-list every account now", "refresh")
        self.deadman = _action(
            window,
            "Dead man's switch",
            "Ctrl+Shift+D",
            "Keep Kraken's cancel-all timer armed while this console runs",
            "deadman",
        )
        self.deadman.setCheckable(True)
        self.select_all = _action(window, "Select all", "Ctrl+A", "Select every visible order", "select_all")
        self.find = _action(window, "Filter…", "Ctrl+F", "Filter the orders", "find")
        self.clear = _action(
            window, "Clear selection / filter", "Esc", "Clear the selection or filter", "clear"
        )
        self.copy_ids = _action(
            window, "Copy order ids", "Ctrl+Shift+C", "Copy the selected order ids", "copy_ids"
        )
        self.accounts = _action(
            window, "Accounts…", "Ctrl+,", "Add, edit or remove accounts and keys", "accounts"
        )
        self.shortcuts = _action(
            window, "Keyboard shortcuts", "F1", "List the keyboard shortcuts", "shortcuts"
        )
        self.quit = _action(window, "Quit", "Ctrl+Q", "Quit the console", "quit")


def describe_plan(plan: Plan, bridge: DeskBridge) -> list[str]:
    """One line per account: how many known orders, how they are sent, and whether orders placed
    since the last refresh go too (only cancel-all forms reach them)."""
    lines: list[str] = []
    for account_id, requests in plan.by_account().items():
        status = bridge.desk.status.get(account_id)
        venue = status.venue.value.capitalize() if status else "?"
        known = sum(len(r.orders) for r in requests)
        noun = "order" if known == 1 else "orders"
        forms = {r.form for r in requests}
        if plan.intent.scope is Scope.USERREF:
            text = (
                f"every order with userref {plan.intent.userref} ({known} known {noun}), "
                "plus any placed since the last refresh"
            )
        elif RequestForm.ALL in forms:
            text = f"{known} known {noun}, plus any order placed since the last refresh"
        elif RequestForm.ALL_FOR_SYMBOL in forms:
            text = f"{known} known {noun}, plus any {plan.intent.symbol} order placed since the last refresh"
        else:
            text = f"{known} {noun}"
        n_req = len(requests)
        how = "one request" if n_req == 1 else f"{n_req} requests"
        lines.append(f"• {bridge.account_name(account_id)} ({venue}): {text} — {how}")
    return lines


class CancelFlow(QObject):
    """Turns a trader's cancel command into a plan, asks when it may touch more than one order,
    and hands it to the bridge.

    Signals:
        message(str): something to tell the trader in the status bar ("nothing to cancel").
        confirmation_opened(object): the ``ConfirmCancelDialog`` just opened.

    Rules kept: a single order is cancelled at once (speed); anything that may touch more than
    one order (several orders, a symbol, a userref, an account, everything) is confirmed first in
    a dialog opened with ``open()``; what is sent is exactly the plan the dialog described; only
    one confirmation is open at a time.
    """

    message = Signal(str)
    confirmation_opened = Signal(object)

    def __init__(self, bridge: DeskBridge, window: QWidget) -> None:
        super().__init__(window)
        self._bridge = bridge
        self._window = window
        self.dialog: ConfirmCancelDialog | None = None

    # --- commands -------------------------------------------------------------------------------

    def cancel_orders(self, orders: Sequence[Order]) -> None:
        """Cancel exactly these orders (one: at once; more: after confirming)."""
        if not orders:
            self.message.emit("Nothing selected: select orders first (Ctrl+A selects all shown).")
            return
        intent = CancelIntent(Scope.ORDERS, tuple(orders))
        plan = self._bridge.plan(intent)
        if not plan.requests:
            self.message.emit("Those orders are already being cancelled.")
            return
        if plan.order_count == 1:
            self._bridge.cancel(intent, plan)
            return
        n = plan.order_count
        self._confirm(intent, plan, "Cancel orders", f"Cancel {n} selected orders?")

    def cancel_symbol(self, account_id: str, symbol: str) -> None:
        """Cancel every ``symbol`` order on one account."""
        intent = CancelIntent(Scope.SYMBOL, account_ids=(account_id,), symbol=symbol)
        plan = self._bridge.plan(intent)
        where = self._bridge.account_name(account_id)
        self._confirm(intent, plan, "Cancel symbol", f"Cancel all {symbol} orders on {where}?")

    def cancel_userref(self, account_id: str, userref: int) -> None:
        """Cancel every order carrying ``userref`` on one (Spot) account."""
        intent = CancelIntent(Scope.USERREF, account_ids=(account_id,), userref=userref)
        plan = self._bridge.plan(intent)
        where = self._bridge.account_name(account_id)
        self._confirm(intent, plan, "Cancel userref", f"Cancel all orders with userref {userref} on {where}?")

    def cancel_account(self, account_id: str | None) -> None:
        """Cancel everything on one account (Ctrl+Shift+X)."""
        if account_id is None:
            ids = list(self._bridge.desk.venues)
            if len(ids) != 1:
                self.message.emit("Select an account in the sidebar first (Ctrl+Shift+K cancels everywhere).")
                return
            account_id = ids[0]
        intent = CancelIntent(Scope.ACCOUNT, account_ids=(account_id,))
        plan = self._bridge.plan(intent)
        where = self._bridge.account_name(account_id)
        self._confirm(intent, plan, "Cancel all on account", f"Cancel all orders on {where}?")

    def kill_switch(self) -> None:
        """Cancel everything on every connected account (Ctrl+Shift+K)."""
        desk = self._bridge.desk
        accounts = desk.cancel_account_ids()  # keys that cannot cancel are left out
        left_out = [a for a in desk.venues if a not in accounts]
        if not accounts:
            self.message.emit(
                "No account that can cancel is connected." if left_out else "No account is connected."
            )
            return
        # Name every account: one with no known order may still have new ones (cancel-all).
        intent = CancelIntent(Scope.EVERYTHING, account_ids=accounts)
        plan = self._bridge.plan(intent)
        n = len(accounts)
        warning = [
            f"⚠ Left out: {self._bridge.account_name(a)}: its key can list but not cancel." for a in left_out
        ]
        self._confirm(
            intent,
            plan,
            "Kill switch",
            f"Kill switch: cancel ALL orders on {n} account{'s' if n != 1 else ''}?",
            danger=True,
            confirm_text="Cancel everything",
            warning=warning,
        )

    # --- confirmation -----------------------------------------------------------------------------

    def _confirm(
        self,
        intent: CancelIntent,
        plan: Plan,
        title: str,
        headline: str,
        *,
        danger: bool = False,
        confirm_text: str = "Cancel orders",
        warning: Sequence[str] = (),
    ) -> None:
        if not plan.requests:
            self.message.emit(f"Nothing to cancel ({intent.describe()}).")
            return
        if self.dialog is not None:
            self.dialog.reject()
        dialog = ConfirmCancelDialog(
            title,
            headline,
            [*describe_plan(plan, self._bridge), *warning],
            confirm_text=confirm_text,
            danger=danger,
            parent=self._window,
        )
        self.dialog = dialog

        def accepted() -> None:
            self._bridge.cancel(intent, plan)

        def finished(_result: int) -> None:
            if self.dialog is dialog:
                self.dialog = None
            dialog.deleteLater()

        dialog.accepted.connect(accepted)
        dialog.finished.connect(finished)
        dialog.open()
        self.confirmation_opened.emit(dialog)

"""The window's commands as QActions with their shortcuts, and the cancel flow (confirm, then send)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from app.core.accounts import LinkState
from app.core.orders import Order, Side
from app.core.plan import CancelIntent, Plan, RequestForm, Scope
from app.desk.killswitch import DEFAULT_HOLD_S
from app.ui.bridge import DeskBridge
from app.ui.dialogs import ConfirmCancelDialog
from app.ui.theme import ThemeChoice

log = logging.getLogger("app.ui.actions")

SHORTCUTS: list[tuple[str, str]] = [
    ("Del", "Cancel the selected orders (one order at once; more after a confirmation)"),
    ("Ctrl+A", "Select every visible order (also from the filter box)"),
    ("Ctrl+F", "Filter orders: words must all match, e.g. btc sell, side:sell, type:stop, >notional:10k"),
    ("Return", "In the filter box: go to the table"),
    ("Esc", "Clear the selection; pressed again, clear the filter"),
    ("Ctrl+G", "Group by symbol on/off"),
    ("Ctrl+Shift+B", "Cancel all buys of the current row's symbol, on every account"),
    ("Ctrl+Shift+S", "Cancel all sells of the current row's symbol, on every account"),
    ("Ctrl+Shift+Del", "Cancel everything for the current row's symbol, on every account"),
    ("F5", "Refresh every account now"),
    ("Ctrl+Shift+X", "Cancel all orders on the current account (sidebar)"),
    ("Ctrl+Shift+K", "Kill switch: cancel all orders on every account"),
    ("Ctrl+Shift+C", "Copy the selected order ids"),
    ("Ctrl+Shift+D", "Dead man's switch on/off: Kraken cancels everything if this console goes quiet"),
    ("Ctrl+=", "Zoom in (Ctrl+- zooms out, Ctrl+0 back to 100%)"),
    ("Ctrl+,", "Accounts and API keys"),
    ("Ctrl+H", "History: every cancel in the audit log, across sessions; an order's whole life"),
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
        self.history = _action(
            window, "History…", "Ctrl+H", "Every cancel in the audit log, across sessions", "history"
        )
        self.quit = _action(window, "Quit", "Ctrl+Q", "Quit the console", "quit")
        self.group_by_symbol = _action(
            window, "Group by symbol", "Ctrl+G", "One row per symbol, its orders inside", "group_by_symbol"
        )
        self.group_by_symbol.setCheckable(True)
        self.cancel_symbol_buys = _action(
            window,
            "Cancel all buys of this symbol",
            "Ctrl+Shift+B",
            "Cancel every buy order of the current row's symbol, on every account",
            "cancel_symbol_buys",
        )
        self.cancel_symbol_sells = _action(
            window,
            "Cancel all sells of this symbol",
            "Ctrl+Shift+S",
            "Cancel every sell order of the current row's symbol, on every account",
            "cancel_symbol_sells",
        )
        self.cancel_symbol_all = _action(
            window,
            "Cancel everything for this symbol",
            "Ctrl+Shift+Del",
            "Cancel every order of the current row's symbol, on every account",
            "cancel_symbol_all",
        )
        self.zoom_in = _action(window, "Zoom in", "Ctrl+=", "Larger text", "zoom_in")
        self.zoom_in.setShortcuts([QKeySequence("Ctrl+="), QKeySequence("Ctrl++")])
        self.zoom_out = _action(window, "Zoom out", "Ctrl+-", "Smaller text", "zoom_out")
        self.zoom_reset = _action(window, "Actual size", "Ctrl+0", "Text at 100%", "zoom_reset")
        self.columns = _action(window, "Columns…", None, "Show or hide columns", "columns")
        self.reset_layout = _action(
            window,
            "Reset layout",
            None,
            "Columns, widths, sort, panels and zoom as they first were",
            "reset_layout",
        )
        self.theme_group = QActionGroup(window)
        self.theme_actions: dict[ThemeChoice, QAction] = {}
        for choice, text in (
            (ThemeChoice.SYSTEM, "Follow the system"),
            (ThemeChoice.LIGHT, "Light"),
            (ThemeChoice.DARK, "Dark"),
        ):
            a = _action(window, text, None, f"Theme: {text.lower()}", f"theme_{choice.value}")
            a.setCheckable(True)
            self.theme_group.addAction(a)
            self.theme_actions[choice] = a


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
                f"every order with userref {plan.intent.userref} ({known:,} known {noun}), "
                "plus any placed since the last refresh"
            )
        elif RequestForm.ALL in forms:
            text = f"{known:,} known {noun}, plus any order placed since the last refresh"
        elif RequestForm.ALL_FOR_SYMBOL in forms:
            text = (
                f"{known:,} known {noun}, plus any {plan.intent.symbol} order placed since the last refresh"
            )
        else:
            text = f"{known:,} {noun}"
        n_req = len(requests)
        how = "one request" if n_req == 1 else f"{n_req:,} requests"
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
        self.kill_hold_s = DEFAULT_HOLD_S  # the kill switch holds flat this long (a setting)

    # --- commands -------------------------------------------------------------------------------

    def cancel_orders(self, orders: Sequence[Order], *, shown: str | None = None) -> None:
        """Cancel exactly these orders (one: at once; more: after confirming).

        Args:
            orders: the orders.
            shown: what the table was filtered by, repeated in the confirmation (a bulk cancel
                of a filtered table must say what the filter was).
        """
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
        whole = self.whole_accounts(orders)
        if whole is None:
            self._confirm(intent, plan, "Cancel orders", f"Cancel {n:,} selected orders?", shown=shown)
            return
        all_intent, all_plan = whole
        names = ", ".join(self._bridge.account_name(a) for a in all_intent.account_ids)
        many = len(all_intent.account_ids) > 1
        requests = "one request per account" if many else "one request"
        offer = [
            f"This is every order on {names}. “Cancel all on {'accounts' if many else 'account'}” "
            f"sends {requests} instead: faster, also takes orders placed since the last refresh."
        ]
        self._confirm(
            intent,
            plan,
            "Cancel orders",
            f"Cancel {n:,} selected orders?",
            shown=shown,
            warning=offer,
            alternative=("Cancel &all on accounts" if many else "Cancel &all on account"),
            on_alternative=lambda: self._bridge.cancel(all_intent, all_plan),
        )

    def whole_accounts(self, orders: Sequence[Order]) -> tuple[CancelIntent, Plan] | None:
        """When ``orders`` are every order known on their accounts (more than one), the
        cancel-all that does the same in one request per account: its intent and plan. None when
        the selection leaves any order out, or an account's venue has no cancel-all (Prime)."""
        if len(orders) < 2:
            return None
        chosen = {o.key for o in orders}
        accounts = tuple(dict.fromkeys(o.account_id for o in orders))
        store = self._bridge.desk.store
        if any(o.key not in chosen for a in accounts for o in store.orders(a)):
            return None
        intent = CancelIntent(Scope.ACCOUNT, account_ids=accounts)
        plan = self._bridge.plan(intent)
        if not plan.requests or any(r.form is not RequestForm.ALL for r in plan.requests):
            return None
        return intent, plan

    def cancel_market(
        self,
        symbol: str,
        orders: Sequence[Order],
        side: Side | None = None,
        *,
        whole_symbol: bool = False,
        shown: str | None = None,
    ) -> None:
        """Cancel one market's orders across accounts: its buys, its sells, or everything.

        Never wider than the market: with ``side`` (or ``whole_symbol`` False) exactly
        ``orders`` are sent (ORDERS scope); for everything on an unfiltered table, each account
        gets the planner's SYMBOL scope for its own name of the market (a Futures account then
        sends its symbol-scoped cancel-all, which also takes orders placed since), never an
        account-wide cancel-all.

        Args:
            symbol: the market's one name (``BTC/USD``), for the confirmation.
            orders: the market's orders as shown (any accounts).
            side: only buys or only sells; None for both.
            whole_symbol: everything for the market on the accounts that list it (SYMBOL
                scope), not only the orders shown.
            shown: what the table was filtered by, repeated in the confirmation.
        """
        chosen = [o for o in orders if side is None or o.side is side]
        what = "everything" if side is None else f"all {side.value}s"
        if not chosen:
            self.message.emit(f"No {'order' if side is None else side.value} of {symbol} to cancel.")
            return
        accounts = list(dict.fromkeys(o.account_id for o in chosen))
        where = f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}"
        if side is None and whole_symbol:
            intent, plan = self.plan_market(symbol, chosen)
        else:
            intent = CancelIntent(Scope.ORDERS, tuple(chosen))
            plan = self._bridge.plan(intent)
        n = plan.order_count
        headline = (
            f"Cancel everything for {symbol} on {where} ({n} known order{'s' if n != 1 else ''})?"
            if side is None
            else f"Cancel {what} of {symbol} on {where} ({n} order{'s' if n != 1 else ''})?"
        )
        self._confirm(intent, plan, f"Cancel {what} of {symbol}", headline, shown=shown)

    def plan_market(self, symbol: str, orders: Sequence[Order]) -> tuple[CancelIntent, Plan]:
        """One plan for everything of a market: the planner's SYMBOL scope per account, each for
        the venue's own name of the market, joined (requests in account order)."""
        names = list(dict.fromkeys((o.account_id, o.symbol) for o in orders))
        accounts = tuple(dict.fromkeys(a for a, _ in names))
        intent = CancelIntent(Scope.SYMBOL, account_ids=accounts, symbol=symbol)
        plan = Plan(intent)
        for account_id, venue_symbol in names:
            part = self._bridge.plan(
                CancelIntent(Scope.SYMBOL, account_ids=(account_id,), symbol=venue_symbol)
            )
            plan.requests.extend(part.requests)
        return intent, plan

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
        down = [
            st.name
            for a in accounts
            if (st := desk.status.get(a)) is not None and st.link not in (LinkState.LIVE, LinkState.POLLING)
        ]
        if down:
            warning.append(f"Not reachable now: {', '.join(down)}: cancelled as soon as they are back.")
        hold = self.kill_hold_s
        if hold > 0:
            warning.append(f"Then holds flat for {hold:g} s: anything that appears is cancelled (Esc stops).")
        self._confirm(
            intent,
            plan,
            "Kill switch",
            f"Kill switch: cancel ALL orders on {n} account{'s' if n != 1 else ''}?",
            danger=True,
            confirm_text="Cancel everything",
            warning=warning,
            on_accept=lambda: self._bridge.kill_switch(hold),
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
        shown: str | None = None,
        on_accept: Callable[[], object] | None = None,
        alternative: str | None = None,
        on_alternative: Callable[[], object] | None = None,
    ) -> None:
        if not plan.requests:
            self.message.emit(f"Nothing to cancel ({intent.describe()}).")
            return
        if self.dialog is not None:
            self.dialog.reject()
        details = describe_plan(plan, self._bridge)
        if shown:
            details.insert(0, f"Only what the table shows — {shown}")
        dialog = ConfirmCancelDialog(
            title,
            headline,
            [*details, *warning],
            confirm_text=confirm_text,
            danger=danger,
            alternative=alternative,
            parent=self._window,
        )
        self.dialog = dialog
        if on_alternative is not None:
            dialog.alternative_chosen.connect(on_alternative)

        def accepted() -> None:
            if on_accept is not None:
                on_accept()
            else:
                self._bridge.cancel(intent, plan)

        def finished(_result: int) -> None:
            if self.dialog is dialog:
                self.dialog = None
            dialog.deleteLater()

        dialog.accepted.connect(accepted)
        dialog.finished.connect(finished)
        dialog.open()
        self.confirmation_opened.emit(dialog)

"""The main window against the real desk and the real simulator: keys in, orders gone on the exchange."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.qtbot import QtBot

from app.core.ledger import CancelState
from app.desk.coordinator import CancelReport
from app.desk.desk import Desk
from app.sim.server import SimThread
from app.ui.app import serve_window
from app.ui.dialogs import ConfirmCancelDialog, ShortcutsDialog
from app.ui.main_window import MainWindow
from app.ui.models import Column
from tests.ui.helpers import SPOT2_ORDERS, SPOT_ORDERS, sim_open_ids, wait_signal, wait_until

OpenUI = Callable[[], AbstractAsyncContextManager[MainWindow]]
CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
TOTAL = SPOT_ORDERS + SPOT2_ORDERS


def select_rows(window: MainWindow, rows: range | list[int]) -> None:
    sel = window.table.selectionModel()
    sel.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for r in rows:
        sel.select(window.proxy.index(r, 0), flags)


async def confirm_by_keyboard(window: MainWindow, qtbot: QtBot) -> CancelReport:
    """Press Enter in the open confirmation and wait for the cancel's report."""
    dialog = window.flow.dialog
    assert isinstance(dialog, ConfirmCancelDialog)
    settled = wait_signal(window.bridge.cancel_settled)
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    (report,) = await settled
    assert isinstance(report, CancelReport)
    return report


async def test_delete_cancels_the_one_selected_order_at_once(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.sidebar.select_account("spot")
        order = window.proxy.order_at(3)
        assert order.order_id in sim_open_ids(sim, "spot")
        select_rows(window, [3])
        settled = wait_signal(window.bridge.cancel_settled)
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        assert window.flow.dialog is None  # one order: no confirmation
        (report,) = await settled
        assert report.counts == {CancelState.CANCELLED: 1}
        assert order.order_id not in sim_open_ids(sim, "spot")
        assert len(sim_open_ids(sim, "spot")) == SPOT_ORDERS - 1
        assert window.model.row_of(order.key) is None
        action = window.bridge.activity_model.action(report.attempt)
        assert action is not None and action is window.bridge.activity_model.latest()
        assert action.title == "cancel 1 order"
        node = action.orders[order.key]
        assert (node.state, [s.word for s in node.children]) == (
            CancelState.CANCELLED,
            ["queued", "sent", "cancelled"],
        )
        assert "cancel 1 order: cancelled 1" in window.last_message()
        assert "1 order in 1 request" in window.last_message()


async def test_delete_on_many_asks_and_enter_confirms(open_ui: OpenUI, sim: SimThread, qtbot: QtBot) -> None:
    async with open_ui() as window:
        window.sidebar.select_account("spot")
        assert window.proxy.rowCount() == SPOT_ORDERS
        chosen = {window.proxy.order_at(r).order_id for r in range(2, 7)}
        select_rows(window, range(2, 7))
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert dialog.headline.text() == "Cancel 5 selected orders?"
        assert "Main spot (Spot): 5 orders — one request" in dialog.details.text()
        assert chosen <= sim_open_ids(sim, "spot")  # nothing sent before Enter
        report = await confirm_by_keyboard(window, qtbot)
        assert report.orders == 5
        assert not sim_open_ids(sim, "spot") & chosen
        assert len(sim_open_ids(sim, "spot")) == SPOT_ORDERS - 5
        assert len(sim_open_ids(sim, "spot2")) == SPOT2_ORDERS
        await wait_until(lambda: window.proxy.rowCount() == SPOT_ORDERS - 5, what="rows to leave")


async def test_escape_in_a_confirmation_keeps_the_orders(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        started: list[object] = []
        window.bridge.cancel_started.connect(started.append)
        select_rows(window, range(0, 4))
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        dialog = window.flow.dialog
        assert dialog is not None and dialog.isVisible()
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        assert window.flow.dialog is None
        assert started == [] and not [t for t in window.bridge.tasks if t.get_name().startswith("cancel")]
        assert len(sim_open_ids(sim, "spot")) == SPOT_ORDERS
        assert window.model.rowCount() == TOTAL


async def test_ctrl_shift_x_cancels_everything_on_the_current_account_only(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.sidebar.select_account("spot")
        window.table.setFocus()
        qtbot.keyClick(window.table, Qt.Key.Key_X, CTRL_SHIFT)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert dialog.headline.text() == "Cancel all orders on Main spot?"
        details = dialog.details.text()
        assert f"{SPOT_ORDERS} known orders, plus any order placed since the last refresh" in details
        report = await confirm_by_keyboard(window, qtbot)
        assert report.counts[CancelState.CANCELLED] + report.counts[CancelState.ALREADY_GONE] == SPOT_ORDERS
        assert not sim_open_ids(sim, "spot")
        assert len(sim_open_ids(sim, "spot2")) == SPOT2_ORDERS
        await wait_until(lambda: window.model.rowCount() == SPOT2_ORDERS, what="spot rows gone")
        assert {o.account_id for o in window.model.orders()} == {"spot2"}
        assert window.last_message().startswith("cancel all on spot:")


async def test_ctrl_shift_x_without_a_current_account_says_so(open_ui: OpenUI, qtbot: QtBot) -> None:
    async with open_ui() as window:
        window.sidebar.select_account(None)
        qtbot.keyClick(window.table, Qt.Key.Key_X, CTRL_SHIFT)
        assert window.flow.dialog is None
        assert "Select an account" in window.last_message()


async def test_kill_switch_confirmed_cancels_every_account(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.set_kill_hold(0.0)  # one wave: the holding is tested apart
        qtbot.keyClick(window.table, Qt.Key.Key_K, CTRL_SHIFT)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert dialog.headline.text() == "Kill switch: cancel ALL orders on 2 accounts?"
        assert "Main spot (Spot)" in dialog.details.text()
        assert "Second spot (Spot)" in dialog.details.text()
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        await wait_until(
            lambda: window.bridge.desk.kill is not None and not window.bridge.desk.kill.running,
            what="the kill switch to end",
        )
        kill = window.bridge.desk.kill
        assert kill is not None and kill.state.cancelled == TOTAL
        assert not sim_open_ids(sim, "spot") and not sim_open_ids(sim, "spot2")
        await wait_until(lambda: window.model.rowCount() == 0, what="an empty table")
        assert window.last_message().startswith(f"Kill switch done: cancelled {TOTAL}")


async def test_filter_then_select_all_then_delete_cancels_only_what_is_shown(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        symbol = window.model.order_at(0).symbol
        expected = {o.key for o in window.model.orders() if o.symbol == symbol}
        assert 1 < len(expected) < TOTAL
        qtbot.keyClick(window.table, Qt.Key.Key_F, CTRL)
        assert window.filter_edit.hasFocus()
        qtbot.keyClicks(window.filter_edit, symbol.lower())
        assert {window.proxy.order_at(r).key for r in range(window.proxy.rowCount())} == expected
        assert window.count_label.text() == f"{len(expected)} of {TOTAL} orders"
        window.table.setFocus()
        qtbot.keyClick(window.table, Qt.Key.Key_A, CTRL)
        assert {o.key for o in window.selected_orders()} == expected
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        report = await confirm_by_keyboard(window, qtbot)
        assert report.orders == len(expected)
        left = sim_open_ids(sim, "spot") | sim_open_ids(sim, "spot2")
        assert not left & {k[1] for k in expected}
        assert len(left) == TOTAL - len(expected)


async def test_delete_in_the_filter_box_edits_the_text_and_cancels_nothing(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        started: list[object] = []
        window.bridge.cancel_started.connect(started.append)
        select_rows(window, [0])
        qtbot.keyClick(window.table, Qt.Key.Key_F, CTRL)
        qtbot.keyClicks(window.filter_edit, "xbt")
        window.filter_edit.setCursorPosition(0)
        window.table.selectRow(0)
        qtbot.keyClick(window.filter_edit, Qt.Key.Key_Delete)
        assert window.filter_edit.text() == "bt"
        assert started == [] and window.flow.dialog is None
        assert len(sim_open_ids(sim, "spot")) == SPOT_ORDERS


async def test_escape_clears_the_selection_then_the_filter(open_ui: OpenUI, qtbot: QtBot) -> None:
    async with open_ui() as window:
        window.filter_edit.setText("sell")
        shown = window.proxy.rowCount()
        assert 0 < shown < window.model.rowCount()
        select_rows(window, [0, 1])
        qtbot.keyClick(window.table, Qt.Key.Key_Escape)
        assert window.selected_orders() == [] and window.filter_edit.text() == "sell"
        qtbot.keyClick(window.table, Qt.Key.Key_Escape)
        assert window.filter_edit.text() == ""
        assert window.proxy.rowCount() == window.model.rowCount()


async def test_sidebar_lists_accounts_and_filters_the_table(open_ui: OpenUI) -> None:
    async with open_ui() as window:
        assert window.sidebar.account_ids() == ["spot", "spot2"]
        count = window.sidebar.COUNT
        await wait_until(lambda: window.sidebar.all_item.text(count) == str(TOTAL), what="the total")
        item = window.sidebar._items["spot2"]
        cells = tuple(item.text(c) for c in range(len(window.sidebar.COLUMNS)))
        assert cells == ("Second spot", "Spot", "polling", "off", str(SPOT2_ORDERS))
        window.sidebar.select_account("spot2")
        assert window.proxy.rowCount() == SPOT2_ORDERS
        assert {window.proxy.order_at(r).account_id for r in range(SPOT2_ORDERS)} == {"spot2"}


async def test_context_menu_cancels_a_symbol_on_the_rows_account(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.sidebar.select_account("spot")
        order = window.proxy.order_at(0)
        pos = window.table.visualRect(window.proxy.index(0, Column.TYPE)).center()
        window._context_menu(pos)
        menu = window._menu
        assert menu is not None
        label = f"Cancel all {window.model.facts(order).symbol} on Main spot"  # BTC/USD, not XBTUSD
        action = next(a for a in menu.actions() if a.text() == label)
        menu.close()
        action.trigger()
        await confirm_by_keyboard(window, qtbot)
        left = sim.call(sim.exchange.open_orders, "spot")
        assert left and all(o.symbol != order.symbol for o in left)  # that symbol, that account only
        assert len(sim_open_ids(sim, "spot2")) == SPOT2_ORDERS


async def test_sorting_by_a_header_click_sorts_the_source_rows(open_ui: OpenUI) -> None:
    async with open_ui() as window:
        window.table.sortByColumn(Column.LIMIT, Qt.SortOrder.DescendingOrder)
        prices = [window.proxy.order_at(r).price or 0 for r in range(window.proxy.rowCount())]
        assert prices == sorted(prices, reverse=True)
        assert window.proxy.sortColumn() == -1  # the proxy only filters


async def test_f5_refreshes_and_picks_up_a_new_order(open_ui: OpenUI, sim: SimThread, qtbot: QtBot) -> None:
    async with open_ui() as window:
        new = sim.call(sim.exchange.add_order, "spot2", "XBT/USD", "buy", "limit", "0.5", "20000")
        qtbot.keyClick(window.table, Qt.Key.Key_F5)
        await wait_until(
            lambda: any(o.order_id == new.order_id for o in window.model.orders()), what="new order"
        )


async def test_f1_lists_the_shortcuts(open_ui: OpenUI, qtbot: QtBot) -> None:
    async with open_ui() as window:
        qtbot.keyClick(window.table, Qt.Key.Key_F1)
        dialog = next(d for d in window._dialogs if isinstance(d, ShortcutsDialog))
        actions = [dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())]
        assert any("Kill switch" in a for a in actions)
        dialog.reject()


async def test_screenshot_then_quit(
    open_desk: Callable[[], AbstractAsyncContextManager[Desk]], tmp_path: Path
) -> None:
    shot = tmp_path / "window.png"
    async with open_desk() as desk:
        status = await serve_window(desk, screenshot=str(shot), quit_after=20, close_desk=False)
    assert status == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

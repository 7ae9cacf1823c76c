"""The book a trader reads in a hurry, in the real window: columns at default widths, the filter's
keyboard path, cancels by symbol (never wider), rows held under the pointer, layout kept, themes,
zoom and the demo marking."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPalette
from PySide6.QtWidgets import QApplication, QStyle
from pytestqt.qtbot import QtBot

from app.core.accounts import AccountSpec
from app.core.orders import Order, Side, VenueKind
from app.core.plan import CancelIntent, Plan, RequestForm, Scope, VenueLimits
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.desk.instruments import InstrumentBook
from app.sim.server import SimThread
from app.ui import theme
from app.ui.app import open_window
from app.ui.dialogs import ConfirmCancelDialog, ShortcutsDialog
from app.ui.main_window import MainWindow, short_time
from app.ui.models import FROZEN_COLUMNS, NUMERIC_COLUMNS, Column
from app.ui.theme import ThemeChoice
from tests.helpers.fakes import ScriptedVenue
from tests.ui.conftest import desk_session
from tests.ui.helpers import SPOT2_ORDERS, SPOT_ORDERS, make_order, sim_open_ids, wait_signal, wait_until

OpenUI = Callable[[], AbstractAsyncContextManager[MainWindow]]
CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
TOTAL = SPOT_ORDERS + SPOT2_ORDERS


@asynccontextmanager
async def shown(desk: Desk, **kw: Any) -> AsyncIterator[MainWindow]:
    """The window over ``desk`` (``open_window`` arguments), closed and its bridge shut on exit."""
    font = QApplication.font()
    w = open_window(desk, **kw)
    try:
        w.activateWindow()
        await wait_until(lambda: QApplication.activeWindow() is w, what="the window to be active")
        yield w
    finally:
        bridge = w.bridge
        if bridge.tasks:
            await asyncio.wait(bridge.tasks, timeout=5)
        await bridge.aclose()
        w.close()
        w.deleteLater()
        theme.apply(QApplication.instance(), theme.LIGHT)  # type: ignore[arg-type]
        QApplication.setFont(font)


@asynccontextmanager
async def sim_window(sim: SimThread, tmp_path: Path, **kw: Any) -> AsyncIterator[MainWindow]:
    """The window over the two Spot accounts of the simulator, every order listed and markets loaded."""
    async with desk_session(sim, tmp_path) as desk, shown(desk, **kw) as w:
        await wait_until(lambda: w.model.rowCount() == TOTAL, what="every order listed")
        await wait_until(lambda: len(w.instruments) > 0, what="AssetPairs loaded")
        w.table.setFocus()
        yield w


# --- a desk of three venues, scripted ----------------------------------------------------------------


def three_venue_book() -> dict[str, list[Order]]:
    spot = [
        make_order(1, account="spot", symbol="XBTUSD", side=Side.BUY, price="60000.0", quantity="0.5"),
        make_order(2, account="spot", symbol="XBTUSD", side=Side.SELL, price="70000.0", quantity="0.25"),
        make_order(3, account="spot", symbol="XBTUSD", side=Side.BUY, price="59000.0", quantity="1"),
        make_order(4, account="spot", symbol="ETHUSD", side=Side.BUY, price="3000.00", quantity="2"),
    ]
    fut = [
        make_order(
            10, account="fut", venue=VenueKind.FUTURES, symbol="PF_XBTUSD", side=Side.SELL, price="71000"
        ),
        make_order(
            11, account="fut", venue=VenueKind.FUTURES, symbol="PF_XBTUSD", side=Side.BUY, price="58000"
        ),
        make_order(
            12, account="fut", venue=VenueKind.FUTURES, symbol="PF_ETHUSD", side=Side.BUY, price="2900"
        ),
    ]
    prime = [
        make_order(
            20, account="prime", venue=VenueKind.PRIME, symbol="BTC-USD", side=Side.BUY, price="60500.00"
        ),
        make_order(
            21, account="prime", venue=VenueKind.PRIME, symbol="BTC-USD", side=Side.SELL, price="71500.00"
        ),
    ]
    return {"spot": spot, "fut": fut, "prime": prime}


@asynccontextmanager
async def scripted_window(tmp_path: Path) -> AsyncIterator[tuple[MainWindow, dict[str, ScriptedVenue]]]:
    """A window over three scripted venues with Kraken's cancel shapes (Futures has a symbol-scoped
    cancel-all; Prime has no cancel-all at all)."""
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=60)
    limits = {
        "spot": (VenueKind.SPOT, VenueLimits(max_batch=50, cancel_all=True)),
        "fut": (VenueKind.FUTURES, VenueLimits(max_batch=50, cancel_all=True, cancel_all_for_symbol=True)),
        "prime": (VenueKind.PRIME, VenueLimits(max_batch=50, cancel_all=False)),
    }
    venues: dict[str, ScriptedVenue] = {}
    for aid, orders in three_venue_book().items():
        kind, lim = limits[aid]
        v = ScriptedVenue(aid, kind=kind, limits=lim)
        v.book = orders
        venues[aid] = v
        desk.add_account(AccountSpec(aid, aid.capitalize(), kind), v)  # type: ignore[arg-type]
    try:
        async with shown(desk, instruments=InstrumentBook(fetchers={})) as w:  # no network
            await wait_until(lambda: w.model.rowCount() == 9, what="9 orders listed")
            yield w, venues
    finally:
        await desk.aclose()
        audit.close()


def started(window: MainWindow) -> list[tuple[CancelIntent, Plan]]:
    seen: list[tuple[CancelIntent, Plan]] = []
    window.bridge.cancel_started.connect(seen.append)
    return seen


async def confirm(window: MainWindow, qtbot: QtBot) -> None:
    dialog = window.flow.dialog
    assert isinstance(dialog, ConfirmCancelDialog)
    settled = wait_signal(window.bridge.cancel_settled)
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    await settled
    await reactivate(window)


async def reactivate(window: MainWindow) -> None:
    """The window's shortcuts work in the active window only; offscreen, closing a dialog does
    not give the activation back by itself."""
    window.activateWindow()
    await wait_until(lambda: QApplication.activeWindow() is window, what="the window active again")


def assert_never_wider(plan: Plan, symbol: str, window: MainWindow) -> None:
    """No account-wide cancel-all; every order touched is of ``symbol``; a symbol-scoped
    cancel-all names the venue's own name of it."""
    for req in plan.requests:
        assert req.form is not RequestForm.ALL
        assert all(window.model.facts(o).symbol == symbol for o in req.orders)
        if req.form is RequestForm.ALL_FOR_SYMBOL:
            assert req.symbol is not None and window.model.facts(req.orders[0]).symbol == symbol


# --- columns and formatting ---------------------------------------------------------------------------


async def test_numbers_are_never_cut_at_the_default_widths(sim: SimThread, tmp_path: Path) -> None:
    async with sim_window(sim, tmp_path) as window:
        table = window.table
        margin = 2 * (table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1)
        for zoom in (100, 140):
            window.set_zoom(zoom)
            fm = table.fontMetrics()
            checked = 0
            for row in range(window.proxy.rowCount()):
                for col in Column:
                    if col in (Column.ORDER_ID, Column.CLIENT_ID, Column.CANCEL) or not table.column_shown(
                        col
                    ):
                        continue
                    text = window.proxy.index(row, col).data()
                    if text:
                        width = table.column_width(col)
                        assert fm.horizontalAdvance(text) + margin <= width, (zoom, col.name, text, width)
                        checked += 1
            assert checked > TOTAL * 6
        window.set_zoom(100)
        # Precision per market from AssetPairs: XBT/USD prices have 1 decimal, sizes 8.
        o = next(o for o in window.model.orders() if window.model.facts(o).symbol == "BTC/USD")
        row = window.model.row_of(o.key)
        assert row is not None
        price = window.model.index(row, Column.LIMIT).data()
        assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d", price), price
        assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d{8}", window.model.index(row, Column.QUANTITY).data())
        for col in NUMERIC_COLUMNS:
            assert (
                window.model.index(row, col).data(Qt.ItemDataRole.TextAlignmentRole)
                & Qt.AlignmentFlag.AlignRight
            )


async def test_key_columns_stay_pinned_while_the_table_scrolls(sim: SimThread, tmp_path: Path) -> None:
    async with sim_window(sim, tmp_path) as window:
        table = window.table
        frozen = table.frozen
        assert [c for c in Column if not frozen.isColumnHidden(c)] == list(FROZEN_COLUMNS)
        assert all(table.isColumnHidden(c) for c in FROZEN_COLUMNS)  # painted once, in the pinned part
        assert table.viewport().geometry().left() >= table.frozen_width()  # beside it, not under it
        table.horizontalScrollBar().setValue(table.horizontalScrollBar().maximum())
        await asyncio.sleep(0.05)
        assert table.horizontalScrollBar().value() > 0  # at 1280 px the table does scroll
        assert frozen.isVisible() and frozen.geometry().width() == table.frozen_width()
        assert frozen.horizontalScrollBar().value() == 0  # the pinned part does not
        header = table.horizontalHeader()
        first = header.logicalIndexAt(0)
        if header.sectionViewportPosition(first) < 0:  # the last page may start inside a column
            assert table.itemDelegateForColumn(first) is table._cut
        table.horizontalScrollBar().setValue(1)
        await asyncio.sleep(0.05)
        assert header.sectionViewportPosition(header.logicalIndexAt(0)) == 0  # by whole columns
        table.horizontalScrollBar().setValue(0)
        await asyncio.sleep(0.05)
        cut = header.logicalIndexAt(table.viewport().width() - 1)
        assert header.sectionViewportPosition(cut) + header.sectionSize(cut) > table.viewport().width()
        assert table.itemDelegateForColumn(cut) is table._cut  # the right edge's column says it is cut
        image = table.grab()  # paints through it
        assert not image.isNull()
        assert frozen.columnViewportPosition(Column.CANCEL) < frozen.width()  # the cancel state shows
        window.set_column_visible(Column.SIDE, False)
        table.setColumnHidden(Column.SIDE, False)
        assert table.column_shown(Column.SIDE) and not frozen.isColumnHidden(Column.SIDE)  # cannot be hidden
        # A widened pinned column widens the pinned part and moves the table's viewport.
        table.set_column_width(Column.ACCOUNT, table.column_width(Column.ACCOUNT) + 40)
        assert table.viewport().geometry().left() >= table.frozen_width()
        # A click on the pinned part selects the row, in one shared selection.
        frozen.selectRow(3)
        assert window.selected_orders() == [window.proxy.order_at(3)]
        # Clicking a pinned header sorts the table.
        frozen.horizontalHeader().sectionClicked.emit(Column.SYMBOL)
        assert window.model.sort_column is Column.SYMBOL
        assert table.horizontalHeader().sortIndicatorSection() == Column.SYMBOL
        # Scrolled, the rows stay level in both parts.
        table.verticalScrollBar().setValue(table.verticalScrollBar().maximum())
        assert frozen.verticalScrollBar().value() == table.verticalScrollBar().value()


# --- the filter, by keyboard -------------------------------------------------------------------------


async def test_filter_enter_ctrl_a_delete_cancels_only_what_it_says(
    sim: SimThread, tmp_path: Path, qtbot: QtBot
) -> None:
    async with sim_window(sim, tmp_path) as window:
        expected = {
            o.key
            for o in window.model.orders()
            if window.model.facts(o).base == "BTC" and o.side is Side.SELL
        }
        assert 1 < len(expected) < TOTAL
        qtbot.keyClick(window.table, Qt.Key.Key_F, CTRL)
        assert window.filter_edit.hasFocus()
        qtbot.keyClicks(window.filter_edit, "btc sell")
        assert {o.key for o in window.proxy.visible_orders()} == expected
        assert window.count_label.text() == f"{len(expected)} of {TOTAL} orders"
        qtbot.keyClick(window.filter_edit, Qt.Key.Key_Return)
        assert window.table.hasFocus(), (QApplication.activeWindow(), QApplication.focusWidget())
        assert window.selected_orders() == []  # Enter moves, it does not select
        qtbot.keyClick(window.table, Qt.Key.Key_A, CTRL)
        assert {o.key for o in window.selected_orders()} == expected
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert f"filter “btc sell”: {len(expected)} of {TOTAL} orders shown" in dialog.details.text()
        await confirm(window, qtbot)
        left = sim_open_ids(sim, "spot") | sim_open_ids(sim, "spot2")
        assert not left & {k[1] for k in expected}
        assert len(left) == TOTAL - len(expected)


async def test_ctrl_a_in_the_filter_box_selects_the_rows(
    sim: SimThread, tmp_path: Path, qtbot: QtBot
) -> None:
    async with sim_window(sim, tmp_path) as window:
        qtbot.keyClick(window.table, Qt.Key.Key_F, CTRL)
        qtbot.keyClicks(window.filter_edit, "side:buy acct:second")
        expected = {o.key for o in window.model.orders() if o.side is Side.BUY and o.account_id == "spot2"}
        qtbot.keyClick(window.filter_edit, Qt.Key.Key_A, CTRL)
        assert window.table.hasFocus(), (QApplication.activeWindow(), QApplication.focusWidget())
        assert {o.key for o in window.selected_orders()} == expected


async def test_no_matches_and_unreadable_filters_say_so(sim: SimThread, tmp_path: Path, qtbot: QtBot) -> None:
    async with sim_window(sim, tmp_path) as window:
        window.filter_edit.setText("type:trailing")  # the book here has none
        assert window.proxy.rowCount() == 0
        assert (
            window.no_matches.isVisible() and "No order matches “type:trailing”" in window.no_matches.text()
        )
        assert window.count_label.text() == f"0 of {TOTAL} orders"
        window.filter_edit.setText("colour:red")
        assert window.filter_error.isVisible() and "unknown field" in window.filter_error.full_text()
        assert window.proxy.rowCount() == 0  # an unreadable filter hides everything, it never widens
        qtbot.keyClick(window.table, Qt.Key.Key_Escape)
        assert window.filter_edit.text() == "" and not window.no_matches.isVisible()
        assert window.count_label.text() == f"{TOTAL} orders"


# --- by symbol, never wider ----------------------------------------------------------------------------


async def test_group_by_symbol_cancels_buys_across_accounts_by_keyboard(tmp_path: Path, qtbot: QtBot) -> None:
    async with scripted_window(tmp_path) as (window, venues):
        seen = started(window)
        qtbot.keyClick(window.table, Qt.Key.Key_G, CTRL)
        assert window.grouped and window.groups_view.isVisible()
        names = [g.symbol for g in window.groups.groups()]
        assert names == ["BTC/USD", "BTC/USD perp", "ETH/USD", "ETH/USD perp"]
        window.groups_view.setCurrentIndex(window.groups.index(0, 0))
        qtbot.keyClick(window.groups_view, Qt.Key.Key_B, CTRL_SHIFT)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert dialog.headline.text() == "Cancel all buys of BTC/USD on 2 accounts (3 orders)?"
        await confirm(window, qtbot)
        intent, plan = seen[-1]
        assert intent.scope is Scope.ORDERS
        assert {o.order_id[:6] for o in intent.orders} == {"O00001", "O00003", "O00020"}
        assert_never_wider(plan, "BTC/USD", window)
        assert venues["fut"].executed == []  # the perp is another market


async def test_everything_for_a_symbol_is_symbol_scope_per_account(tmp_path: Path, qtbot: QtBot) -> None:
    async with scripted_window(tmp_path) as (window, venues):
        seen = started(window)
        window.set_grouped(True)
        perp = window.groups.index(1, 0)
        window.groups_view.setCurrentIndex(perp)
        window.groups_view.selectionModel().select(
            perp, window.groups_view.selectionModel().SelectionFlag.ClearAndSelect
        )
        qtbot.keyClick(window.groups_view, Qt.Key.Key_Delete)  # a symbol row: everything for it
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert "plus any BTC/USD perp order placed since the last refresh" in dialog.details.text()
        await confirm(window, qtbot)
        intent, plan = seen[-1]
        assert intent.scope is Scope.SYMBOL
        assert [(r.account_id, r.form, r.symbol) for r in plan.requests] == [
            ("fut", RequestForm.ALL_FOR_SYMBOL, "PF_XBTUSD")
        ]
        assert_never_wider(plan, "BTC/USD perp", window)
        # Spot and Prime have no symbol-scoped cancel-all: their BTC/USD orders go by id.
        window.table.setFocus()
        window.set_grouped(False)
        btc = next(r for r in range(window.proxy.rowCount()) if window.proxy.order_at(r).symbol == "BTC-USD")
        window.table.setCurrentIndex(window.proxy.index(btc, Column.SYMBOL))
        qtbot.keyClick(window.table, Qt.Key.Key_Delete, CTRL_SHIFT)
        await confirm(window, qtbot)
        intent, plan = seen[-1]
        assert intent.scope is Scope.SYMBOL and intent.account_ids == ("spot", "prime")
        assert {r.account_id for r in plan.requests} == {"spot", "prime"}
        assert {r.form for r in plan.requests} <= {RequestForm.SINGLE, RequestForm.BATCH}
        assert plan.order_count == 5
        assert_never_wider(plan, "BTC/USD", window)
        assert all(req.form is not RequestForm.ALL for v in venues.values() for req in v.executed)


async def test_a_filtered_group_cancel_sends_exactly_what_is_shown(tmp_path: Path, qtbot: QtBot) -> None:
    async with scripted_window(tmp_path) as (window, venues):
        seen = started(window)
        window.filter_edit.setText("-acct:prime")
        window.set_grouped(True)
        g = window.groups.group_of("BTC/USD")
        assert g is not None and {k[0] for k in g.keys} == {"spot"}
        row = window.groups.groups().index(g)
        window.groups_view.setCurrentIndex(window.groups.index(row, 0))
        window._groups_menu(window.groups_view.visualRect(window.groups.index(row, 0)).center())
        menu = window._menu
        assert menu is not None and menu.objectName() == "group_menu"
        action = next(a for a in menu.actions() if a.objectName() == "market_all")
        assert action.text() == "Cancel everything of BTC/USD on every account shown"
        menu.close()
        action.trigger()
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert "filter “-acct:prime”" in dialog.details.text()
        await confirm(window, qtbot)
        intent, plan = seen[-1]
        assert intent.scope is Scope.ORDERS and len(intent.orders) == 3
        assert venues["prime"].executed == []  # hidden by the filter: never touched
        assert_never_wider(plan, "BTC/USD", window)


# --- rows held under the pointer ------------------------------------------------------------------------


def point_at(window: MainWindow, row: int) -> None:
    vp = window.table.viewport()
    pos = QPointF(window.table.visualRect(window.proxy.index(row, Column.TYPE)).center())
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        pos,
        vp.mapToGlobal(pos),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(vp, move)


async def test_rows_hold_still_under_the_pointer(tmp_path: Path, qtbot: QtBot) -> None:
    async with scripted_window(tmp_path) as (window, _venues):
        window.table.sortByColumn(Column.LIMIT, Qt.SortOrder.AscendingOrder)
        target = window.proxy.order_at(4)
        point_at(window, 4)
        assert window.model.held
        store = window.bridge.desk.store
        store.upsert([make_order(90, account="spot", symbol="XBTUSD", price="1.0")])  # would be row 0
        gone = window.proxy.order_at(1)
        store.remove([gone.key])
        assert window.proxy.order_at(4) == target  # nothing moved under the pointer
        assert window.held_label.isVisible() and window.held_label.text() == "2 updates held"
        assert window.proxy.index(1, Column.STATUS).data() == "left the book"
        window.table.selectRow(1)
        assert window.selected_orders() == []  # a row that left cannot be cancelled
        QApplication.sendEvent(window.table, QEvent(QEvent.Type.Leave))
        assert not window.model.held and not window.held_label.isVisible()
        assert window.proxy.order_at(0).order_id.startswith("O00090")
        assert window.model.row_of(gone.key) is None


async def test_held_rows_catch_up_after_the_cap(tmp_path: Path) -> None:
    async with scripted_window(tmp_path) as (window, _venues):
        window.hold_cap.setInterval(50)
        point_at(window, 2)
        window.bridge.desk.store.upsert([make_order(91, account="spot", symbol="XBTUSD")])
        assert window.model.held_count() == 1
        await wait_until(lambda: window.model.held_count() == 0, within=2, what="the cap to apply the hold")
        assert window.model.held  # still pointing: held again from now on
        assert window.model.rowCount() == 10


# --- layout, theme, zoom, marking ------------------------------------------------------------------------


async def test_layout_is_kept_across_a_restart_and_reset(
    sim: SimThread, tmp_path: Path, qtbot: QtBot
) -> None:
    path = tmp_path / "profile" / "layout.ini"
    async with sim_window(sim, tmp_path, layout_path=path) as window:
        window.set_column_visible(Column.VENUE, False)
        window.table.setColumnWidth(Column.NOTIONAL, 201)
        header = window.table.horizontalHeader()
        header.moveSection(header.visualIndex(Column.AGE), 5)
        window.table.sortByColumn(Column.NOTIONAL, Qt.SortOrder.DescendingOrder)
        window.splitter.setSizes([222, 900])
        qtbot.keyClick(window.table, Qt.Key.Key_Equal, CTRL)  # zoom in
        window.set_theme(ThemeChoice.DARK)
        window.set_grouped(True)
        sizes = window.splitter.sizes()
        assert window.zoom == 110
    assert path.exists()
    async with sim_window(sim, tmp_path / "again", layout_path=path) as window:
        header = window.table.horizontalHeader()
        assert window.table.isColumnHidden(Column.VENUE)
        assert header.visualIndex(Column.AGE) == 5
        assert header.sortIndicatorSection() == Column.NOTIONAL
        assert window.model.sort_column is Column.NOTIONAL and window.model.sort_descending
        notionals = [window.model.facts(o).notional or 0 for o in window.model.orders()]
        assert notionals == sorted(notionals, reverse=True)
        assert window.zoom == 110
        assert header.sectionSize(Column.NOTIONAL) == round(201 * 1.1)  # widened by the zoom, then saved
        assert window.theme_choice is ThemeChoice.DARK and theme.current() is theme.DARK
        assert window.grouped
        await wait_until(lambda: window.splitter.sizes()[0] == sizes[0], what="the sidebar's width")
        window.reset_layout()
        assert not window.table.isColumnHidden(Column.VENUE) and header.visualIndex(Column.AGE) == Column.AGE
        assert window.zoom == 100 and not window.grouped and window.model.sort_column is None


async def test_zoom_keys_scale_text_and_columns(sim: SimThread, tmp_path: Path, qtbot: QtBot) -> None:
    async with sim_window(sim, tmp_path) as window:
        base = QApplication.font().pointSizeF()
        width = window.table.column_width(Column.QUANTITY)
        qtbot.keyClick(window.table, Qt.Key.Key_Equal, CTRL)
        qtbot.keyClick(window.table, Qt.Key.Key_Equal, CTRL)
        assert window.zoom == 125
        assert QApplication.font().pointSizeF() == pytest.approx(base * 1.25)
        assert window.table.column_width(Column.QUANTITY) == pytest.approx(width * 1.25, abs=2)
        qtbot.keyClick(window.table, Qt.Key.Key_Minus, CTRL)
        assert window.zoom == 110
        qtbot.keyClick(window.table, Qt.Key.Key_0, CTRL)
        assert window.zoom == 100 and QApplication.font().pointSizeF() == pytest.approx(base)


async def test_dark_theme_and_the_kill_switch_stand_out(sim: SimThread, tmp_path: Path, qtbot: QtBot) -> None:
    async with sim_window(sim, tmp_path) as window:
        for choice, palette in ((ThemeChoice.DARK, theme.DARK), (ThemeChoice.LIGHT, theme.LIGHT)):
            window.set_theme(choice)
            vp = window.table.viewport()
            await wait_until(
                lambda vp=vp, base=palette.base: vp.palette().color(QPalette.ColorRole.Base).name() == base,
                what="the palette",
            )
            button = window.kill_button
            assert button is not None
            image = button.grab().toImage()
            assert QColor(image.pixel(4, image.height() // 2)).name() == palette.kill_bg
            qtbot.keyClick(window.table, Qt.Key.Key_K, CTRL_SHIFT)
            dialog = window.flow.dialog
            assert isinstance(dialog, ConfirmCancelDialog)
            await wait_until(dialog.isVisible, what="the confirmation")
            confirm_image = dialog.confirm_button.grab().toImage()
            # The default, focused "Cancel everything" button keeps its red: not washed out.
            fill = QColor(confirm_image.pixel(6, confirm_image.height() // 2)).name()
            assert fill == palette.kill_bg
            assert theme.contrast(palette.kill_text, fill) >= theme.MIN_CONTRAST
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)
            await reactivate(window)


async def test_demo_and_simulator_are_marked(
    open_desk: Callable[[], AbstractAsyncContextManager[Desk]],
) -> None:
    async with open_desk() as desk:
        async with shown(desk, mode="demo") as window:
            assert "DEMO" in window.windowTitle()
            assert window.mode_strip.isVisible() and window.mode_strip.text().startswith("DEMO")
            assert theme.current().demo_bg in window.mode_strip.styleSheet()
            assert window.mode_strip.geometry().top() < window.table.mapTo(window, QPoint(0, 0)).y()
        async with shown(desk, mode="simulator") as window:
            assert "SIMULATOR" in window.windowTitle() and window.mode_strip.isVisible()
        async with shown(desk) as window:
            assert window.windowTitle() == "Kraken Cancel Console" and not window.mode_strip.isVisible()


# --- the small ones -------------------------------------------------------------------------------------


async def test_sidebar_counts_are_right_on_the_first_paint(sim: SimThread, tmp_path: Path) -> None:
    async with desk_session(sim, tmp_path) as desk, shown(desk) as window:
        await wait_until(lambda: window.model.rowCount() == TOTAL, what="every order listed")
        window.grab()  # a screenshot paints: it must show the counts of what is listed
        assert window.sidebar.all_item.text(window.sidebar.COUNT) == str(TOTAL)
        assert window.sidebar._items["spot"].text(window.sidebar.COUNT) == str(SPOT_ORDERS)
        # Nothing cut: the order count beside the filter, the account names in the sidebar.
        window.filter_edit.setText("side:sell")
        await asyncio.sleep(0.05)
        label = window.count_label
        assert label.width() >= label.fontMetrics().horizontalAdvance(label.text())
        sidebar = window.sidebar
        for item in (sidebar.all_item, *sidebar._items.values()):
            for col in range(len(sidebar.COLUMNS)):
                text_width = sidebar.fontMetrics().horizontalAdvance(item.text(col))
                assert text_width + 6 <= sidebar.columnWidth(col), (item.text(col), col)  # 2 x (3 px margin)


async def test_status_bar_short_local_times_and_the_whole_message_on_hover(
    open_desk: Callable[[], AbstractAsyncContextManager[Desk]],
) -> None:
    async with open_desk() as desk, shown(desk) as window:
        long = "cancel 500 orders: cancelled 499, unknown 1 · " + "x" * 400
        window.show_message(long)
        label = window.last_action
        assert re.match(r"^\d\d:\d\d:\d\d  cancel 500", label.full_text())
        assert label.toolTip() == label.full_text()
        assert label.shown_text().endswith("…") and len(label.shown_text()) < len(label.full_text())
        assert window.last_message() == long
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", short_time("2024-05-01T12:34:56.789123Z"))
        assert short_time("not a time") == "not a time"


async def test_the_shortcuts_dialog_shows_every_line(
    open_desk: Callable[[], AbstractAsyncContextManager[Desk]], qtbot: QtBot
) -> None:
    async with open_desk() as desk, shown(desk) as window:
        qtbot.keyClick(window.table, Qt.Key.Key_F1)
        dialog = next(d for d in window._dialogs if isinstance(d, ShortcutsDialog))
        await wait_until(dialog.isVisible, what="the shortcuts")
        t = dialog.table
        last = t.visualRect(t.model().index(t.rowCount() - 1, 1))
        assert last.bottom() <= t.viewport().height()  # Ctrl+Q shows without scrolling
        assert t.item(t.rowCount() - 1, 1).text() == "Quit"
        dialog.reject()


async def test_many_symbols_orders_get_one_spelling_and_market_cancels_in_the_menu(tmp_path: Path) -> None:
    async with scripted_window(tmp_path) as (window, _venues):
        symbols = {window.proxy.index(r, Column.SYMBOL).data() for r in range(window.proxy.rowCount())}
        assert symbols == {"BTC/USD", "BTC/USD perp", "ETH/USD", "ETH/USD perp"}
        row = next(
            r for r in range(window.proxy.rowCount()) if window.proxy.order_at(r).symbol == "PF_XBTUSD"
        )
        tip = window.proxy.index(row, Column.SYMBOL).data(Qt.ItemDataRole.ToolTipRole)
        assert "Futures calls it PF_XBTUSD" in tip
        window.filter_edit.setText("pf_xbtusd")  # the venue's own name finds it too
        assert window.proxy.rowCount() == 2
        window.filter_edit.setText("")
        window._context_menu(window.table.visualRect(window.proxy.index(row, Column.TYPE)).center())
        menu = window._menu
        assert menu is not None
        texts = [a.text() for a in menu.actions()]
        assert "Cancel all buys of BTC/USD perp on every account" in texts
        assert "Cancel all sells of BTC/USD perp on every account" in texts
        menu.close()


def test_market_order_amounts(qapp: QApplication) -> None:
    """A market order has no notional; the window shows none rather than a made-up one."""
    from app.ui.models import OrdersTableModel

    model = OrdersTableModel()
    model.load([make_order(1, price=None, order_type="market", quantity="2")])
    assert model.index(0, Column.NOTIONAL).data() == ""
    assert model.facts(model.order_at(0)).remaining == Decimal(2)


async def test_filter_records_are_built_in_idle_time_after_a_listing(tmp_path: Path) -> None:
    async with scripted_window(tmp_path) as (window, _venues):
        model = window.model
        listing = [make_order(100 + i, account="spot", symbol="XBTUSD") for i in range(80)]
        window.bridge.desk.store.upsert(listing)  # a listing arrives as one bulk insert
        assert window._warm_timer.isActive()
        await wait_until(
            lambda: all(model._entry(o).record is not None for o in listing), what="records warmed"
        )
        await wait_until(lambda: not window._warm_timer.isActive(), what="the warmer to stop")
        model.insert_orders([make_order(300, account="spot", symbol="XBTUSD")])
        assert not window._warm_timer.isActive()  # one order streaming in: built when filtered

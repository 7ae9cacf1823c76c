"""Activity and History end to end: a 1,000-order cancel with 5 rejections, through the window's
keys, the real desk and the real simulator; then the outside world cancels and fills orders."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.ledger import CancelState
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.desk.coordinator import CancelReport
from app.desk.desk import Desk
from app.sim.server import SimThread
from app.sim.state import Exchange
from app.ui.activity import ActionNode, ActivityColumn, Kind, OrderNode
from app.ui.app import open_window
from app.ui.dialogs import ConfirmCancelDialog
from app.ui.history import HistoryColumn
from app.ui.main_window import MainWindow
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue
from tests.ui.helpers import SPOT2_ORDERS, SPOT_ORDERS, SPOT_SYMBOLS, wait_signal, wait_until

MAIN = 995
LIST_ONLY = 5  # a key that may list but not cancel: Kraken refuses its cancels
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def big_sim() -> Iterator[SimThread]:
    """The simulator with 995 orders on ``spot`` and 5 on ``ro``, whose key is query-only."""
    exchange = Exchange(seed=11, rate_limits=False)
    rng = random.Random(11)
    exchange.add_account("spot", "spot")
    exchange.add_account("ro", "spot", permissions=["query"])
    exchange.generate_orders("spot", MAIN, rng, symbols=SPOT_SYMBOLS, age_s=(600, 3600))
    exchange.generate_orders("ro", LIST_ONLY, rng, symbols=SPOT_SYMBOLS, age_s=(600, 3600))
    thread = SimThread(exchange, activity_rate_per_s=0.0)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@asynccontextmanager
async def window_over(sim: SimThread, tmp_path: Path) -> AsyncIterator[MainWindow]:
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=0.5)
    creds = sim.call(sim.exchange.credentials)
    urls = {k: v for k, v in sim.endpoints.items() if isinstance(v, str)}
    nonces = NonceSource()
    for account_id, name in (("spot", "Main spot"), ("ro", "Read-only spot")):
        # WS v2 as a trader runs it (the default): batch cancels of 50 stream back at once.
        spec = AccountSpec(
            account_id,
            name,
            VenueKind.SPOT,
            endpoints=urls,
            stream_transport=Transport.WS_V2,
            cancel_transport=Transport.WS_V2,
        )
        c = creds[account_id]
        desk.add_account(spec, build_venue(spec, Credentials(c["key"], c["secret"]), nonces))
    w = open_window(desk)
    try:
        w.activateWindow()
        await wait_until(lambda: QApplication.activeWindow() is w, what="the window to be active")
        await wait_until(lambda: w.model.rowCount() == MAIN + LIST_ONLY, what="1,000 orders listed")
        w.table.setFocus()
        yield w
    finally:
        if w.bridge.tasks:
            await asyncio.wait(w.bridge.tasks, timeout=5)
        await w.bridge.aclose()
        w.close()
        w.deleteLater()
        await desk.aclose()
        audit.close()


async def test_a_thousand_order_cancel_is_one_activity_row_and_history_has_each_order(
    big_sim: SimThread, tmp_path: Path, qtbot: QtBot, qapp: QApplication
) -> None:
    t0 = time.perf_counter()
    async with window_over(big_sim, tmp_path) as window:
        print(f"\nwindow with 1,000 orders in {time.perf_counter() - t0:.2f} s")
        qtbot.keyClick(window.table, Qt.Key.Key_A, CTRL)
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        settled = wait_signal(window.bridge.cancel_settled, within=60)
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        t0 = time.perf_counter()
        (report,) = await settled
        print(f"\n1,000-order cancel settled in {time.perf_counter() - t0:.2f} s")
        assert isinstance(report, CancelReport)
        assert report.counts == {CancelState.CANCELLED: MAIN, CancelState.REJECTED: LIST_ONLY}

        model = window.bridge.activity_model
        action = model.action(report.attempt)
        assert action is not None and action is model.latest() and action.kind is Kind.ACTION
        assert model.rowCount() == 1  # one row for the whole action, not 3,000
        top = model.index(0, 0)
        assert model.rowCount(top) == MAIN + LIST_ONLY
        assert model.data(model.index(0, ActivityColumn.WHAT)) == "cancel 1,000 orders"
        assert model.data(model.index(0, ActivityColumn.ORDERS)) == "1,000"
        assert model.data(model.index(0, ActivityColumn.OUTCOME)) == "5 rejected · 995 cancelled"
        assert model.data(model.index(0, ActivityColumn.TOOK)).endswith(("ms", "s"))

        panel = window.activity_panel
        panel.problems.setChecked(True)  # the 5 refused orders, at once, no scrolling
        assert panel.count.text() == "5 orders match"
        shown = panel.proxy.index(0, 0)
        refused = [panel.proxy.index(r, 0, shown).data(ActivityColumn.WHAT) for r in range(5)]
        nodes = [panel.proxy.index(r, 0, shown).data(Qt.ItemDataRole.UserRole + 10) for r in range(5)]
        assert all(isinstance(n, OrderNode) and n.order.account_id == "ro" for n in nodes)
        assert all(n.outcome() == "rejected (EGeneral:Permission denied)" for n in nodes)
        assert [s.word for s in nodes[0].children] == ["queued", "sent", "rejected"]
        n = panel.export_csv(tmp_path / "problems.csv")
        assert n == 1 + 5 + 5 * 3
        assert refused == [node.order.order_id for node in nodes]
        panel.problems.setChecked(False)

        window.activateWindow()
        await wait_until(lambda: QApplication.activeWindow() is window, what="the window active again")
        qtbot.keyClick(window.table, Qt.Key.Key_H, CTRL)  # History, over this session's audit
        history = window.history_window
        assert history is not None and history.isVisible()
        one = nodes[2].order
        history.ids.setText(one.order_id.lower())  # pasted in another case: found all the same
        history.search()
        assert history.model.rowCount() == 3
        assert history.life_model.rowCount() == 3
        states = [history.life_model.index(r, HistoryColumn.STATE).data() for r in range(3)]
        assert states == ["queued", "sent", "rejected"]
        assert history.life_model.index(2, HistoryColumn.ACTION).data() == "cancel 1,000 orders"
        assert "1 cancel attempt; last: rejected (EGeneral:Permission denied)" in history.life_title.text()
        # Enter (or a double click) on an order in Activity opens History on it; Ctrl+C copies it.
        window.activateWindow()
        await wait_until(lambda: QApplication.activeWindow() is window, what="the window active again")
        panel.problems.setChecked(True)
        other = panel.proxy.index(1, 0, panel.proxy.index(0, 0))
        panel.view.setFocus()
        panel.view.setCurrentIndex(other)
        qtbot.keyClick(panel.view, Qt.Key.Key_C, CTRL)
        assert QGuiApplication.clipboard().text().lstrip().startswith(nodes[1].order.order_id + "\t")
        qtbot.keyClick(panel.view, Qt.Key.Key_Return)
        assert history.ids.text() == nodes[1].order.order_id and history.life_model.rowCount() == 3
        panel.problems.setChecked(False)
        history.ids.clear()
        # Kraken names one market differently per API (REST XBTUSD, WS v2 BTC/USD): the market's
        # one name finds every row of it, whichever API wrote it.
        with contextlib.closing(sqlite3.connect(tmp_path / "audit.sqlite3")) as db:
            stored = db.execute("SELECT venue, symbol, COUNT(*) FROM transitions GROUP BY 1, 2").fetchall()
        by_market: dict[str, dict[str, int]] = {}
        for venue, symbol, n in stored:
            by_market.setdefault(window.bridge.market_name_of(venue, symbol), {})[symbol] = n
        market, names = next((m, ns) for m, ns in by_market.items() if len(ns) >= 2)  # e.g. ETHUSD, ETH/USD
        history.symbol.setText(market.lower())
        history.search()
        while history.model.canFetchMore():
            history.model.fetchMore()
        found = [history.model.row_at(r) for r in range(history.model.rowCount())]
        assert len(found) == sum(names.values()) and {r.symbol for r in found} == set(names)
        assert {history.model.index(r, HistoryColumn.SYMBOL).data() for r in range(len(found))} == {market}
        for node in action.orders.values():  # Activity says the book's name too
            if node.order.symbol in names:
                assert model.data(model.index_of(node, ActivityColumn.SYMBOL)) == market
        history.symbol.clear()
        history.account.setCurrentIndex(history.account.findData("spot"))
        history.search()
        assert history.model.rowCount() == 500 and history.model.more  # the first page only
        out = tmp_path / "spot.csv"
        written = await history.export_csv(out)  # every match, not only the page shown
        with contextlib.closing(sqlite3.connect(tmp_path / "audit.sqlite3")) as db:
            (on_spot,) = db.execute("SELECT COUNT(*) FROM transitions WHERE account = 'spot'").fetchone()
        assert written == on_spot >= 3 * MAIN  # queued, sent, (acknowledged,) cancelled
        with out.open(encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert len(rows) == 1 + on_spot and {r[2] for r in rows[1:]} == {"spot"}


async def test_orders_ended_outside_the_console_come_as_one_row(
    big_sim: SimThread, tmp_path: Path, qapp: QApplication
) -> None:
    async with window_over(big_sim, tmp_path) as window:
        orders = sorted(big_sim.call(big_sim.exchange.open_orders, "spot"), key=lambda o: o.order_id)[:3]
        big_sim.call(big_sim.exchange.book.cancel, "spot", orders[0].order_id)  # another tool
        big_sim.call(big_sim.exchange.book.cancel, "spot", orders[1].order_id)
        big_sim.call(big_sim.exchange.book.fill, "spot", orders[2].order_id)  # the market
        model = window.bridge.activity_model

        def outside() -> ActionNode | None:
            top = model.latest()
            return top if isinstance(top, ActionNode) and top.kind is Kind.OUTSIDE else None

        await wait_until(
            lambda: (row := outside()) is not None and len(row.orders) == 3, what="one outside row of 3"
        )
        row = outside()
        assert row is not None and model.rowCount() == 1
        assert {n.order.order_id for n in row.orders.values()} == {o.order_id for o in orders}
        assert model.data(model.index(0, ActivityColumn.WHAT)) == "outside the console"
        assert model.data(model.index(0, ActivityColumn.ACCOUNT)) == "Main spot"
        assert +row.counts == {"cancelled": 2, "filled": 1}
        assert row.summary() == "1 filled · 2 cancelled"


async def test_the_kill_switch_is_one_row_with_every_waves_orders(
    open_ui: Callable[[], AbstractAsyncContextManager[MainWindow]], qapp: QApplication
) -> None:
    async with open_ui() as window:
        model = window.bridge.activity_model
        switch = window.bridge.kill_switch(0.0)  # one wave per account, no hold
        await wait_until(lambda: not switch.running, within=20, what="the kill switch to end")
        await wait_until(
            lambda: (top := model.latest()) is not None and isinstance(top, ActionNode) and top.settled,
            what="Activity to show it ended",
        )
        kills = [n for n in model.top_nodes() if isinstance(n, ActionNode) and n.kind is Kind.KILL]
        assert len(kills) == 1 and model.rowCount() == 1  # its waves joined it: no row per wave
        row = kills[0]
        assert set(row.accounts) == {"spot", "spot2"}
        assert len(row.orders) == SPOT_ORDERS + SPOT2_ORDERS
        assert model.data(model.index(0, ActivityColumn.WHAT)) == "kill switch"
        outcome = model.data(model.index(0, ActivityColumn.OUTCOME))
        assert outcome == f"{SPOT_ORDERS + SPOT2_ORDERS} cancelled — done", outcome

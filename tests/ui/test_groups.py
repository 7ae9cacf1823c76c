"""Orders grouped by symbol, without a window: sums per side, row-level signals, the filter applies."""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QApplication

from app.core.orders import Side, VenueKind
from app.desk.store import OrderStore
from app.ui.groups import GROUP_ROLE, SymbolGroupsModel
from app.ui.models import ORDER_ROLE, Column, OrdersFilterProxy, OrdersTableModel
from tests.ui.helpers import make_order
from tests.ui.test_models import Recorder, wired


def grouped(store: OrderStore) -> tuple[OrdersTableModel, OrdersFilterProxy, SymbolGroupsModel]:
    model = wired(store)
    proxy = OrdersFilterProxy(model)
    groups = SymbolGroupsModel(proxy)
    groups.set_active(True)
    return model, proxy, groups


def book() -> list[Any]:
    return [
        make_order(1, symbol="XBT/USD", side=Side.BUY, price="60000", quantity="1"),
        make_order(
            2,
            symbol="BTC-USD",
            venue=VenueKind.PRIME,
            account="prime",
            side=Side.SELL,
            price="70000",
            quantity="0.5",
        ),
        make_order(
            3,
            symbol="PF_XBTUSD",
            venue=VenueKind.FUTURES,
            account="fut",
            side=Side.SELL,
            price="71000",
            quantity="2",
        ),
        make_order(4, symbol="ETH/USD", side=Side.BUY, price="3000", quantity="2"),
        make_order(5, symbol="XBTUSD", side=Side.BUY, price="59000", quantity="1"),
    ]


def test_one_row_per_market_across_venues_with_sums_per_side(qapp: QApplication) -> None:
    store = OrderStore()
    store.upsert(book())
    _model, _proxy, groups = grouped(store)
    names = [groups.data(groups.index(r, 0), GROUP_ROLE) for r in range(groups.rowCount())]
    assert names == ["BTC/USD", "BTC/USD perp", "ETH/USD"]
    btc = groups.groups()[0]
    assert [k[1][:6] for k in btc.keys] == ["O00001", "O00002", "O00005"]  # Spot REST, v1 and Prime alike
    assert btc.summary == (
        "BTC/USD   ·   3 orders on 2 accounts   ·   2 buys 119,000.00 USD   ·   1 sell 35,000.00 USD"
    )
    assert groups.data(groups.index(0, 0)) == btc.summary
    parent = groups.index(0, 0)
    assert groups.rowCount(parent) == 3
    child = groups.index(1, Column.SYMBOL, parent)
    assert groups.data(child) == "BTC/USD"
    assert groups.data(child, ORDER_ROLE).order_id.startswith("O00002")
    assert groups.data(groups.index(1, Column.SIDE, parent), Qt.ItemDataRole.ForegroundRole) is not None
    assert groups.parent(child) == parent
    assert [o.side for o in btc.of_side(Side.BUY)] == [Side.BUY, Side.BUY]


def test_groups_follow_the_book_row_by_row(qapp: QApplication) -> None:
    store = OrderStore()
    store.upsert(book())
    _model, _proxy, groups = grouped(store)
    rec = Recorder(groups)
    store.upsert([make_order(6, symbol="SOL/EUR", price="130", quantity="3")])
    store.remove([make_order(4).key])  # ETH/USD's only order
    store.upsert([dataclasses.replace(make_order(1, symbol="XBT/USD", price="60000"), quantity=Decimal("3"))])
    groups.refresh()
    assert [g.symbol for g in groups.groups()] == ["BTC/USD", "BTC/USD perp", "SOL/EUR"]
    assert rec.of("reset") == []
    assert ("removed", 2, 2) in rec.of("removed") and ("inserted", 2, 2) in rec.of("inserted")
    assert "2 buys 239,000.00 USD" in groups.groups()[0].summary


def test_the_filter_and_the_account_apply(qapp: QApplication) -> None:
    store = OrderStore()
    store.upsert(book())
    _model, proxy, groups = grouped(store)
    proxy.set_text("sell")
    groups.refresh()
    assert [(g.symbol, len(g.keys)) for g in groups.groups()] == [("BTC/USD", 1), ("BTC/USD perp", 1)]
    proxy.set_text("")
    proxy.set_account("spot")
    groups.refresh()
    assert [(g.symbol, len(g.keys)) for g in groups.groups()] == [("BTC/USD", 2), ("ETH/USD", 1)]


def test_hidden_or_held_groups_compute_nothing(qapp: QApplication) -> None:
    store = OrderStore()
    store.upsert(book())
    model = wired(store)
    groups = SymbolGroupsModel(OrdersFilterProxy(model))
    assert groups.rowCount() == 0  # not active: never built
    groups.set_active(True)
    groups.set_held(True)
    store.upsert([make_order(9, symbol="SOL/EUR")])
    groups._schedule()
    assert not groups._timer.isActive()
    groups.set_held(False)
    assert groups._timer.isActive()


@pytest.mark.qt_log_level_fail("WARNING")
def test_qt_model_tester_on_the_groups_under_churn(qapp: QApplication, qtmodeltester: Any) -> None:
    rng = random.Random(3)
    symbols = ("XBT/USD", "ETH/USD", "SOL/EUR", "ADA/USD")
    store = OrderStore()
    store.upsert(
        [make_order(i, symbol=rng.choice(symbols), price=str(rng.randrange(1, 99))) for i in range(24)]
    )
    model, proxy, groups = grouped(store)
    model.sort(Column.LIMIT)
    groups.refresh()
    qtmodeltester.check(groups)
    next_id = 100
    for step in range(8):
        store.upsert(
            [make_order(next_id + i, symbol=rng.choice(symbols)) for i in range(rng.randrange(1, 4))]
        )
        next_id += 4
        keys = [o.key for o in store.orders()]
        store.remove(rng.sample(keys, 3))
        moved = [store.get(k) for k in rng.sample([o.key for o in store.orders()], 3)]
        store.upsert([dataclasses.replace(o, price=Decimal(rng.randrange(1, 99))) for o in moved if o])
        if step == 4:
            proxy.set_text("buy")
        groups.refresh()
    shown = {o.key for o in proxy.visible_orders()}
    assert {k for g in groups.groups() for k in g.keys} == shown
    for g in groups.groups():  # children in the table's order
        rows = [model.row_of(k) for k in g.keys]
        assert rows == sorted(rows)  # type: ignore[type-var]
    assert groups.rowCount(QModelIndex()) == len(groups.groups())

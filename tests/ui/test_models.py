"""The table models without a window: row-level signals, roles, filtering, sorting, bounds."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QApplication

from app.core.instruments import Instrument
from app.core.ledger import CancelState, Outcome
from app.core.orders import Side, VenueKind
from app.desk.instruments import InstrumentBook
from app.desk.store import OrderStore
from app.ui import theme
from app.ui.models import (
    LEAVING_ROLE,
    ORDER_ROLE,
    SORT_ROLE,
    Column,
    OrdersFilterProxy,
    OrdersTableModel,
    contiguous_runs,
)
from tests.ui.helpers import make_order


class Recorder:
    """Records a model's structural signals as plain tuples."""

    def __init__(self, model: Any) -> None:
        self.events: list[tuple[Any, ...]] = []
        model.rowsInserted.connect(lambda _p, a, b: self.events.append(("inserted", a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.events.append(("removed", a, b)))
        model.modelReset.connect(lambda: self.events.append(("reset",)))
        model.layoutChanged.connect(lambda *_a: self.events.append(("layout",)))
        model.dataChanged.connect(
            lambda tl, br, _roles=(): self.events.append(
                ("changed", tl.row(), br.row(), tl.column(), br.column())
            )
        )

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]


def wired(store: OrderStore) -> OrdersTableModel:
    """A model fed by ``store`` exactly as the bridge wires it."""
    model = OrdersTableModel(outcome_of=store.outcome)
    model.load(store.orders())
    store.inserted.connect(model.insert_orders)
    store.updated.connect(model.update_orders)
    store.removed.connect(model.remove_keys)
    return model


def assert_mirrors(model: OrdersTableModel, store: OrderStore) -> None:
    """The model lists exactly the store's orders, and its key index is right for every row."""
    assert model.rowCount() == len(store)
    assert {o.key for o in model.orders()} == {o.key for o in store.orders()}
    for row, o in enumerate(model.orders()):
        assert model.row_of(o.key) == row
        assert store.get(o.key) == o


def test_contiguous_runs() -> None:
    assert contiguous_runs([5, 1, 2, 3, 9, 2]) == [(1, 3), (5, 5), (9, 9)]
    assert contiguous_runs([]) == []


def test_qtmodeltester_with_live_inserts_updates_and_removes(qapp: QApplication, qtmodeltester: Any) -> None:
    store = OrderStore()
    store.upsert([make_order(i) for i in range(20)])
    model = wired(store)
    qtmodeltester.check(model, force_py=True)  # the Python tester re-checks on every signal
    store.upsert([make_order(i) for i in range(20, 30)])
    store.upsert([dataclasses.replace(make_order(3), quantity=Decimal("9"))])
    store.set_outcomes({make_order(4).key: Outcome(CancelState.SENT)})
    store.remove([make_order(i).key for i in (0, 1, 2, 7, 8, 29, 15)])
    store.replace_account("spot", [make_order(i) for i in range(10, 40)])
    assert_mirrors(model, store)


@pytest.mark.qt_log_level_fail("WARNING")
def test_qt_model_tester_cpp_finds_nothing(qapp: QApplication, qtmodeltester: Any) -> None:
    store = OrderStore()
    store.upsert([make_order(i) for i in range(10)])
    model = wired(store)
    qtmodeltester.check(model)  # Qt's QAbstractItemModelTester: failures are Qt warnings
    store.upsert([make_order(i) for i in range(10, 15)])
    store.remove([make_order(i).key for i in (1, 2, 12)])
    proxy = OrdersFilterProxy(model)
    qtmodeltester.check(proxy)
    proxy.sort(Column.LIMIT)
    proxy.set_text("o0001")
    store.upsert([make_order(i) for i in range(15, 20)])
    store.remove([make_order(i).key for i in (3, 16)])
    assert_mirrors(model, store)


def test_rows_inserted_and_removed_never_reset_after_first_load(qapp: QApplication) -> None:
    store = OrderStore()
    store.upsert([make_order(i) for i in range(10)])
    model = wired(store)
    rec = Recorder(model)
    store.upsert([make_order(10), make_order(11)])
    assert rec.events == [("inserted", 10, 11)]
    rec.events.clear()
    # Rows 2,3,4 and 7: two runs, removed from the bottom up so row numbers stay valid.
    store.remove([make_order(i).key for i in (3, 7, 2, 4)])
    assert rec.events == [("removed", 7, 7), ("removed", 2, 4)]
    assert [o.order_id for o in model.orders()] == [
        make_order(i).order_id for i in (0, 1, 5, 6, 8, 9, 10, 11)
    ]
    store.replace_account("spot", [make_order(i) for i in (0, 1, 5, 50)])
    assert rec.of("reset") == []
    assert_mirrors(model, store)


def test_data_changed_covers_only_the_changed_rows(qapp: QApplication) -> None:
    store = OrderStore()
    store.upsert([make_order(i) for i in range(10)])
    model = wired(store)
    rec = Recorder(model)
    store.upsert([dataclasses.replace(make_order(i), filled=Decimal("0.5")) for i in (3, 8, 4)])
    last = len(Column) - 1
    assert rec.events == [("changed", 3, 4, 0, last), ("changed", 8, 8, 0, last)]
    assert model.data(model.index(3, Column.FILLED)) == "0.50"  # the market's size precision
    rec.events.clear()
    store.set_outcomes({make_order(6).key: Outcome(CancelState.REJECTED, "EOrder:Unknown order")})
    assert rec.events == [("changed", 6, 6, 0, last)]
    assert model.data(model.index(6, Column.CANCEL)) == "rejected (EOrder:Unknown order)"


def test_age_refresh_touches_the_age_column_only(qapp: QApplication) -> None:
    now = [1_000_000.0]
    model = OrdersTableModel(clock=lambda: now[0])
    model.load([make_order(i, opened_at=1_000_000.0 - 65 * i) for i in range(3)])
    rec = Recorder(model)
    assert model.data(model.index(2, Column.AGE)) == "2m 10s"
    now[0] += 3600
    model.refresh_ages()
    assert rec.events == [("changed", 0, 2, Column.AGE, Column.AGE)]
    assert model.data(model.index(2, Column.AGE)) == "1h 02m"


def test_roles_display_sort_object_alignment_and_colors(qapp: QApplication) -> None:
    store = OrderStore()
    sell = make_order(1, side=Side.SELL, price="2500.10", userref=42, client_id="grid-7")
    market = make_order(2, price=None)
    store.upsert([sell, market])
    model = OrdersTableModel(outcome_of=store.outcome, account_name=lambda a: a.upper())
    model.load(store.orders())
    store.updated.connect(model.update_orders)

    def d(row: int, col: Column, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return model.data(model.index(row, col), role)

    assert {c: d(0, c) for c in Column} == {
        Column.ACCOUNT: "SPOT",
        Column.SYMBOL: "BTC/USD",  # one spelling: Kraken's XBT is BTC
        Column.SIDE: "sell",
        Column.CANCEL: "",
        Column.TYPE: "limit",
        Column.LIMIT: "2,500.10",
        Column.TRIGGER: "",
        Column.QUANTITY: "1.25",
        Column.NOTIONAL: "3,125.13 USD",
        Column.FILLED: "",
        Column.PCT_FILLED: "",
        Column.STATUS: "new",
        Column.TIF: "",
        Column.FLAGS: "",
        Column.AGE: "1m 00s",
        Column.VENUE: "Spot",
        Column.ORDER_ID: sell.order_id,
        Column.CLIENT_ID: "grid-7",
        Column.USERREF: "42",
    }
    assert d(0, Column.SYMBOL, Qt.ItemDataRole.ToolTipRole).startswith("BTC/USD: Spot calls it XBT/USD")
    assert d(0, Column.LIMIT, SORT_ROLE) == pytest.approx(2500.1)
    assert d(1, Column.LIMIT, SORT_ROLE) == float("-inf")
    assert d(0, Column.ORDER_ID, ORDER_ROLE) == sell
    assert d(0, Column.LIMIT, Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    assert d(0, Column.SYMBOL, Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignLeft
    assert d(0, Column.SIDE, Qt.ItemDataRole.ForegroundRole) == theme.side_color(Side.SELL)
    assert d(0, Column.CANCEL, Qt.ItemDataRole.ForegroundRole) is None
    store.set_outcomes({sell.key: Outcome(CancelState.UNKNOWN, "no answer")})
    assert d(0, Column.CANCEL) == "unknown (no answer)"
    assert d(0, Column.CANCEL, Qt.ItemDataRole.ForegroundRole) == theme.ledger_color(CancelState.UNKNOWN)
    assert model.headerData(Column.CANCEL, Qt.Orientation.Horizontal) == "Cancel state"
    assert model.rowCount(model.index(0, 0)) == 0  # a table: no children


def test_many_scattered_removals_keep_the_index_right(qapp: QApplication) -> None:
    rng = random.Random(3)
    store = OrderStore()
    store.upsert([make_order(i) for i in range(2000)])
    model = wired(store)
    rec = Recorder(model)
    doomed = rng.sample([make_order(i).key for i in range(2000)], 700)
    store.remove(doomed)
    removed = rec.of("removed")
    # Bottom-up contiguous runs: strictly descending starts, together exactly the doomed rows.
    assert [e[1] for e in removed] == sorted((e[1] for e in removed), reverse=True)
    assert sum(e[2] - e[1] + 1 for e in removed) == 700
    assert_mirrors(model, store)


def test_proxy_filters_by_text_and_account_case_insensitively(qapp: QApplication) -> None:
    orders = [
        make_order(1, symbol="XBT/USD", side=Side.BUY),
        make_order(2, symbol="ETH/USD", side=Side.SELL, client_id="Grid-42"),
        make_order(3, symbol="ETH/EUR", account="spot2"),
    ]
    model = OrdersTableModel(account_name=lambda a: {"spot2": "Hedge book"}.get(a, a))
    model.load(orders)
    proxy = OrdersFilterProxy(model)

    def shown() -> list[str]:
        return [proxy.order_at(r).order_id for r in range(proxy.rowCount())]

    proxy.set_text("eth")
    assert shown() == [orders[1].order_id, orders[2].order_id]
    proxy.set_text("SELL")
    assert shown() == [orders[1].order_id]
    proxy.set_text("grid-42")
    assert shown() == [orders[1].order_id]
    proxy.set_text("o00003")
    assert shown() == [orders[2].order_id]
    proxy.set_text("hedge")
    assert shown() == [orders[2].order_id]
    proxy.set_text("")
    proxy.set_account("spot")
    assert shown() == [orders[0].order_id, orders[1].order_id]
    model.insert_orders([make_order(4, account="spot2"), make_order(5, symbol="ETH/BTC")])
    assert shown() == [orders[0].order_id, orders[1].order_id, make_order(5).order_id]
    proxy.set_account(None)
    assert proxy.rowCount() == 5


def test_proxy_finds_bitcoin_by_either_of_krakens_names(qapp: QApplication) -> None:
    orders = [
        make_order(1, symbol="BTC/USD"),  # Spot WS v2, Prime
        make_order(2, symbol="PF_XBTUSD", venue=VenueKind.FUTURES),  # Futures
        make_order(4, symbol="XBTUSD"),  # Spot REST
        make_order(3, symbol="ETH/USD"),
    ]
    model = OrdersTableModel()
    model.load(orders)
    proxy = OrdersFilterProxy(model)
    for text in ("xbt", "BTC"):
        proxy.set_text(text)
        assert {proxy.order_at(r).order_id for r in range(proxy.rowCount())} == {
            orders[0].order_id,
            orders[1].order_id,
            orders[2].order_id,
        }


def test_proxy_sorts_numbers_as_numbers(qapp: QApplication) -> None:
    model = OrdersTableModel()
    model.load([make_order(1, price="100"), make_order(2, price="9.5"), make_order(3, price="25")])
    proxy = OrdersFilterProxy(model)
    proxy.sort(Column.LIMIT, Qt.SortOrder.AscendingOrder)
    assert [str(proxy.order_at(r).price) for r in range(3)] == ["9.5", "25", "100"]
    # Live: a new order lands in sorted position, without a reset.
    model.insert_orders([make_order(4, price="50")])
    assert [str(proxy.order_at(r).price) for r in range(4)] == ["9.5", "25", "50", "100"]
    assert isinstance(proxy, QSortFilterProxyModel)


def churn(
    store: OrderStore, rng: random.Random, steps: int, *, big_every: int, first_id: int, big: int = 100
) -> Iterator[None]:
    """Random inserts, price amends and removals; now and then ``big`` at once (100: more than
    the bulk threshold)."""
    next_id = first_id
    for step in range(steps):
        is_big = step % big_every == 0
        n = big if is_big else rng.randrange(1, 5)
        store.upsert([make_order(next_id + i, price=str(rng.randrange(1, 500))) for i in range(n)])
        next_id += n
        open_keys = [o.key for o in store.orders()]
        amended = [store.get(k) for k in rng.sample(open_keys, min(len(open_keys), big if is_big else 3))]
        store.upsert([dataclasses.replace(o, price=Decimal(rng.randrange(1, 500))) for o in amended if o])
        store.remove(rng.sample(open_keys, 3))
        yield


def test_sorted_rows_stay_sorted_under_live_changes(qapp: QApplication) -> None:
    rng = random.Random(5)
    store = OrderStore()
    store.upsert([make_order(i, price=str(rng.randrange(1, 500))) for i in range(300)])
    model = wired(store)
    model.sort(Column.LIMIT, Qt.SortOrder.DescendingOrder)
    rec = Recorder(model)
    for _ in churn(store, rng, 60, big_every=10, first_id=300):
        prices = [o.price for o in model.orders()]
        assert prices == sorted(prices, reverse=True)
    assert_mirrors(model, store)
    assert rec.of("reset") == []
    assert rec.of("layout")  # the bulk steps re-sorted as layout changes


@pytest.mark.qt_log_level_fail("WARNING")
def test_qt_model_tester_on_sorted_live_rows(qapp: QApplication, qtmodeltester: Any) -> None:
    rng = random.Random(6)
    store = OrderStore()
    store.upsert([make_order(i, price=str(rng.randrange(1, 500))) for i in range(20)])
    model = wired(store)
    model.sort(Column.LIMIT)
    qtmodeltester.check(model)  # Qt's C++ tester re-checks every row on every signal: keep it small
    for _ in churn(store, rng, 5, big_every=100, first_id=20):
        pass
    assert_mirrors(model, store)


def test_sorting_is_a_layout_change_that_keeps_persistent_indexes(qapp: QApplication) -> None:
    model = OrdersTableModel()
    model.load([make_order(1, price="3"), make_order(2, price="1"), make_order(3, price="2")])
    rec = Recorder(model)
    held = QPersistentModelIndex(model.index(0, Column.SYMBOL))  # order 1, as a selection holds it
    model.sort(Column.LIMIT)
    assert [str(o.price) for o in model.orders()] == ["1", "2", "3"]
    assert rec.events == [("layout",)]
    assert held.row() == 2 and held.column() == Column.SYMBOL
    assert model.order_at(held.row()).order_id == make_order(1).order_id
    model.sort(-1)  # back to "as they come": keeps the current order, no signal
    model.insert_orders([make_order(4, price="0")])
    assert [str(o.price) for o in model.orders()] == ["1", "2", "3", "0"]


async def test_sidebar_counts_are_coalesced_and_never_revive_a_removed_account(tmp_path: Path) -> None:
    from app.core.accounts import AccountSpec
    from app.core.orders import VenueKind
    from app.desk.audit import AuditLog
    from app.desk.desk import Desk
    from app.ui.bridge import COUNT_REFRESH_MS, DeskBridge
    from tests.ui.helpers import wait_until

    desk = Desk(AuditLog(tmp_path / "a.sqlite3"))
    desk.report_problem(AccountSpec("a", "A", VenueKind.SPOT), "down")
    bridge = DeskBridge(desk)
    seen: list[object] = []
    removed: list[str] = []
    bridge.account_changed.connect(seen.append)
    bridge.account_removed.connect(removed.append)
    desk.store.upsert([make_order(i, account="a") for i in range(50)])  # one insert event
    for i in range(20):
        desk.store.remove([("a", make_order(i, account="a").order_id)])  # twenty count changes
    assert seen == []  # nothing yet: counts wait for the timer
    await wait_until(lambda: len(seen) == 1, what="one coalesced count")
    assert seen[0].open_orders == 30  # type: ignore[attr-defined]
    desk.store.remove([("a", make_order(20, account="a").order_id)])
    await desk.remove_account("a")
    await asyncio.sleep(2 * COUNT_REFRESH_MS / 1000)
    assert removed == ["a"] and len(seen) == 1  # the pending count did not bring it back
    await bridge.aclose()
    desk.audit.close()


def test_many_inserts_at_one_sorted_spot_keep_rows_findable(qapp: QApplication) -> None:
    # Each insert between the same two neighbours halves the gap between their row tags; after
    # ~50 the float runs out and the model must re-number without losing a row.
    store = OrderStore()
    store.upsert([make_order(1, price="1"), make_order(2, price="3")])
    model = wired(store)
    model.sort(Column.LIMIT)
    for i in range(3, 203):
        store.upsert([make_order(i, price="2")])  # all land between the two ends, in order
        if i % 20 == 0:
            store.remove([make_order(i - 5).key])
    assert_mirrors(model, store)
    prices = [model.order_at(r).price for r in range(model.rowCount())]
    assert prices == sorted(prices)


# --- the book's columns, precision, holding ---------------------------------------------------------


def varied_orders() -> list[Any]:
    """Orders that differ in every column."""
    t0 = 1_700_000_000.0
    return [
        make_order(
            1,
            account="b",
            symbol="ETH/USD",
            side=Side.SELL,
            price="3150.25",
            quantity="2",
            filled="0.5",
            order_type="stop-loss-limit",
            stop_price="3100",
            userref=7,
            client_id="c-b",
            opened_at=t0 - 30,
            time_in_force="GTD",
            post_only=True,
        ),
        make_order(
            2,
            account="a",
            symbol="XBT/USD",
            price="64250.5",
            quantity="0.1",
            opened_at=t0 - 300,
            time_in_force="GTC",
        ),
        make_order(
            3,
            account="c",
            symbol="PF_SOLUSD",
            venue=VenueKind.FUTURES,
            price=None,
            quantity="30",
            filled="3",
            order_type="stp",
            stop_price="140",
            opened_at=t0 - 3,
            reduce_only=True,
            status="partially filled",
        ),
        make_order(4, account="a", symbol="ADA/USD", price="0.45", quantity="10000", opened_at=t0 - 3000),
    ]


def test_every_column_sorts_by_its_raw_value(qapp: QApplication) -> None:
    orders = varied_orders()
    model = OrdersTableModel(clock=lambda: 1_700_000_000.0)
    model.load(orders)

    def column_ids(col: Column, descending: bool = False) -> list[str]:
        model.sort(col, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)
        keys = [model.data(model.index(r, col), SORT_ROLE) for r in range(model.rowCount())]
        assert keys == sorted(keys, reverse=descending), col  # the view's order is the raw value's
        return [model.order_at(r).order_id[:6] for r in range(model.rowCount())]

    assert column_ids(Column.LIMIT) == ["O00003", "O00004", "O00001", "O00002"]  # no limit first
    assert column_ids(Column.TRIGGER)[2:] == ["O00003", "O00001"]  # no trigger first (a tie), then 140, 3100
    assert column_ids(Column.QUANTITY, True) == ["O00004", "O00003", "O00001", "O00002"]
    # 6,425.05 USD; 4,725.38 (open 1.5 x 3,150.25); 4,500; 3,780 (27 open x trigger 140)
    assert column_ids(Column.NOTIONAL, True) == ["O00002", "O00001", "O00004", "O00003"]
    assert column_ids(Column.PCT_FILLED, True)[:2] == ["O00001", "O00003"]  # 25% then 10%
    assert column_ids(Column.STATUS)[-1] == "O00003"  # new < partially filled
    assert column_ids(Column.AGE) == ["O00003", "O00001", "O00002", "O00004"]  # youngest first
    assert column_ids(Column.SYMBOL) == ["O00004", "O00002", "O00001", "O00003"]  # ADA, BTC, ETH, SOL perp
    assert column_ids(Column.FLAGS, True)[:2] == ["O00003", "O00001"]  # reduce-only, post-only
    for col in Column:  # every column, both ways: the keys come out sorted
        column_ids(col)
        column_ids(col, True)


def test_numbers_use_the_markets_precision_with_thousands_separators(qapp: QApplication) -> None:
    book = InstrumentBook({})
    model = OrdersTableModel(instruments=book)
    spot = make_order(1, symbol="XBTUSD", price="64250.5", quantity="1.5")
    prime = make_order(2, symbol="BTC-USD", venue=VenueKind.PRIME, price="64250.12", quantity="2.25")
    prime2 = make_order(3, symbol="BTC-USD", venue=VenueKind.PRIME, price="64000", quantity="0.125")
    model.load([spot, prime])
    repaint: list[None] = []
    model.texts_changed.connect(lambda: repaint.append(None))

    def d(row: int, col: Column) -> str:
        return str(model.data(model.index(row, col)))

    assert (d(0, Column.LIMIT), d(0, Column.QUANTITY)) == ("64,250.5", "1.5")  # as the orders show
    book.add(
        [
            Instrument(
                VenueKind.SPOT,
                "XBT/USD",
                "BTC",
                "USD",
                price_decimals=1,
                size_decimals=8,
                aliases=("XBTUSD",),
            )
        ]
    )
    assert repaint  # every row is written again
    assert (d(0, Column.LIMIT), d(0, Column.QUANTITY)) == ("64,250.5", "1.50000000")
    assert d(0, Column.NOTIONAL) == "96,375.75 USD"
    # Prime has no instrument list: the most decimals its orders showed, for every row alike.
    repaint.clear()
    model.insert_orders([prime2])
    assert repaint  # 0.125 has more decimals than 2.25 had
    assert [d(r, Column.QUANTITY) for r in (1, 2)] == ["2.250", "0.125"]
    assert [d(r, Column.LIMIT) for r in (1, 2)] == ["64,250.12", "64,000.00"]
    assert d(1, Column.SYMBOL) == d(0, Column.SYMBOL) == "BTC/USD"


def test_display_strings_are_built_once_per_order_version(qapp: QApplication) -> None:
    store = OrderStore()
    store.upsert([make_order(1)])
    model = wired(store)
    first = model.data(model.index(0, Column.NOTIONAL))
    assert model.data(model.index(0, Column.NOTIONAL)) is first  # cached, not formatted again
    store.upsert([dataclasses.replace(make_order(1), quantity=Decimal("2.50"))])
    again = model.data(model.index(0, Column.NOTIONAL))
    assert again is not first and again == "251.25 USD"


def test_held_rows_stay_put_and_catch_up_on_release(qapp: QApplication) -> None:
    store = OrderStore()
    store.upsert([make_order(i, price=str(10 * i + 10)) for i in range(6)])
    model = wired(store)
    model.sort(Column.LIMIT)
    held: list[int] = []
    model.held_changed.connect(held.append)
    selected = QPersistentModelIndex(model.index(2, Column.SYMBOL))  # order 2, under the pointer
    model.set_held(True)
    rec = Recorder(model)
    store.upsert([make_order(50, price="5")])  # would go on top
    store.upsert([dataclasses.replace(make_order(0), price=Decimal("999"))])  # would move to the bottom
    store.remove([make_order(4).key])  # left the book
    # Nothing moved: one value changed in place, one row dimmed.
    assert rec.of("inserted") == [] and rec.of("removed") == [] and rec.of("layout") == []
    assert [o.order_id[:6] for o in model.orders()] == [f"O0000{i}" for i in range(6)]
    assert model.data(model.index(0, Column.LIMIT)) == "999"
    assert model.data(model.index(4, Column.LIMIT), LEAVING_ROLE) is True
    assert model.data(model.index(4, Column.STATUS)) == "left the book"
    assert model.data(model.index(4, Column.SIDE), Qt.ItemDataRole.FontRole).strikeOut()
    assert model.held_count() == 3 and held[-1] == 3
    assert selected.row() == 2
    model.set_held(False)
    assert held[-1] == 0
    assert [str(o.price) for o in model.orders()] == ["5", "20", "30", "40", "60", "999"]
    assert model.order_at(selected.row()).order_id == make_order(2).order_id  # the selection followed
    assert rec.of("reset") == []
    assert_mirrors(model, store)


def test_an_empty_table_is_not_held(qapp: QApplication) -> None:
    model = OrdersTableModel()
    model.set_held(True)
    model.insert_orders([make_order(1)])
    assert model.rowCount() == 1 and model.held_count() == 0


@pytest.mark.qt_log_level_fail("WARNING")
def test_qt_model_tester_while_held_and_released(qapp: QApplication, qtmodeltester: Any) -> None:
    rng = random.Random(9)
    store = OrderStore()
    store.upsert([make_order(i, price=str(rng.randrange(1, 500))) for i in range(20)])
    model = wired(store)
    model.sort(Column.NOTIONAL, Qt.SortOrder.DescendingOrder)
    proxy = OrdersFilterProxy(model)
    proxy.set_text(">notional:100")
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)
    for step, _ in enumerate(churn(store, rng, 12, big_every=5, first_id=20, big=10)):
        model.set_held(step % 3 != 2)  # held two steps in three, then caught up
    model.set_held(False)
    assert_mirrors(model, store)
    notionals = [model.facts(o).notional for o in model.orders()]
    assert notionals == sorted(notionals, reverse=True)  # type: ignore[type-var]


@pytest.mark.qt_log_level_fail("WARNING")
def test_qt_model_tester_on_the_new_columns_under_churn(qapp: QApplication, qtmodeltester: Any) -> None:
    rng = random.Random(11)
    store = OrderStore()
    store.upsert(varied_orders())
    model = wired(store)
    qtmodeltester.check(model)
    for step, _ in enumerate(churn(store, rng, 6, big_every=1000, first_id=100, big=10)):
        model.set_held(step % 2 == 0)
        model.sort(list(Column)[step % len(Column)])
    model.set_held(False)
    assert_mirrors(model, store)


def test_an_empty_filter_does_no_work(qapp: QApplication) -> None:
    model = OrdersTableModel()
    model.load([make_order(i) for i in range(3)])
    proxy = OrdersFilterProxy(model)
    assert not proxy.filtering
    proxy.set_text("side:sell")
    assert proxy.filtering and proxy.rowCount() == 0
    proxy.set_text("  ")
    assert not proxy.filtering and proxy.rowCount() == 3


def test_many_held_inserts_join_sorted_in_one_go(qapp: QApplication) -> None:
    rng = random.Random(4)
    store = OrderStore()
    store.upsert([make_order(i, price=str(rng.randrange(1, 500))) for i in range(50)])
    model = wired(store)
    model.sort(Column.LIMIT, Qt.SortOrder.DescendingOrder)
    model.set_held(True)
    store.upsert([make_order(i, price=str(rng.randrange(1, 500))) for i in range(50, 250)])
    assert model.rowCount() == 50 and model.held_count() == 200
    rec = Recorder(model)
    model.release_held()  # the cap: catch up while still held
    assert model.held and model.held_count() == 0
    assert rec.of("reset") == []
    prices = [o.price for o in model.orders()]
    assert prices == sorted(prices, reverse=True)
    assert_mirrors(model, store)


def test_a_filter_reads_names_again_when_market_data_arrives(qapp: QApplication) -> None:
    book = InstrumentBook({})
    model = OrdersTableModel(instruments=book)
    model.load([make_order(1, symbol="ABCXYZ"), make_order(2, symbol="XBT/USD")])
    proxy = OrdersFilterProxy(model)
    proxy.set_text("abc")
    assert proxy.rowCount() == 0  # "ABCXYZ" alone does not say where the base ends
    book.add(
        [
            Instrument(
                VenueKind.SPOT,
                "ABC/XYZ",
                "ABC",
                "XYZ",
                price_decimals=2,
                size_decimals=2,
                aliases=("ABCXYZ",),
            )
        ]
    )
    assert proxy.rowCount() == 1
    assert model.data(model.index(0, Column.SYMBOL)) == "ABC/XYZ"

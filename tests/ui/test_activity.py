"""Activity without a window: one row per action, its orders, their steps; filters, copy, CSV; churn."""

from __future__ import annotations

import csv
import dataclasses
import random
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import QApplication

from app.core.ledger import CancelState
from app.core.orders import Order
from app.desk.coordinator import LedgerEntry
from app.desk.desk import OutsideChange
from app.desk.killswitch import KillPhase, KillState
from app.ui import theme
from app.ui.activity import (
    NODE_ROLE,
    ActionNode,
    ActivityColumn,
    ActivityFilter,
    ActivityModel,
    ActivityPanel,
    Kind,
    NoteNode,
    OrderNode,
    csv_rows,
    intent_text,
)
from tests.ui.helpers import make_order, wait_until

REJECT = "EOrder:Unknown order"


def entries(attempt: str, orders: list[Order], state: CancelState, at: float, **kw: Any) -> list[LedgerEntry]:
    return [LedgerEntry(attempt, o, state, kw.get("reason"), at, kw.get("latency_ms")) for o in orders]


def big_cancel(model: ActivityModel, attempt: str = "A1", n: int = 1000, rejected: int = 5) -> list[Order]:
    """A 1,000-order cancel with 5 rejections, fed as the coordinator moves it: queued in one
    batch, sent in chunks of 50, answered per chunk."""
    orders = [make_order(i, symbol=("XBT/USD", "ETH/USD")[i % 2]) for i in range(n)]
    bad = {o.key for o in orders[7 :: max(1, n // rejected)][:rejected]}
    t0 = 1_700_000_000.0
    model.name_action(attempt, f"cancel {n:,} orders")
    model.add_entries(entries(attempt, orders, CancelState.QUEUED, t0))
    for c in range(0, n, 50):
        chunk = orders[c : c + 50]
        model.add_entries(entries(attempt, chunk, CancelState.SENT, t0 + 0.001 * c))
        ok = [o for o in chunk if o.key not in bad]
        no = [o for o in chunk if o.key in bad]
        model.add_entries(entries(attempt, ok, CancelState.CANCELLED, t0 + 0.05 + 0.001 * c, latency_ms=40.0))
        model.add_entries(entries(attempt, no, CancelState.REJECTED, t0 + 0.05, reason=REJECT))
    model.settle(attempt)
    return orders


def test_one_row_per_action_its_orders_and_their_steps(qapp: QApplication) -> None:
    model = ActivityModel()
    big_cancel(model)
    assert model.rowCount() == 1
    action = model.latest()
    assert isinstance(action, ActionNode) and action.kind is Kind.ACTION
    top = model.index(0, 0)
    assert model.rowCount(top) == 1000
    text = {c: model.data(model.index(0, c)) for c in ActivityColumn}
    assert text[ActivityColumn.WHAT] == "cancel 1,000 orders"
    assert text[ActivityColumn.ORDERS] == "1,000"
    assert text[ActivityColumn.OUTCOME] == "5 rejected · 995 cancelled"  # problems first
    assert text[ActivityColumn.SYMBOL] == "XBT/USD, ETH/USD"
    assert text[ActivityColumn.TOOK] == "1.0 s"  # to the last ending
    order = model.index(7, 0, top)
    assert model.data(order) == make_order(7).order_id
    assert model.data(model.index(7, ActivityColumn.OUTCOME, top)) == f"rejected ({REJECT})"
    steps = [model.data(model.index(r, 0, order)) for r in range(model.rowCount(order))]
    assert steps == ["queued", "sent", "rejected"]
    assert model.data(model.index(2, ActivityColumn.TOOK, order)) == "+50 ms"
    assert model.parent(model.index(1, 0, order)) == order
    assert model.parent(order) == top


def test_final_states_read_strongest(qapp: QApplication) -> None:
    model = ActivityModel()
    big_cancel(model, n=20, rejected=1)
    top = model.index(0, 0)
    cancelled = model.index(0, ActivityColumn.OUTCOME, top)
    assert model.data(cancelled) == "cancelled"
    assert model.data(cancelled, 9) == theme.qcolor("good")  # ForegroundRole: green, not grey
    font = model.data(cancelled, 6)  # FontRole
    assert isinstance(font, QFont) and font.bold()
    queued = model.index(0, 0, model.index(0, 0, top))
    assert model.data(queued) == "queued"
    assert model.data(queued, 9) == theme.qcolor("dim")  # in flight reads weaker
    assert model.data(queued, 6) is None
    assert model.data(model.index(0, ActivityColumn.OUTCOME), 9) == theme.qcolor("failed")


def test_newest_action_on_top_and_the_oldest_leave(qapp: QApplication) -> None:
    model = ActivityModel(limit=3)
    removed: list[tuple[int, int]] = []
    model.rowsRemoved.connect(lambda p, a, b: removed.append((a, b)) if not p.isValid() else None)
    for i in range(5):
        o = make_order(100 + i)
        model.name_action(f"A{i}", f"cancel order {i}")
        model.add_entries(entries(f"A{i}", [o], CancelState.QUEUED, 1.0 + i))
    assert [model.data(model.index(r, 0)) for r in range(3)] == [
        "cancel order 4",
        "cancel order 3",
        "cancel order 2",
    ]
    assert removed == [(3, 3), (3, 3)]
    assert model.action("A0") is None
    model.add_entries(entries("A3", [make_order(103)], CancelState.CANCELLED, 9.0))  # still updates
    assert model.data(model.index(1, ActivityColumn.OUTCOME)) == "1 cancelled"


def test_outside_changes_share_a_row_per_account_and_notes_go_on_top(qapp: QApplication) -> None:
    model = ActivityModel()
    t = 1000.0
    for i in range(3):
        model.add_outside(OutsideChange("spot", make_order(i), "cancelled", "dead_man_switch"), t + i)
    model.add_outside(OutsideChange("spot", make_order(9), "partially filled"), t + 3)
    model.add_outside(OutsideChange("spot", make_order(9), "filled"), t + 4)
    model.add_note("while away (2 min): 3 new, 5 gone", t + 5, label="back", account="spot")
    model.add_note("malformed order skipped", t + 6, label="skipped", account="spot", problem=True)
    model.add_outside(OutsideChange("spot", make_order(20), "filled"), t + 60)  # later: a new row
    nodes = model.top_nodes()
    assert [n.kind for n in nodes] == [Kind.OUTSIDE, Kind.NOTE, Kind.NOTE, Kind.OUTSIDE]
    group = nodes[3]
    assert isinstance(group, ActionNode)
    assert group.summary() == "1 filled · 3 cancelled"
    assert [c.word for c in group.orders[make_order(9).key].children] == ["partially filled", "filled"]
    assert model.data(model.index(3, ActivityColumn.WHAT)) == "outside the console"
    assert model.data(model.index(0, ActivityColumn.OUTCOME, model.index(3, 0))) == (
        "cancelled (dead_man_switch)"
    )
    assert model.data(model.index(1, 0)) == "skipped"
    assert model.data(model.index(1, ActivityColumn.OUTCOME)) == "malformed order skipped"
    assert model.data(model.index(2, ActivityColumn.OUTCOME)) == "while away (2 min): 3 new, 5 gone"


def test_a_kill_switch_is_one_row_that_its_waves_join(qapp: QApplication) -> None:
    model = ActivityModel()
    model.start_kill(7, ("spot", "futures"), 100.0)
    a = [make_order(i) for i in range(3)]
    b = [make_order(i, account="futures") for i in range(3, 5)]
    model.name_action("W1", "cancel all on spot", kill=7)
    model.name_action("W2", "cancel all on futures", kill=7)
    model.add_entries(
        entries("W1", a, CancelState.QUEUED, 100.1) + entries("W2", b, CancelState.QUEUED, 100.1)
    )
    model.add_entries(entries("W1", a, CancelState.CANCELLED, 100.2))
    state = KillState(KillPhase.HOLDING, ("spot", "futures"), hold_until=110.0, pending=("futures",))
    model.update_kill(7, state, 100.3)
    assert model.rowCount() == 1 and model.rowCount(model.index(0, 0)) == 5
    outcome = model.data(model.index(0, ActivityColumn.OUTCOME))
    assert outcome.startswith("2 in flight · 3 cancelled — holding flat until ")
    assert outcome.endswith("; waiting for futures")
    model.add_entries(entries("W2", b, CancelState.CANCELLED, 101.0))
    model.update_kill(7, dataclasses.replace(state, phase=KillPhase.DONE, pending=(), unlisted=2), 111.0)
    assert model.data(model.index(0, ActivityColumn.OUTCOME)) == "5 cancelled · 2 not yet listed — done"
    assert model.data(model.index(0, ActivityColumn.TOOK)) == "1.0 s"


def visible(proxy: ActivityFilter, parent: QModelIndex | None = None) -> list[Any]:
    parent = parent if parent is not None else QModelIndex()
    out = []
    for r in range(proxy.rowCount(parent)):
        i = proxy.index(r, 0, parent)
        out.append(i.data(NODE_ROLE))
        out.extend(visible(proxy, i))
    return out


def test_filters_problems_account_state_and_id(qapp: QApplication) -> None:
    model = ActivityModel()
    orders = big_cancel(model)
    other = make_order(5000, account="spot2", client_id="grid-7")
    model.name_action("A2", "cancel 1 order")
    model.add_entries(entries("A2", [other], CancelState.QUEUED, 5.0))
    model.add_entries(entries("A2", [other], CancelState.UNKNOWN, 6.0, reason="timeout"))
    model.add_note("malformed order skipped", 7.0, label="skipped", account="spot", problem=True)
    proxy = ActivityFilter(model)
    assert proxy.rowCount() == 3

    proxy.set_filters(problems_only=True)
    shown = visible(proxy)
    problem_orders = [n for n in shown if isinstance(n, OrderNode)]
    assert len(problem_orders) == 6 and all(n.problem for n in problem_orders)
    assert sum(isinstance(n, ActionNode) for n in shown) == 2  # both actions, through their orders
    assert sum(isinstance(n, NoteNode) for n in shown) == 1
    assert len(shown) == 2 + 6 + 6 * 3 - 1 + 1  # the unknown one has two steps

    proxy.set_filters(account="spot2")
    assert [n.order.order_id for n in visible(proxy) if isinstance(n, OrderNode)] == [other.order_id]
    proxy.set_filters(problems_only=False, account=None, state="rejected")
    assert len([n for n in visible(proxy) if isinstance(n, OrderNode)]) == 5
    proxy.set_filters(state=None, text=orders[123].order_id[:6].lower())
    found = [n for n in visible(proxy) if isinstance(n, OrderNode)]
    assert [n.order.order_id for n in found] == [orders[123].order_id]
    proxy.set_filters(text="GRID-7")  # client id, any case
    assert [n.order.order_id for n in visible(proxy) if isinstance(n, OrderNode)] == [other.order_id]
    proxy.set_filters(text="a2")  # an attempt id finds its whole action
    assert sum(isinstance(n, OrderNode) for n in visible(proxy)) == 1
    proxy.set_filters(text="")
    assert proxy.rowCount() == 3


@pytest.mark.qt_log_level_fail("WARNING")
def test_qtmodeltester_under_churn_of_a_thousand_order_cancel(qapp: QApplication, qtmodeltester: Any) -> None:
    """Qt's model tester (C++) watches the model and a filtered proxy while a 1,000-order cancel
    with 5 rejections, outside changes, notes, a kill switch and trimming go through."""
    model = ActivityModel(limit=6)
    proxy = ActivityFilter(model)
    proxy.set_filters(problems_only=True)
    qtmodeltester.check(model)
    qtmodeltester.check(proxy)
    rng = random.Random(3)
    t0 = time.perf_counter()
    big_cancel(model, "A1")
    for i in range(40):
        kind = rng.randrange(4)
        if kind == 0:
            model.add_outside(OutsideChange("spot", make_order(9000 + i), "filled"), 2000.0 + i * 3)
        elif kind == 1:
            model.add_note(f"note {i}", 2000.0 + i)
        elif kind == 2:
            os = [make_order(7000 + 10 * i + k) for k in range(rng.randrange(1, 6))]
            model.name_action(f"B{i}", f"cancel {len(os)} orders")
            model.add_entries(entries(f"B{i}", os, CancelState.QUEUED, 2000.0 + i))
            model.add_entries(entries(f"B{i}", os[:1], CancelState.FAILED, 2000.5 + i, reason="x"))
            model.add_entries(entries(f"B{i}", os[1:], CancelState.CANCELLED, 2000.5 + i))
        else:
            model.start_kill(i, ("spot",), 2000.0 + i)
            model.update_kill(i, KillState(KillPhase.DONE, ("spot",), waves=1), 2001.0 + i)
    took = time.perf_counter() - t0
    print(f"\nActivity churn: 1,000-order cancel + 40 more rows under both model testers: {took:.2f} s")
    assert model.rowCount() == 6


async def test_copy_and_csv_export_of_what_the_filters_show(qapp: QApplication, tmp_path: Path) -> None:
    model = ActivityModel()
    big_cancel(model, n=30, rejected=2)
    panel = ActivityPanel(model, lambda: [("spot", "Main spot")])
    panel.problems.setChecked(True)
    assert panel.count.text() == "2 orders match"
    n = panel.export_csv(tmp_path / "a.csv")
    with (tmp_path / "a.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["level", "kind", "what"]
    assert n == len(rows) - 1 == 1 + 2 + 2 * 3
    assert [r[1] for r in rows[1:4]] == ["action", "order", "step"]
    assert rows[2][7] == f"rejected ({REJECT})"
    text = panel.copy_rows()
    assert text.startswith("cancel 30 orders\t") and "2 rejected · 28 cancelled" in text
    assert QGuiApplication.clipboard().text() == text
    panel.problems.setChecked(False)
    assert len(list(csv_rows(panel.proxy, model))) == 1 + 30 + 30 * 3
    panel.deleteLater()


async def test_the_match_count_follows_new_moves_and_accounts_are_not_refilled_needlessly(
    qapp: QApplication,
) -> None:
    model = ActivityModel()
    big_cancel(model, n=30, rejected=2)
    asked: list[int] = []
    accounts = [("spot", "Main spot")]

    def listed() -> list[tuple[str, str]]:
        asked.append(1)
        return list(accounts)

    panel = ActivityPanel(model, listed)
    panel.problems.setChecked(True)
    assert panel.count.text() == "2 orders match"
    late = make_order(900)
    model.name_action("A9", "cancel 1 order")
    model.add_entries(entries("A9", [late], CancelState.QUEUED, 5.0))
    model.add_entries(entries("A9", [late], CancelState.FAILED, 5.1, reason="refused"))
    await wait_until(lambda: panel.count.text() == "3 orders match", what="the count to follow")
    for _ in range(5):
        panel.refresh_accounts()  # the same accounts: the choice box is left alone
    assert len(asked) == 6 and panel.account.count() == 2
    accounts.append(("spot2", "Second spot"))
    panel.refresh_accounts()
    assert [panel.account.itemText(i) for i in range(panel.account.count())] == [
        "All accounts",
        "Main spot",
        "Second spot",
    ]
    panel.deleteLater()


def test_a_cancel_of_whole_accounts_reads_with_their_names(qapp: QApplication) -> None:
    names = {"spot": "Main spot", "spot2": "Second spot"}
    model = ActivityModel(account_name=lambda a: names.get(a, a))
    model.name_action("A1", "cancel all on spot, spot2")
    model.add_entries(entries("A1", [make_order(1)], CancelState.QUEUED, 1.0))
    assert model.data(model.index(0, ActivityColumn.WHAT)) == "cancel all on Main spot, Second spot"
    assert intent_text("cancel 3 orders", names.__getitem__) == "cancel 3 orders"
    assert intent_text(None, names.__getitem__) == ""


def test_a_waiting_order_says_its_wait_once(qapp: QApplication) -> None:
    model = ActivityModel()
    o = make_order(1)
    model.add_entries(entries("A1", [o], CancelState.QUEUED, 1.0))
    model.add_entries(
        entries("A1", [o], CancelState.WAITING, 1.1, reason="waiting: Kraken's rate limit, ~3 s")
    )
    order = model.index(0, ActivityColumn.OUTCOME, model.index(0, 0))
    assert model.data(order) == "waiting: Kraken's rate limit, ~3 s"
    model.add_entries(entries("A1", [o], CancelState.REJECTED, 1.2, reason="EOrder:Unknown order"))
    assert model.data(order) == "rejected (EOrder:Unknown order)"


def _tree(model: ActivityModel, parent: QModelIndex | None = None) -> list[Any]:
    parent = parent if parent is not None else QModelIndex()
    rows = []
    for r in range(model.rowCount(parent)):
        idx = model.index(r, 0, parent)
        texts = tuple(model.data(model.index(r, c, parent)) for c in ActivityColumn)
        rows.append((texts, _tree(model, idx)))
    return rows


@pytest.mark.qt_log_level_fail("WARNING")
def test_a_batch_of_outside_changes_is_the_same_tree_as_one_by_one(
    qapp: QApplication, qtmodeltester: Any
) -> None:
    # A busy market: new orders, one order twice in the batch, two accounts, and a pause long
    # enough (OUTSIDE_GROUP_S) that a new row starts in the middle of the batch.
    t = 1000.0
    changes = [
        (OutsideChange("spot", make_order(1), "partially filled"), t),
        (OutsideChange("spot", make_order(2), "cancelled", "User requested"), t + 0.1),
        (OutsideChange("futures", make_order(3, account="futures"), "filled"), t + 0.2),
        (OutsideChange("spot", make_order(1), "filled"), t + 0.3),
        (OutsideChange("spot", make_order(4), "expired"), t + 100.0),
        (OutsideChange("futures", make_order(5, account="futures"), "filled"), t + 100.1),
        (OutsideChange("spot", make_order(4), "gone"), t + 100.2),
    ]
    one, many = ActivityModel(), ActivityModel()
    one.add_outside(changes[0][0], changes[0][1])  # an order already in the tree before the batch
    many.add_outside(changes[0][0], changes[0][1])
    for change, at in changes[1:]:
        one.add_outside(change, at)
    qtmodeltester.check(many)
    many.add_outside_many(changes[1:])
    assert _tree(many) == _tree(one)
    groups = [n for n in many.top_nodes() if isinstance(n, ActionNode)]
    assert len(groups) == 4  # two accounts, each with a row before the pause and one after

    # What the batch itself must show, said outright (one by one shares add_outside_many's code):
    # newest rows on top; each row's orders with their steps in order; its counts by latest word.
    def row(g: ActionNode) -> tuple[str, dict[str, list[str]], dict[str, int]]:
        orders = {k[1]: [s.word for s in n.children] for k, n in g.orders.items()}
        return next(iter(g.accounts)), orders, {w: c for w, c in g.counts.items() if c}

    o = {i: make_order(i, account="futures" if i in (3, 5) else "spot").order_id for i in (1, 2, 3, 4, 5)}
    assert [row(g) for g in groups] == [
        ("futures", {o[5]: ["filled"]}, {"filled": 1}),
        ("spot", {o[4]: ["expired", "gone"]}, {"gone": 1}),
        ("futures", {o[3]: ["filled"]}, {"filled": 1}),
        ("spot", {o[1]: ["partially filled", "filled"], o[2]: ["cancelled"]}, {"filled": 1, "cancelled": 1}),
    ]

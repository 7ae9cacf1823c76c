"""A bulk cancel says how far it is (the status bar's progress line) and, when the selection is
everything on an account, the confirmation offers cancel-all beside it (issue 11, item 1)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.plan import RequestForm, Scope
from app.desk.coordinator import ActionProgress
from app.sim.server import SimThread
from app.ui.dialogs import ConfirmCancelDialog
from app.ui.main_window import MainWindow
from app.ui.progress import CancelProgress
from tests.ui.helpers import SPOT2_ORDERS, SPOT_ORDERS, sim_open_ids, wait_signal, wait_until
from tests.ui.test_window import confirm_by_keyboard, select_rows

OpenUI = Callable[[], AbstractAsyncContextManager[MainWindow]]


def p(
    done: int, total: int = 100, waiting: int = 0, eta: float | None = None, attempt: str = "A1"
) -> ActionProgress:
    return ActionProgress(attempt, "cancel 100 orders", total, done, waiting, eta)


def test_progress_says_done_of_total_and_the_rate_limits_wait() -> None:
    prog = CancelProgress()
    prog.update(p(0), now=10.0)
    assert prog.text(10.0) == "Cancelling: 0 of 100 done"  # no pace yet: no ETA rather than a wrong one
    prog.update(p(40, waiting=60, eta=30.0), now=11.0)
    assert prog.text(11.0) == "Cancelling: 40 of 100 done · 60 waiting for Kraken's rate limit · ~30 s left"
    assert prog.text(21.0).endswith("~20 s left")  # the wait counts down between updates


def test_progress_eta_from_the_pace_and_gone_when_done() -> None:
    prog = CancelProgress()
    prog.update(p(0), now=0.0)
    prog.update(p(25), now=2.0)  # 25 in 2 s: 75 left take ~6 s
    assert prog.eta_s(2.0) == 6.0
    prog.update(p(100), now=3.0)
    assert prog.running == 0 and prog.text(3.0) == ""


def test_the_eta_follows_the_pace_of_late_not_the_fast_start() -> None:
    # 900 of 1,000 in the first second, then a pair's rate counter lets ~2 a second through.
    prog = CancelProgress()
    for t, done in ((0.0, 0), (1.0, 900), (20.0, 950), (25.0, 960)):
        prog.update(p(done, total=1000), now=t)
    assert prog.eta_s(25.0) == 16.0  # 40 left at 60 per 24 s, not "~0 s" from the average
    prog.update(p(960, total=1000, waiting=40, eta=30.0), now=26.0)
    assert prog.eta_s(26.0) == 30.0  # never less than the wait the rate limit announced


def test_progress_of_two_actions_adds_up_and_a_single_order_shows_none() -> None:
    prog = CancelProgress()
    prog.update(p(1, total=1, attempt="single"), now=0.0)
    prog.update(p(0, total=1, attempt="single2"), now=0.0)
    assert prog.running == 0  # one order: its outcome is said at once, no progress line
    prog.update(p(10, attempt="A1"), now=0.0)
    prog.update(p(5, total=50, attempt="A2"), now=0.0)
    assert prog.text(0.0) == "2 cancels: 15 of 150 done"
    prog.finished("A1")
    assert prog.text(0.0) == "Cancelling: 5 of 50 done"


async def test_the_status_bar_shows_a_bulk_cancel_moving_then_nothing(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.sidebar.select_account("spot")
        shown: list[str] = []
        window.bridge.cancel_progress.connect(lambda _p: shown.append(window.progress_label.text()))
        select_rows(window, range(0, 6))
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        report = await confirm_by_keyboard(window, qtbot)
        assert report.orders == 6
        assert any(t.startswith("Cancelling: ") and t.endswith(" of 6 done") for t in shown), shown
        assert window.progress_label.isHidden() and window.progress_label.progress.running == 0


async def test_selecting_every_order_of_an_account_offers_cancel_all_beside_it(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.sidebar.select_account("spot")
        assert window.proxy.rowCount() == SPOT_ORDERS
        select_rows(window, range(SPOT_ORDERS))
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        alt = dialog.alternative_button
        assert alt is not None and not alt.isDefault()  # Enter still does what the headline says
        assert "This is every order on Main spot" in dialog.details.text()
        assert "also takes orders placed since the last refresh" in dialog.details.text()
        settled = wait_signal(window.bridge.cancel_settled)
        qtbot.mouseClick(alt, Qt.MouseButton.LeftButton)
        (report,) = await settled
        assert report.intent == "cancel all on spot"
        assert report.requests == 1
        assert not sim_open_ids(sim, "spot")
        assert len(sim_open_ids(sim, "spot2")) == SPOT2_ORDERS  # never wider


async def test_a_selection_short_of_the_whole_account_offers_no_cancel_all(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.sidebar.select_account("spot")
        select_rows(window, range(SPOT_ORDERS - 1))
        assert window.flow.whole_accounts([window.proxy.order_at(r) for r in range(SPOT_ORDERS - 1)]) is None
        qtbot.keyClick(window.table, Qt.Key.Key_Delete)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog) and dialog.alternative_button is None
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        everything = [window.proxy.order_at(r) for r in range(SPOT_ORDERS)]
        offer = window.flow.whole_accounts(everything)
        assert offer is not None
        intent, plan = offer
        assert intent.scope is Scope.ACCOUNT and intent.account_ids == ("spot",)
        assert [r.form for r in plan.requests] == [RequestForm.ALL]
        await wait_until(lambda: window.flow.dialog is None, what="the dialog to close")

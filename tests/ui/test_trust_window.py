"""The window when things go wrong, against the real desk and the simulator: a venue stopped and
started again under it, the dead man's switch armed while quitting or failing to refresh, and the
kill switch holding flat while new orders arrive (issue 12)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from app.core.accounts import LinkState
from app.desk.killswitch import KillPhase
from app.sim.server import SimThread
from app.ui import theme
from app.ui.dialogs import ConfirmCancelDialog
from app.ui.main_window import MainWindow
from app.ui.models import Column
from app.ui.quit_guard import QuitChoice
from tests.ui.helpers import SPOT2_ORDERS, SPOT_ORDERS, sim_open_ids, wait_until

OpenUI = Callable[[], AbstractAsyncContextManager[MainWindow]]
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
TOTAL = SPOT_ORDERS + SPOT2_ORDERS


def host(sim: SimThread, up: bool) -> None:
    """Take the simulator's Spot REST host down (connections refused) or bring it back."""
    server = sim.server
    sim.submit(server.start_host("spot_rest") if up else server.stop_host("spot_rest")).result(10)


def listen(signal: SignalInstance, within: float = 10.0) -> Awaitable[tuple[Any, ...]]:
    """Listen to one emission of ``signal`` from now on (connected before the caller acts)."""
    fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def got(*args: Any) -> None:
        if not fut.done():
            fut.set_result(args)
        signal.disconnect(got)

    signal.connect(got)
    return asyncio.wait_for(fut, within)


def button(box: QMessageBox, text: str) -> QPushButton:
    found = [b for b in box.buttons() if b.text() == text]
    assert found, [b.text() for b in box.buttons()]
    b = found[0]
    assert isinstance(b, QPushButton)
    return b


async def armed(window: MainWindow, sim: SimThread) -> None:
    window.bridge.set_deadman(True)
    await wait_until(lambda: sim.call(sim.exchange.deadman_trigger_time, "spot") is not None, what="arming")
    await wait_until(lambda: window.bridge.desk.deadman.armed, what="the switch on")


async def test_a_venue_down_dims_its_rows_and_the_sidebar_counts_the_time(
    open_ui: OpenUI, sim: SimThread
) -> None:
    async with open_ui() as window:
        host(sim, up=False)
        window.refresh()  # F5: the next listing fails at once
        desk = window.bridge.desk
        await wait_until(lambda: desk.status["spot"].link is LinkState.DOWN, what="spot down")
        await wait_until(lambda: "spot" in window.model.stale_accounts(), what="stale rows")
        row = next(r for r in range(window.model.rowCount()) if window.model.order_at(r).account_id == "spot")
        index = window.model.index(row, Column.LIMIT)
        assert window.model.data(index, Qt.ItemDataRole.ForegroundRole) == theme.qcolor("dim")
        tip = str(window.model.data(index, Qt.ItemDataRole.ToolTipRole))
        assert tip.startswith("As of ") and "Main spot is down" in tip
        assert window.model.rowCount() == TOTAL  # kept, never cleared

        item = window.sidebar._items["spot"]
        window.sidebar.tick(time.time() + 125)  # two minutes later, without waiting for them
        assert item.text(2) == "down 2m"
        assert item.foreground(2).color() == theme.qcolor("failed")
        detail = window.sidebar._details["spot"]
        assert "rows as of" in detail.text(0)
        window._tick_status()
        assert window.banner.isVisible() and "Main spot is down for" in window.banner.text()

        host(sim, up=True)
        window.refresh()
        await wait_until(lambda: desk.status["spot"].link is LinkState.POLLING, what="spot back")
        await wait_until(lambda: not window.model.stale_accounts(), what="fresh rows")
        assert window.model.data(index, Qt.ItemDataRole.ForegroundRole) != theme.qcolor("dim")
        assert "spot" not in window.sidebar._details


async def test_the_sidebar_shows_each_accounts_switch_and_says_when_kraken_will_fire(
    open_ui: OpenUI, sim: SimThread
) -> None:
    async with open_ui() as window:
        await armed(window, sim)
        item = window.sidebar._items["spot"]
        await wait_until(lambda: item.text(3).endswith("s"), what="a countdown")
        left = int(item.text(3).rstrip("s"))
        assert 50 <= left <= 60
        window.sidebar.tick(time.time() + 10)
        assert int(item.text(3).rstrip("s")) <= left - 9  # it ticks

        # Refreshes stop reaching Kraken: the deadline Kraken holds is said, in red.
        host(sim, up=False)
        await window.bridge.desk.deadman.arm()  # a refresh, refused
        state = window.bridge.desk.deadman.states["spot"]
        assert state.failing and state.trigger_at is not None
        window._update_deadman()
        assert item.text(3) == "⚠ " + time.strftime("%H:%M:%S", time.localtime(state.trigger_at))
        detail = window.sidebar._details["spot"].text(0)
        assert "no ack since" in detail and "Kraken cancels all at" in detail
        window._tick_status()
        assert "Not acknowledged since" in window.banner.text()

        host(sim, up=True)
        await window.bridge.desk.deadman.disarm()
        window._update_deadman()
        assert item.text(3) == "off"


async def test_quitting_with_the_switch_armed_asks_and_disarms_first(open_ui: OpenUI, sim: SimThread) -> None:
    async with open_ui() as window:
        await armed(window, sim)
        guard = window.quit_guard
        asked = listen(guard.asked)
        assert window.close() is False  # not closed: asked
        (box,) = await asked
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert "Kraken cancels every order" in box.informativeText()
        assert box.defaultButton() is button(box, "Disarm and quit")

        # Stay: nothing changes.
        decided = listen(guard.decided)
        button(box, "Stay").click()
        assert (await decided) == (QuitChoice.STAY,)
        assert window.isVisible() and window.bridge.desk.deadman.armed

        # Disarm and quit: disarmed at Kraken before the window goes.
        asked = listen(guard.asked)
        window.close()
        (box,) = await asked
        decided = listen(guard.decided)
        closed = listen(window.closed)
        button(box, "Disarm and quit").click()
        assert (await decided) == (QuitChoice.DISARM_AND_QUIT,)
        await closed
        assert not window.isVisible()
        assert sim.call(sim.exchange.deadman_trigger_time, "spot") is None
        assert sim.call(sim.exchange.deadman_trigger_time, "spot2") is None


async def test_a_disarm_kraken_does_not_acknowledge_is_said_before_quitting(
    open_ui: OpenUI, sim: SimThread
) -> None:
    async with open_ui() as window:
        await armed(window, sim)
        guard = window.quit_guard
        host(sim, up=False)
        asked = listen(guard.asked)
        window.close()
        (box,) = await asked
        asked = listen(guard.asked, within=15)
        button(box, "Disarm and quit").click()
        (again,) = await asked
        assert again.objectName() == "quit_disarm_failed"
        assert "Kraken cancels everything there at" in again.informativeText()
        assert again.defaultButton() is button(again, "Stay")
        decided = listen(guard.decided)
        button(again, "Stay").click()
        assert (await decided) == (QuitChoice.STAY,)
        assert window.isVisible()
        assert sim.call(sim.exchange.deadman_trigger_time, "spot") is not None  # still armed at Kraken
        host(sim, up=True)
        await window.bridge.desk.deadman.disarm()


async def test_the_kill_switch_holds_flat_while_orders_arrive_and_esc_stops_it(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.set_kill_hold(30.0)
        qtbot.keyClick(window.table, Qt.Key.Key_K, CTRL_SHIFT)
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert "Then holds flat for 30 s" in dialog.details.text()
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        desk = window.bridge.desk
        await wait_until(
            lambda: desk.kill is not None and desk.kill.state.phase is KillPhase.HOLDING, what="holding"
        )
        await wait_until(
            lambda: not sim_open_ids(sim, "spot") and not sim_open_ids(sim, "spot2"), what="flat"
        )
        assert window.kill_label.isVisible() and "holding flat" in window.kill_label.text()
        assert "Esc stops" in window.kill_label.text()

        # A runaway bot places more while the switch holds: they go too.
        rng = random.Random(3)
        sim.call(sim.exchange.generate_orders, "spot", 4, rng)
        assert len(sim_open_ids(sim, "spot")) == 4
        await wait_until(lambda: not sim_open_ids(sim, "spot"), within=15, what="the late orders cancelled")

        window.activateWindow()  # the offscreen platform does not give it back after the dialog
        await wait_until(lambda: QApplication.activeWindow() is window, what="the window active")
        qtbot.keyClick(window.table, Qt.Key.Key_Escape)
        await wait_until(lambda: desk.kill is not None and not desk.kill.running, what="stopped")
        assert desk.kill is not None and desk.kill.state.phase is KillPhase.STOPPED
        await wait_until(lambda: not window.kill_label.isVisible(), what="the label gone")
        assert window.last_message().startswith(f"Kill switch stopped (Esc): cancelled {TOTAL + 4}")
        await asyncio.sleep(0)

"""Tray icon, notifications and settings against the real desk and simulator (issue 15, items 3-5)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.ledger import CancelState
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.desk.coordinator import CancelReport
from app.desk.desk import Desk
from app.desk.killswitch import KillPhase, KillState
from app.sim.server import SimThread
from app.sim.state import Exchange
from app.ui import theme
from app.ui.app import open_window
from app.ui.desktop_dialog import DesktopSettingsDialog
from app.ui.dialogs import ConfirmCancelDialog
from app.ui.hotkey import GlobalHotkey, HotkeyError, platform_block, to_pynput
from app.ui.layout import LayoutStore
from app.ui.main_window import MainWindow
from app.ui.models import FLASH_ROLE, OrdersTableModel
from app.ui.notify import DesktopSettings, notice_of_change
from app.ui.notify_policy import Message, Notice, NoticeKind, Severity, summarise
from app.ui.tray import TrayState, merge, tray_state, tray_tooltip
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue
from tests.ui.helpers import SPOT2_ORDERS, SPOT_ORDERS, SPOT_SYMBOLS, make_order, sim_open_ids, wait_until

OpenUI = Callable[[], AbstractAsyncContextManager[MainWindow]]
TOTAL = SPOT_ORDERS + SPOT2_ORDERS


# --- the row flash ---------------------------------------------------------------------------------


def test_flashed_rows_light_up_then_fade(qtbot: QtBot) -> None:
    model = OrdersTableModel()
    ModelTester(qtbot).check(model)
    orders = [make_order(i) for i in range(5)]
    model.load(orders)
    changed: list[tuple[int, int, list[Qt.ItemDataRole]]] = []
    model.dataChanged.connect(lambda a, b, roles: changed.append((a.row(), b.row(), list(roles))))
    n = model.flash([orders[1].key, orders[2].key, ("spot", "no such order")], seconds=0.2)
    assert n == 2
    bg = Qt.ItemDataRole.BackgroundRole
    assert [model.data(model.index(r, 0), FLASH_ROLE) for r in range(5)] == [False, True, True, False, False]
    assert model.data(model.index(1, 3), bg) == theme.qcolor("flash")
    assert model.data(model.index(0, 3), bg) is None
    assert changed == [(1, 2, [bg])]  # one run, the background only
    qtbot.waitUntil(lambda: not model.flashing(), timeout=3000)
    assert model.data(model.index(1, 3), bg) is None
    assert changed[-1] == (1, 2, [bg])


def test_a_removed_row_stops_flashing(qtbot: QtBot) -> None:
    model = OrdersTableModel()
    orders = [make_order(i) for i in range(3)]
    model.load(orders)
    model.flash([orders[0].key])
    model.remove_keys([orders[0].key])
    assert not model.flashing()
    assert model.data(model.index(0, 0), FLASH_ROLE) is False


# --- tray state, tooltip ------------------------------------------------------------------------------


def test_the_tray_says_the_worst_state_first() -> None:
    from app.core.accounts import LinkState
    from app.desk.desk import AccountStatus

    live = AccountStatus("a", "Main spot", VenueKind.SPOT, LinkState.LIVE)
    down = AccountStatus("b", "Futures", VenueKind.FUTURES, LinkState.DOWN, "refused")
    assert tray_state([], None) is TrayState.EMPTY
    assert tray_state([live], None) is TrayState.LIVE
    assert tray_state([live, down], None) is TrayState.DOWN
    running = KillState(KillPhase.HOLDING, ("a",))
    assert tray_state([live, down], running) is TrayState.KILLING
    assert tray_state([live], KillState(KillPhase.DONE, ("a",))) is TrayState.LIVE
    tip = tray_tooltip([live, down], None, deadman_armed=True)
    assert tip.splitlines() == [
        "Kraken Cancel Console",
        "1 of 2 accounts live",
        "Futures: down",
        "Dead man's switch: armed",
    ]
    assert "KILL SWITCH running" in tray_tooltip([live], running, False, "demo")


def test_messages_held_while_the_menu_is_open_are_told_as_one() -> None:
    a = summarise([Notice(NoticeKind.FILLED, "Main spot", "buy 1 XBT/USD at 1", "XBT/USD")])
    b = summarise(
        [
            Notice(NoticeKind.PARTIALLY_FILLED, "Futures", "sell 1 of 2 PF_XBTUSD at 9", "PF_XBTUSD"),
            Notice(NoticeKind.PROBLEM, "", "Cancel 5 orders", detail="rejected 5"),
        ]
    )
    m = merge([a, b])
    assert m.title == "1 cancel needs attention; 1 order filled; 1 order partly filled"
    assert m.severity is Severity.CRITICAL and m.total == 3
    assert m.body.splitlines() == [
        "buy 1 XBT/USD at 1 — Main spot",
        "Cancel 5 orders: rejected 5",
        "Partly filled: 1 on Futures (PF_XBTUSD 1)",
    ]


# --- hotkey words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("portable", "expected"),
    [
        ("Ctrl+Alt+Shift+K", "<ctrl>+<alt>+<shift>+k"),
        ("Meta+F12", "<cmd>+<f12>"),
        ("Pause", "<pause>"),
        ("Ctrl+Alt+Del", "<ctrl>+<alt>+<delete>"),
        ("Ctrl+Shift+1", "<ctrl>+<shift>+1"),
    ],
)
def test_qt_key_words_become_pynput_words(portable: str, expected: str) -> None:
    assert to_pynput(portable) == expected


@pytest.mark.parametrize(
    ("portable", "why"),
    [
        ("", "no key combination"),
        ("K", "would fire while typing"),
        ("Ctrl+K, Ctrl+L", "one key combination only"),
        ("Ctrl+Shift", "a modifier alone"),
        ("Hyper+K", "not a modifier"),
        ("Ctrl+VolumeUp", "cannot be a global hotkey"),
    ],
)
def test_key_words_that_cannot_be_a_hotkey_say_why(portable: str, why: str) -> None:
    with pytest.raises(HotkeyError, match=why):
        to_pynput(portable)


def test_wayland_and_no_display_block_the_hotkey() -> None:
    assert platform_block({"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}, "linux") == "Wayland"
    assert platform_block({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "linux") == "Wayland"
    assert platform_block({"DISPLAY": ":1"}, "linux", qt_platform="wayland") == "Wayland"
    assert platform_block({}, "linux") == "no X display"
    assert platform_block({"DISPLAY": ":1", "XDG_SESSION_TYPE": "x11"}, "linux") is None
    assert platform_block({}, "win32") is None


def test_a_hotkey_that_cannot_be_registered_says_why(qapp: QApplication) -> None:
    hotkey = GlobalHotkey(block=lambda: None)
    seen: list[str] = []
    hotkey.status_changed.connect(lambda st: seen.append(st.text))
    hotkey.register("K")
    assert hotkey.status.text.startswith("not registered: K alone would fire while typing elsewhere")
    blocked = GlobalHotkey(block=lambda: "no X display")
    blocked.register("Ctrl+Alt+Shift+K")
    assert blocked.status.text == "not registered: no X display"
    hotkey.unregister()
    assert hotkey.status.text == "off" and seen[-1] == "off"


async def test_the_settings_say_the_hotkey_is_not_registered_under_wayland(qapp: QApplication) -> None:
    hotkey = GlobalHotkey(block=lambda: "Wayland")
    settings = replace(DesktopSettings(), hotkey_enabled=True)
    dialog = DesktopSettingsDialog(settings, hotkey)
    try:
        hotkey.register(settings.hotkey)
        assert not hotkey.status.registered
        assert dialog.status_label.text() == "Not registered: Wayland"
        dialog.key_edit.setKeySequence("K")  # a lone letter: refused, OK disabled
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert ok is not None and not ok.isEnabled() and "typing elsewhere" in dialog.key_error.text()
    finally:
        dialog.deleteLater()
        hotkey.unregister()


# --- settings ---------------------------------------------------------------------------------------


def test_settings_are_kept_in_the_layout_store_and_survive_bad_values(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "layout.ini")
    chosen = replace(
        DesktopSettings(), notify_filled=False, sound=True, hotkey_enabled=True, hotkey="Meta+F12"
    )
    chosen.save(store)
    again = DesktopSettings.load(LayoutStore(tmp_path / "layout.ini"))
    assert again == chosen
    store.set("settings/desktop/sound", "maybe")
    assert DesktopSettings.load(store).sound is False  # unreadable: its default
    assert DesktopSettings.load(LayoutStore(None)) == DesktopSettings()
    assert DesktopSettings().hotkey_enabled is False  # off by default


# --- notices from the desk's events ---------------------------------------------------------------------


def test_outside_changes_become_notices_in_the_traders_words() -> None:
    from app.desk.desk import OutsideChange

    order = make_order(1, quantity="1.25", price="100.5", filled="0.5")
    partial = notice_of_change(OutsideChange("spot", order, "partially filled"), "Main spot", "XBT/USD")
    assert partial.kind is NoticeKind.PARTIALLY_FILLED
    assert partial.what == "buy 0.5 of 1.25 XBT/USD at 100.5"
    gone = notice_of_change(OutsideChange("spot", order, "expired", "Order expired"), "Main spot", "XBT/USD")
    assert gone.kind is NoticeKind.CANCELLED_ELSEWHERE and gone.detail == "expired: Order expired"
    dms = notice_of_change(
        OutsideChange("spot", order, "cancelled", "dead_man_switch"), "Main spot", "XBT/USD"
    )
    assert dms.detail == "cancelled: dead_man_switch"


async def test_a_cancel_ending_with_rejections_raises_one_critical_notification(
    open_ui: OpenUI, sim: SimThread
) -> None:
    async with open_ui() as window:
        notifier = window.desktop.notifier
        notifier.policy.quiet_s = 0.05
        report = CancelReport("a1", "Cancel 1,000 orders", requests=20, orders=1000)
        report.counts.update({CancelState.CANCELLED: 995, CancelState.REJECTED: 5})
        raised = asyncio.ensure_future(_next_message(notifier.notified))
        window.bridge.cancel_settled.emit(report)
        message = await asyncio.wait_for(raised, 5)
        assert message.severity is Severity.CRITICAL
        assert message.title == "A cancel needs attention"
        assert message.body == "Cancel 1,000 orders\ncancelled 995, rejected 5"
        ok = CancelReport("a2", "Cancel 3 orders", orders=3)
        ok.counts[CancelState.CANCELLED] = 3
        window.bridge.cancel_settled.emit(ok)  # all well: nothing to tell
        assert notifier.policy.pending == 0


async def _next_message(signal: object) -> Message:
    fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def got(message: Message) -> None:
        if not fut.done():
            fut.set_result(message)

    signal.connect(got)  # type: ignore[attr-defined]
    try:
        return await fut
    finally:
        signal.disconnect(got)  # type: ignore[attr-defined]


# --- the simulator's market fills orders: the trader is told ---------------------------------------------


@pytest.fixture
def market() -> Iterator[SimThread]:
    """The simulator with one Spot account streaming over WS v2; its market activity only fills
    (and tops the book up), and starts when the test says."""
    exchange = Exchange(seed=3, rate_limits=False)
    exchange.add_account("spot", "spot")
    exchange.generate_orders("spot", 30, random.Random(3), symbols=SPOT_SYMBOLS, age_s=(600, 3600))
    thread = SimThread(exchange, activity_rate_per_s=0.0, activity_seed=3)
    thread.activity.expire_share = thread.activity.cancel_share = thread.activity.replace_share = 0.0
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@asynccontextmanager
async def streamed_window(sim: SimThread, tmp_path: Path) -> AsyncIterator[MainWindow]:
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=0.5)
    spec = AccountSpec(
        "spot",
        "Main spot",
        VenueKind.SPOT,
        endpoints=dict(sim.endpoints),
        stream_transport=Transport.WS_V2,
        cancel_transport=Transport.WS_V2,
    )
    creds = sim.call(sim.exchange.credentials)["spot"]
    desk.add_account(spec, build_venue(spec, Credentials(creds["key"], creds["secret"]), NonceSource()))
    w = open_window(desk)
    try:
        await wait_until(lambda: w.model.rowCount() == 30, what="30 orders listed")
        yield w
    finally:
        bridge = w.bridge
        if bridge.tasks:
            await asyncio.wait(bridge.tasks, timeout=5)
        await bridge.aclose()
        w.close()
        w.deleteLater()
        await desk.aclose()
        audit.close()


async def test_fills_from_the_market_raise_a_notification_and_flash_rows(
    market: SimThread, tmp_path: Path, qapp: QApplication
) -> None:
    async with streamed_window(market, tmp_path) as window:
        notifier = window.desktop.notifier
        flashed: list[int] = []
        window.model.dataChanged.connect(
            lambda a, b, roles: (
                flashed.append(b.row() - a.row() + 1) if Qt.ItemDataRole.BackgroundRole in roles else None
            )
        )
        raised = asyncio.ensure_future(_next_message(notifier.notified))
        market.call(market.activity.patch, {"rate_per_s": 25.0})
        try:
            message = await asyncio.wait_for(raised, 15)
        finally:
            market.call(market.activity.patch, {"rate_per_s": 0.0})
        fills = message.counts.get(NoticeKind.FILLED, 0) + message.counts.get(NoticeKind.PARTIALLY_FILLED, 0)
        assert fills == message.total >= 1, message
        assert "Main spot" in message.title or "Main spot" in message.body
        assert message.severity is Severity.INFO
        # The exchange's own record: the activity really filled orders of this account.
        truth = market.call(market.exchange.truth.report, "spot")["orders"]
        filled_by_market = [o for o in truth.values() if o.get("fills")]
        assert filled_by_market, "the market filled nothing"
        if message.counts.get(NoticeKind.PARTIALLY_FILLED):
            assert flashed, "a partly filled row should have flashed"


# --- the tray menu's kill switch ---------------------------------------------------------------------------


async def test_the_tray_menus_kill_switch_asks_then_cancels_everything(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.set_kill_hold(0.0)
        tray = window.desktop.tray
        assert tray.state is TrayState.LIVE
        states: list[TrayState] = []
        tray.state_changed.connect(states.append)
        window.hide()  # in a corner behind the charts: the tray brings it back
        menu_names = [a.objectName() for a in tray.menu.actions() if not a.isSeparator()]
        assert menu_names == [
            "tray_status",
            "tray_show",
            "tray_kill_switch",
            "tray_deadman",
            "tray_settings",
            "tray_quit",
        ]
        assert tray.status_action.text() == "All 2 accounts live" and not tray.status_action.isEnabled()
        tray.kill_action.trigger()
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        assert window.isVisible()
        assert dialog.headline.text() == "Kill switch: cancel ALL orders on 2 accounts?"
        assert sim_open_ids(sim, "spot") and sim_open_ids(sim, "spot2")  # nothing sent before confirming
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        await wait_until(
            lambda: window.bridge.desk.kill is not None and not window.bridge.desk.kill.running,
            what="the kill switch to end",
        )
        assert not sim_open_ids(sim, "spot") and not sim_open_ids(sim, "spot2")
        assert TrayState.KILLING in states and tray.state is TrayState.LIVE
        kill = window.bridge.desk.kill
        assert kill is not None and kill.state.cancelled == TOTAL


async def test_the_tray_menus_kill_switch_kept_when_the_trader_says_no(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        window.desktop.tray.kill_action.trigger()
        dialog = window.flow.dialog
        assert isinstance(dialog, ConfirmCancelDialog)
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        await asyncio.sleep(0.3)
        assert window.bridge.desk.kill is None
        assert len(sim_open_ids(sim, "spot")) == SPOT_ORDERS


async def test_the_tray_arms_the_dead_mans_switch_through_the_window(open_ui: OpenUI, sim: SimThread) -> None:
    async with open_ui() as window:
        tray = window.desktop.tray
        tray.deadman_action.trigger()
        assert window.commands.deadman.isChecked()
        await wait_until(lambda: window.bridge.desk.deadman.armed, what="armed")
        assert sim.call(sim.exchange.deadman_trigger_time, "spot") is not None
        tray.refresh()
        assert "Dead man's switch: armed" in tray.icon.toolTip()
        window.commands.deadman.setChecked(False)  # from the window: the tray follows
        assert not tray.deadman_action.isChecked()
        await wait_until(lambda: not window.bridge.desk.deadman.armed, what="disarmed")


async def test_settings_dialog_from_the_file_menu_applies_and_keeps(open_ui: OpenUI, qtbot: QtBot) -> None:
    async with open_ui() as window:
        desktop = window.desktop
        names = [a.objectName() for a in window.file_menu.actions()]
        assert names.index("desktop_settings") == names.index("accounts") + 1
        desktop.settings_action.trigger()
        dialog = desktop.dialog
        assert isinstance(dialog, DesktopSettingsDialog)
        assert not dialog.hotkey_box.isChecked() and not dialog.key_edit.isEnabled()  # off by default
        dialog.kind_boxes[NoticeKind.PARTIALLY_FILLED].setChecked(False)
        dialog.sound_box.setChecked(True)
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        await wait_until(lambda: desktop.dialog is None, what="the dialog to close")
        assert desktop.settings.notify_partially_filled is False and desktop.settings.sound is True
        assert desktop.notifier.policy.enabled[NoticeKind.PARTIALLY_FILLED] is False
        window.commands.reset_layout.trigger()  # the layout is reset, these settings are not
        assert DesktopSettings.load(window.layout_store) == desktop.settings

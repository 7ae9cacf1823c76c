"""The global panic hotkey under a real X server: another application has the focus, xdotool
presses the keys, and the console asks for the kill switch (or presses it, when told so).

The console's widgets stay offscreen; the hotkey listens on the X display (pynput's own X
connection), which is the one xdotool types into, with an ``xmessage`` window focused.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.sim.server import SimThread
from app.ui.desktop_dialog import DesktopSettingsDialog
from app.ui.dialogs import ConfirmCancelDialog
from app.ui.main_window import MainWindow
from tests.ui.helpers import SPOT2_ORDERS, SPOT_ORDERS, sim_open_ids, wait_until

pytestmark = pytest.mark.xvfb

OpenUI = Callable[[], AbstractAsyncContextManager[MainWindow]]
NEEDED = ("Xvfb", "xdotool", "xmessage")
HOTKEY = "Ctrl+Alt+Shift+K"


@pytest.fixture
def display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private Xvfb; DISPLAY points at it (for pynput), and no Wayland is claimed."""
    missing = [t for t in NEEDED if shutil.which(t) is None]
    if missing:
        if os.environ.get("KRAKEN_CANCEL_TEST_TMP"):
            pytest.fail(f"scripts/test.sh should have installed {missing} (scripts/setup.sh)")
        pytest.skip(f"needs {missing} (apt: xvfb xdotool x11-utils)")
    r, w = os.pipe()
    xvfb = subprocess.Popen(
        # No -noreset: the hotkey is the display's only client here (the console's widgets are
        # offscreen), so registering must not let the server reset under it (it did, once).
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as f:
        name = f":{f.readline().strip()}"
    monkeypatch.setenv("DISPLAY", name)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    try:
        yield name
    finally:
        xvfb.terminate()
        xvfb.wait(10)


async def xdo(display: str, *args: str) -> str:
    """Run xdotool on ``display`` without blocking the Qt loop."""

    def run() -> str:
        env = {**os.environ, "DISPLAY": display}
        done = subprocess.run(
            ["xdotool", *args], env=env, capture_output=True, text=True, timeout=20, check=True
        )
        return done.stdout.strip()

    return await asyncio.to_thread(run)


@asynccontextmanager
async def another_app_focused(display: str) -> AsyncIterator[str]:
    """An ``xmessage`` window on ``display`` with the X input focus; yields its window id."""
    env = {**os.environ, "DISPLAY": display}
    app = await asyncio.create_subprocess_exec(
        "xmessage",
        "-name",
        "charting-tool",
        "Another application",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wid = (await xdo(display, "search", "--sync", "--onlyvisible", "--name", "charting-tool")).split()[0]
        await xdo(display, "windowfocus", "--sync", wid)
        assert await xdo(display, "getwindowfocus") == wid
        yield wid
    finally:
        app.terminate()
        await asyncio.wait_for(app.wait(), 10)


async def press_hotkey(display: str, wid: str) -> None:
    """The trader's chord, typed while the other application has the focus."""
    assert await xdo(display, "getwindowfocus") == wid
    await xdo(display, "key", "--clearmodifiers", "ctrl+alt+shift+k")


async def test_the_hotkey_from_another_app_opens_the_kill_switch_confirmation(
    display: str, open_ui: OpenUI, sim: SimThread, qtbot: QtBot
) -> None:
    async with open_ui() as window:
        desktop = window.desktop
        assert not desktop.hotkey.status.registered  # off by default
        desktop.apply(replace(desktop.settings, hotkey_enabled=True, hotkey=HOTKEY))
        await wait_until(lambda: desktop.hotkey.status.registered, what="the hotkey to be registered")
        desktop.open_settings()
        dialog = desktop.dialog
        assert isinstance(dialog, DesktopSettingsDialog)
        assert dialog.status_label.text() == f"Registered: {HOTKEY}"
        dialog.reject()
        window.hide()  # behind the charting tool
        async with another_app_focused(display) as wid:
            await press_hotkey(display, wid)
            await wait_until(
                lambda: isinstance(window.flow.dialog, ConfirmCancelDialog),
                what="the kill switch's confirmation",
            )
        confirm = window.flow.dialog
        assert isinstance(confirm, ConfirmCancelDialog)
        assert confirm.headline.text() == "Kill switch: cancel ALL orders on 2 accounts?"
        assert window.isVisible()  # brought back for the trader
        assert len(sim_open_ids(sim, "spot")) == SPOT_ORDERS  # nothing sent before confirming
        qtbot.keyClick(confirm, Qt.Key.Key_Escape)
        assert window.bridge.desk.kill is None


async def test_the_hotkey_set_to_fire_at_once_empties_every_account(
    display: str, open_ui: OpenUI, sim: SimThread
) -> None:
    async with open_ui() as window:
        window.set_kill_hold(0.0)
        desktop = window.desktop
        desktop.apply(replace(desktop.settings, hotkey_enabled=True, hotkey=HOTKEY, hotkey_direct=True))
        await wait_until(lambda: desktop.hotkey.status.registered, what="the hotkey to be registered")
        async with another_app_focused(display) as wid:
            await press_hotkey(display, wid)
            await wait_until(lambda: window.bridge.desk.kill is not None, what="the kill switch pressed")
        assert window.flow.dialog is None  # no question asked: the trader chose so
        await wait_until(lambda: not window.bridge.desk.kill.running, what="the kill switch to end")  # type: ignore[union-attr]
        assert not sim_open_ids(sim, "spot") and not sim_open_ids(sim, "spot2")
        assert window.bridge.desk.kill.state.cancelled == SPOT_ORDERS + SPOT2_ORDERS  # type: ignore[union-attr]
        assert "global hotkey" in window.last_message() or "Kill switch done" in window.last_message()


async def test_unregistering_stops_listening(display: str, open_ui: OpenUI) -> None:
    async with open_ui() as window:
        desktop = window.desktop
        desktop.apply(replace(desktop.settings, hotkey_enabled=True, hotkey=HOTKEY))
        await wait_until(lambda: desktop.hotkey.status.registered, what="registered")
        desktop.apply(replace(desktop.settings, hotkey_enabled=False))
        assert desktop.hotkey.status.text == "off"
        async with another_app_focused(display) as wid:
            await press_hotkey(display, wid)
            await asyncio.sleep(0.5)
        assert window.flow.dialog is None

"""The window's side of key rights, the previous session's line in Activity, and the local socket."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.orders import VenueKind
from app.desk.keys import check_keys
from app.instance import request
from app.sim.server import SimThread
from app.ui.activity import ActivityColumn, NoteNode
from app.ui.dialogs import ConfirmCancelDialog
from app.ui.instance_server import InstanceServer
from app.ui.main_window import MainWindow
from app.ui.sidebar import LIST_ONLY_COLOR
from app.venues.nonces import NonceSource
from app.venues.spot.rest import SpotRestVenue
from tests.ui.helpers import SPOT_SYMBOLS, sim_open_ids, wait_until

OpenUi = Callable[[], AbstractAsyncContextManager[MainWindow]]


async def add_list_only_account(sim: SimThread, window: MainWindow) -> None:
    def make() -> dict[str, str]:
        acct = sim.exchange.add_account("ro", "spot", permissions=["query"])
        sim.exchange.generate_orders("ro", 3, random.Random(1), symbols=SPOT_SYMBOLS)
        return {"key": acct.api_key, "secret": acct.secret}

    keys = sim.call(make)
    url = sim.endpoints["spot_rest"]
    spec = AccountSpec(
        "ro", "Read only", VenueKind.SPOT, endpoints={"spot_rest": url}, stream_transport=Transport.REST
    )
    venue = SpotRestVenue("ro", url, Credentials(keys["key"], keys["secret"]), NonceSource())
    window.bridge.desk.add_account(spec, venue)
    await check_keys(window.bridge.desk)


async def test_a_list_only_key_is_amber_and_left_out_of_the_kill_switch(
    open_ui: OpenUi, sim: SimThread, qapp: QApplication
) -> None:
    async with open_ui() as window:
        await add_list_only_account(sim, window)
        item = window.sidebar._items["ro"]
        await wait_until(lambda: item.text(2).endswith("· list only"), what="the amber state")
        assert item.foreground(2).color() == LIST_ONLY_COLOR
        assert "can list but not cancel" in item.toolTip(0)
        assert window.sidebar._items["spot"].text(2) == "polling"
        opened: list[ConfirmCancelDialog] = []
        window.flow.confirmation_opened.connect(opened.append)
        window.commands.kill_switch.trigger()
        dialog = opened[0]
        details = dialog.details.text()
        assert "⚠ Left out: Read only: its key can list but not cancel." in details
        assert "Main spot" in details and "Second spot" in details
        dialog.accept()
        await wait_until(
            lambda: not sim_open_ids(sim, "spot") and not sim_open_ids(sim, "spot2"), what="cancels"
        )
        assert len(sim_open_ids(sim, "ro")) == 3  # never asked: its key cannot cancel


async def test_the_previous_session_line_goes_on_top_of_activity(open_ui: OpenUi, qapp: QApplication) -> None:
    async with open_ui() as window:
        model = window.bridge.activity_model
        text = "from the previous session: 2 settled (2 cancelled), 1 still unknown"
        model.add_note(text, time.time())
        assert isinstance(model.latest(), NoteNode)
        assert model.data(model.index(0, ActivityColumn.WHAT)) == text
        assert model.data(model.index(0, ActivityColumn.OUTCOME)) == ""
        assert model.data(model.index(0, ActivityColumn.TIME))


def ask(address: str, message: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(message, dict):
        return request(address, message, timeout_s=10)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(address)
        sock.sendall(message)
        answer: dict[str, Any] = json.loads(sock.makefile().readline())
        return answer


async def test_the_local_socket_brings_the_window_forward_and_hands_commands_to_the_desk(
    open_ui: OpenUi, tmp_path: Path, qapp: QApplication
) -> None:
    async with open_ui() as window:
        seen: list[dict[str, Any]] = []

        async def handler(req: dict[str, Any]) -> dict[str, Any]:
            seen.append(req)
            await asyncio.sleep(0)
            return {"ok": True, "exit": 0, "orders": len(window.bridge.desk.store)}

        address = str(tmp_path / "console.sock")
        server = InstanceServer(window, address, handler)
        assert server.listen()
        try:
            assert (await asyncio.to_thread(ask, address, {"cmd": "ping"}))["ok"]
            window.showMinimized()
            answer = await asyncio.to_thread(ask, address, {"cmd": "raise"})
            assert answer == {"ok": True, "message": "the console window was brought forward"}
            assert (
                not window.isMinimized()
                and "this window is the one running" in window.last_action.full_text()
            )
            answer = await asyncio.to_thread(ask, address, {"cmd": "list", "account": "spot"})
            assert answer["orders"] == len(window.bridge.desk.store) and seen[0]["account"] == "spot"
            bad = await asyncio.to_thread(ask, address, b"not json\n")
            assert bad == {"ok": False, "error": "the request is not a JSON object"}
            old = await asyncio.to_thread(ask, address, b'{"v": 99, "cmd": "kill"}\n')
            assert old["ok"] is False and "protocol version" in old["error"] and len(seen) == 1
        finally:
            server.close()

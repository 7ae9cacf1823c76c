"""The Accounts dialog (keys to the keychain only, checked after saving), and the bridge's task rules."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.core.accounts import AccountSpec, Credentials, KeyCheck, Transport
from app.core.errors import KeychainError, KeychainUnavailable
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.desk.instruments import InstrumentBook
from app.keychain import WHAT_TO_DO
from app.sim.server import SimThread
from app.ui.app import open_window
from app.ui.bridge import DeskBridge
from app.ui.dialogs import (
    RECOMMENDATION,
    AccountEditDialog,
    AccountsDialog,
    AccountsStore,
    describe_key_check,
    new_account_id,
)
from app.ui.main_window import MainWindow
from app.venues.nonces import NonceSource
from app.venues.registry import EndpointRole, endpoint
from app.venues.spot.rest import SpotRestVenue
from tests.ui.helpers import SPOT_ORDERS, wait_until

GOOD_SECRET = "A" * 86 + "=="  # base64 of 64 bytes, shaped like a Kraken secret


class SimAccountsStore:
    """The composition root's store, in memory: what the lead's keychain-backed one does, minus disk.

    ``check`` and ``connect`` build real Spot REST venues, so the dialog talks to the simulator.
    """

    def __init__(
        self, desk: Desk, *, save_error: KeychainError | None = None, keychain_problem: str | None = None
    ) -> None:
        self.desk = desk
        self.problem = keychain_problem
        self.specs: dict[str, AccountSpec] = {}
        self.creds: dict[str, Credentials] = {}
        self.saved: list[tuple[AccountSpec, bool]] = []  # (spec, key given)
        self.removed: list[str] = []
        self.checked: list[str] = []
        self.save_error = save_error
        self.nonces = NonceSource()

    def list(self) -> list[AccountSpec]:
        return list(self.specs.values())

    def keychain_problem(self) -> str | None:
        return self.problem

    def save(self, spec: AccountSpec, api_key: str | None, secret: str | None) -> None:
        if self.save_error is not None:
            raise self.save_error
        self.specs[spec.account_id] = spec
        if api_key is not None and secret is not None:
            self.creds[spec.account_id] = Credentials(api_key, secret)
        self.saved.append((spec, api_key is not None))

    def remove(self, account_id: str) -> None:
        self.specs.pop(account_id, None)
        self.creds.pop(account_id, None)
        self.removed.append(account_id)

    async def check(self, spec: AccountSpec, api_key: str, secret: str) -> KeyCheck:
        self.checked.append(spec.account_id)
        venue = SpotRestVenue(
            spec.account_id, endpoint(spec, EndpointRole.SPOT_REST), Credentials(api_key, secret), self.nonces
        )
        try:
            return await venue.check_key()
        finally:
            await venue.aclose()

    async def connect(self, spec: AccountSpec) -> None:
        if spec.account_id in self.desk.venues:
            await self.desk.remove_account(spec.account_id)
        c = self.creds[spec.account_id]
        self.desk.add_account(
            spec, SpotRestVenue(spec.account_id, endpoint(spec, EndpointRole.SPOT_REST), c, self.nonces)
        )


@asynccontextmanager
async def accounts_ui(
    tmp_path: Path, *, save_error: KeychainError | None = None
) -> AsyncIterator[tuple[MainWindow, SimAccountsStore]]:
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=0.5)
    store = SimAccountsStore(desk, save_error=save_error)
    assert isinstance(store, AccountsStore)
    # No market data: accounts here may have no endpoint, and tests never reach Kraken itself.
    window = open_window(desk, accounts_store=store, instruments=InstrumentBook(fetchers={}))
    try:
        yield window, store
    finally:
        if window.bridge.tasks:
            await asyncio.wait(window.bridge.tasks, timeout=5)
        await window.bridge.aclose()
        window.close()
        window.deleteLater()
        await desk.aclose()
        audit.close()


def open_accounts(window: MainWindow) -> AccountsDialog:
    window.commands.accounts.trigger()
    dialog = next(d for d in window._dialogs if isinstance(d, AccountsDialog))
    assert dialog.isVisible()
    return dialog


def fill_new_spot_account(
    dialog: AccountsDialog, qtbot: QtBot, *, key: str, secret: str, url: str
) -> AccountEditDialog:
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    editor = dialog._editor
    assert editor is not None and editor.isVisible()
    assert editor.secret_edit.echoMode() == editor.secret_edit.EchoMode.Password
    qtbot.keyClicks(editor.name_edit, "Desk spot")
    editor.key_edit.setText(key)
    editor.secret_edit.setText(secret)
    editor.stream_combo.setCurrentIndex(editor.stream_combo.findData(Transport.REST))
    editor.cancel_combo.setCurrentIndex(editor.cancel_combo.findData(Transport.REST))
    editor.endpoint_edits[EndpointRole.SPOT_REST].setText(url)
    return editor


async def test_adding_an_account_saves_checks_the_key_and_connects(
    sim: SimThread, tmp_path: Path, qtbot: QtBot, qapp: QApplication, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = sim.call(sim.exchange.credentials)["spot"]
    async with accounts_ui(tmp_path) as (window, store):
        dialog = open_accounts(window)
        editor = fill_new_spot_account(
            dialog, qtbot, key=creds["key"], secret=creds["secret"], url=sim.endpoints["spot_rest"]
        )
        qtbot.keyClick(editor.secret_edit, Qt.Key.Key_Return)  # Enter saves
        assert editor.secret_edit.text() == "" and editor.key_edit.text() == ""  # handed over once
        await wait_until(lambda: "Cancel orders: yes" in dialog.status.text(), what="the key check")
        (spec, key_given), *_ = store.saved
        assert key_given and spec.name == "Desk spot" and spec.account_id == "desk-spot"
        assert spec.endpoints == {"spot_rest": sim.endpoints["spot_rest"]}
        assert spec.stream_transport is Transport.REST
        assert "Query open orders: yes" in dialog.status.text()
        assert RECOMMENDATION in dialog.status.text()
        assert dialog.list.count() == 1
        await wait_until(lambda: window.model.rowCount() == SPOT_ORDERS, what="the new account's orders")
        assert window.sidebar.account_ids() == ["desk-spot"]
        dialog.reject()
    assert creds["secret"] not in caplog.text
    assert creds["secret"] not in repr(store.creds)


async def test_a_secret_that_is_not_kraken_base64_is_refused(
    tmp_path: Path, qtbot: QtBot, qapp: QApplication
) -> None:
    async with accounts_ui(tmp_path) as (window, store):
        dialog = open_accounts(window)
        editor = fill_new_spot_account(dialog, qtbot, key="k" * 56, secret="not base64!", url="")
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
        assert editor.isVisible()
        assert "not a Kraken secret" in editor.error_label.text()
        editor.secret_edit.setText("QUJD")  # base64, but 3 bytes, not 64
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
        assert editor.isVisible() and store.saved == []
        editor.secret_edit.setText(GOOD_SECRET)
        editor.endpoint_edits[EndpointRole.SPOT_REST].setText("ftp://example")
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
        assert "must start with http:// or https://" in editor.error_label.text()
        editor.reject()


async def test_no_keychain_is_said_plainly_and_nothing_is_saved(
    tmp_path: Path, qtbot: QtBot, qapp: QApplication
) -> None:
    error = KeychainUnavailable(f"No usable system keychain. {WHAT_TO_DO}")
    async with accounts_ui(tmp_path, save_error=error) as (window, store):
        dialog = open_accounts(window)
        editor = fill_new_spot_account(dialog, qtbot, key="k" * 56, secret=GOOD_SECRET, url="")
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: dialog.status.text().startswith("Not saved:"), what="the keychain error")
        assert "No usable system keychain" in dialog.status.text()
        assert "GNOME Keyring" in dialog.status.text()
        assert "#c0392b" in dialog.status.styleSheet()
        assert store.specs == {} and store.checked == [] and not window.bridge.desk.venues
        dialog.reject()


async def test_editing_without_a_new_key_keeps_the_stored_one(
    sim: SimThread, tmp_path: Path, qtbot: QtBot, qapp: QApplication
) -> None:
    creds = sim.call(sim.exchange.credentials)["spot"]
    async with accounts_ui(tmp_path) as (window, store):
        spec = AccountSpec(
            "main",
            "Main",
            VenueKind.SPOT,
            endpoints={"spot_rest": sim.endpoints["spot_rest"]},
            stream_transport=Transport.REST,
            cancel_transport=Transport.REST,
        )
        store.save(spec, creds["key"], creds["secret"])
        await store.connect(spec)
        dialog = open_accounts(window)
        dialog.list.setCurrentRow(0)
        qtbot.mouseClick(dialog.edit_button, Qt.MouseButton.LeftButton)
        editor = dialog._editor
        assert editor is not None
        assert not editor.venue_combo.isEnabled()
        editor.name_edit.setText("Main renamed")
        qtbot.mouseClick(editor.save_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: dialog.status.text() == "Saved Main renamed.", what="the save")
        assert store.saved[-1] == (dataclasses.replace(spec, name="Main renamed"), False)
        assert store.checked == []
        await wait_until(lambda: window.sidebar._items["main"].text(0) == "Main renamed", what="the new name")
        dialog.reject()


async def test_removing_an_account_asks_then_forgets_it_everywhere(
    sim: SimThread, tmp_path: Path, qtbot: QtBot, qapp: QApplication
) -> None:
    creds = sim.call(sim.exchange.credentials)["spot"]
    async with accounts_ui(tmp_path) as (window, store):
        spec = AccountSpec(
            "main", "Main", VenueKind.SPOT, endpoints={"spot_rest": sim.endpoints["spot_rest"]}
        )
        store.save(spec, creds["key"], creds["secret"])
        await store.connect(spec)
        await wait_until(lambda: window.model.rowCount() == SPOT_ORDERS, what="orders")
        dialog = open_accounts(window)
        dialog.list.setCurrentRow(0)
        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
        box = dialog._confirm
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).click()
        await wait_until(lambda: dialog.status.text() == "Removed Main.", what="the removal")
        assert store.removed == ["main"] and "main" not in window.bridge.desk.venues
        assert window.sidebar.account_ids() == [] and window.model.rowCount() == 0
        assert len(sim.call(sim.exchange.open_orders, "spot")) == SPOT_ORDERS  # left open on Kraken
        dialog.reject()


def test_accounts_menu_is_disabled_without_a_store(tmp_path: Path, qapp: QApplication) -> None:
    desk = Desk(AuditLog(tmp_path / "a.sqlite3"))
    window = MainWindow(DeskBridge(desk))
    assert not window.commands.accounts.isEnabled()
    assert "No accounts" not in window.last_message()  # demo: nothing to add
    window.deleteLater()
    desk.audit.close()


async def test_first_start_says_how_to_add_an_account_until_one_is_there(tmp_path: Path) -> None:
    async with accounts_ui(tmp_path) as (window, _store):
        assert "File > Accounts" in window.last_message()
        assert "--demo" in window.last_message()
        spec = AccountSpec("a1", "First", VenueKind.SPOT)
        window.bridge.desk.report_problem(spec, "no key stored")  # any account appearing
        assert "File > Accounts" not in window.last_message()


def test_key_check_text_and_account_ids() -> None:
    text = describe_key_check(KeyCheck(True, False, None, ("This key cannot cancel: give it X.",)))
    assert text.splitlines()[:3] == [
        "Query open orders: yes",
        "Cancel orders: no",
        "WebSocket access: could not tell",
    ]
    assert "give it X." in text and RECOMMENDATION in text
    assert new_account_id("My Spot #1", set()) == "my-spot-1"
    assert new_account_id("My Spot #1", {"my-spot-1", "my-spot-1-2"}) == "my-spot-1-3"
    assert new_account_id("***", set()) == "account"


# --- the bridge ------------------------------------------------------------------------------------


async def test_bridge_reports_a_failing_task_and_forgets_it(tmp_path: Path, qapp: QApplication) -> None:
    desk = Desk(AuditLog(tmp_path / "a.sqlite3"))
    bridge = DeskBridge(desk)
    failures: list[str] = []
    bridge.failed.connect(failures.append)

    async def boom() -> None:
        await asyncio.sleep(0)
        raise ValueError("the venue said no")

    task = bridge.run(boom(), "boom", what="testing")
    assert task in bridge.tasks and task.get_name() == "boom"
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert failures == ["testing failed: the venue said no"]
    assert not bridge.tasks
    await bridge.aclose()
    desk.audit.close()


async def test_dead_mans_switch_toggle_arms_and_disarms_on_the_exchange(
    sim: SimThread, tmp_path: Path, qapp: QApplication, qtbot: QtBot
) -> None:
    creds = sim.call(sim.exchange.credentials)["spot"]
    async with accounts_ui(tmp_path) as (window, store):
        spec = AccountSpec(
            "spot", "Main", VenueKind.SPOT, endpoints={"spot_rest": sim.endpoints["spot_rest"]}
        )
        store.save(spec, creds["key"], creds["secret"])
        await store.connect(spec)
        ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
        window.activateWindow()
        await wait_until(lambda: QApplication.activeWindow() is window, what="the window to be active")
        window.table.setFocus()
        qtbot.keyClick(window.table, Qt.Key.Key_D, ctrl_shift)  # the keyboard arms it
        await wait_until(
            lambda: sim.call(sim.exchange.deadman_trigger_time, "spot") is not None, what="arming"
        )
        await wait_until(lambda: "armed" in window.deadman_label.text(), what="the status")
        await wait_until(
            lambda: "Dead man's switch armed (60 s, re-sent every 20 s) on Main" in window.last_message(),
            what="the outcome of arming",
        )
        qtbot.keyClick(window.table, Qt.Key.Key_D, ctrl_shift)
        await wait_until(
            lambda: sim.call(sim.exchange.deadman_trigger_time, "spot") is None, what="disarming"
        )
        await wait_until(lambda: window.deadman_label.text() == "Dead man's switch: off", what="the status")


@pytest.mark.parametrize("venue", list(VenueKind))
def test_endpoint_urls_are_checked_by_their_own_scheme(qapp: QApplication, venue: VenueKind) -> None:
    # Found by hand: a ws:// URL in "WebSocket v2 URL" was refused as "must start with http://".
    dialog = AccountEditDialog()
    dialog.venue_combo.setCurrentIndex(list(VenueKind).index(venue))
    dialog.name_edit.setText("x")
    dialog.key_edit.setText("k")
    dialog.secret_edit.setText("QUJD" * 21 + "QQ==")  # 64 bytes of base64, any venue accepts it
    good = {
        role: ("ws://127.0.0.1:1/" if "ws" in role.value.split("_") else "http://127.0.0.1:1")
        for role in dialog.endpoint_edits
    }
    for role, url in good.items():
        dialog.endpoint_edits[role].setText(url)
    assert dialog.validate() is None
    for role, url in good.items():
        swapped = "http://127.0.0.1:1" if url.startswith("ws") else "ws://127.0.0.1:1"
        dialog.endpoint_edits[role].setText(swapped)
        assert role.value in (dialog.validate() or "")
        dialog.endpoint_edits[role].setText(url)
    dialog.deleteLater()


def test_tab_walks_the_fields_in_screen_order(qapp: QApplication) -> None:
    dialog = AccountEditDialog()
    order = [dialog.name_edit]
    while len(order) < 200 and order[-1].nextInFocusChain() is not dialog.name_edit:
        order.append(order[-1].nextInFocusChain())
    shown = [
        w
        for w in order
        if w in (dialog.key_edit, dialog.secret_edit, *dialog.endpoint_edits.values(), dialog.save_button)
    ]
    assert shown == [dialog.key_edit, dialog.secret_edit, *dialog.endpoint_edits.values(), dialog.save_button]
    dialog.deleteLater()


def test_order_count_is_right_after_removals(tmp_path: Path, qapp: QApplication) -> None:
    # Seen on a demo screenshot: "271 of 272 orders" with no filter, after an order left.
    from tests.ui.helpers import make_order

    desk = Desk(AuditLog(tmp_path / "a.sqlite3"))
    window = MainWindow(DeskBridge(desk))
    desk.store.upsert([make_order(i) for i in range(5)])
    assert window.count_label.text() == "5 orders"
    desk.store.remove([make_order(2).key])
    assert window.count_label.text() == "4 orders"
    window.filter_edit.setText("nothing matches this")
    assert window.count_label.text() == "0 of 4 orders"
    window.deleteLater()
    desk.audit.close()


# --- the keychain, checked as the dialog opens ------------------------------------------------------


async def test_the_keychain_is_checked_when_the_dialog_opens(
    tmp_path: Path, qtbot: QtBot, qapp: QApplication
) -> None:
    # The real store over a keychain whose backend keeps nothing (keyring's null backend).
    import keyring.backends.null

    from app.accounts import ConfiguredAccounts
    from app.config import ConfigFile
    from app.keychain import Keychain

    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit)
    store = ConfiguredAccounts(
        ConfigFile(tmp_path / "config.json"),
        Keychain(keyring.backends.null.Keyring()),
        NonceSource(),
        lambda: desk,
    )
    window = open_window(desk, accounts_store=store)
    try:
        dialog = open_accounts(window)
        await dialog.keychain_checked
        assert dialog.keychain_problem is not None and "keeps nothing" in dialog.keychain_problem
        assert not dialog.add_button.isEnabled()  # before a key was typed, not after
        assert dialog.status.text().startswith("Keys cannot be saved: No usable system keychain")
        assert "GNOME Keyring" in dialog.status.text() and "#c0392b" in dialog.status.styleSheet()
        dialog.reject()
    finally:
        await window.bridge.aclose()
        window.close()
        window.deleteLater()
        await desk.aclose()
        audit.close()


async def test_a_usable_keychain_leaves_add_enabled(tmp_path: Path, qapp: QApplication) -> None:
    async with accounts_ui(tmp_path) as (window, _store):
        dialog = open_accounts(window)
        assert await dialog.keychain_checked is None
        assert dialog.add_button.isEnabled() and dialog.status.text().startswith("No accounts yet")
        dialog.reject()


def test_key_check_names_rights_the_console_does_not_need() -> None:
    check = KeyCheck(True, True, True, (), can_trade=True, can_withdraw=None, can_query_funds=None)
    text = describe_key_check(check)
    assert "Place orders: yes" in text and "Withdraw funds: could not tell" in text
    assert "may also place orders, which this console never does" in text
    assert text.endswith(RECOMMENDATION)


async def test_enter_in_an_empty_accounts_dialog_adds_an_account(tmp_path: Path, qtbot: QtBot) -> None:
    async with accounts_ui(tmp_path) as (window, _store):
        dialog = open_accounts(window)
        assert dialog.add_button.isDefault()
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        editor = dialog._editor
        assert editor is not None and editor.isVisible()  # Enter added, it did not close
        assert dialog.isVisible()
        editor.reject()
        dialog.reject()

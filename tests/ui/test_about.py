"""Help > About and Help > Licences: opened from the menu, what they show, the bug-report text."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import PySide6
import pytest
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu, QPushButton
from pytestqt.qtbot import QtBot

from app import __version__
from app.licences import environment_components
from app.paths import Paths
from app.sim.server import SimThread
from app.ui.about import (
    CHECKING,
    AboutDialog,
    AboutFacts,
    LicencesDialog,
    keychain_backend_name,
    private,
)
from app.ui.main_window import MainWindow
from tests.ui.helpers import wait_until

OpenUI = Callable[[], AbstractAsyncContextManager[MainWindow]]
# What a key or secret looks like: a long run of base64 or hex characters (Kraken keys are 56
# base64 characters, secrets 88).
SECRET_LOOKING = re.compile(r"[A-Za-z0-9+/=]{32,}")


def help_action(window: MainWindow, name: str) -> QAction:
    """The Help menu's action called ``name``, found the way a user finds it: in the menu bar."""
    menus = [a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Help"]
    assert len(menus) == 1 and isinstance(menus[0], QMenu)
    actions = {a.objectName(): a for a in menus[0].actions()}
    assert name in actions, f"no {name!r} in the Help menu: {sorted(actions)}"
    return actions[name]


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder named after a user, with the console's folders in it (as on a real machine)."""
    home = tmp_path / "home-alice"
    (home / "kc" / "config").mkdir(parents=True)
    (home / "kc" / "data").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("KRAKEN_CANCEL_HOME", str(home / "kc"))
    return home


async def test_about_opens_from_the_help_menu_with_versions_and_the_keychain_backend(
    open_ui: OpenUI, user_home: Path
) -> None:
    async with open_ui() as window:
        help_action(window, "about").trigger()
        dialog = next(d for d in window._dialogs if isinstance(d, AboutDialog))
        assert dialog.isVisible()
        shown = {key: label.text() for key, label in dialog.value_labels.items()}
        assert shown["Kraken Cancel Console"].startswith(f"{__version__} (from source)")
        assert platform.python_version() in shown["Python"]
        assert shown["Qt"].startswith(qVersion())
        assert shown["PySide6"] == PySide6.__version__
        assert shown["Platform"] == platform.platform()
        await wait_until(lambda: dialog.keychain_backend != CHECKING, what="the keychain backend")
        assert dialog.keychain_backend == keychain_backend_name()
        assert dialog.keychain_backend.startswith("keyring.backends.")
        dialog.reject()


async def test_copy_for_a_bug_report_puts_plain_text_without_secrets_on_the_clipboard(
    open_ui: OpenUI, sim: SimThread, qtbot: QtBot, user_home: Path
) -> None:
    async with open_ui() as window:
        help_action(window, "about").trigger()
        dialog = next(d for d in window._dialogs if isinstance(d, AboutDialog))
        await wait_until(lambda: dialog.keychain_backend != CHECKING, what="the keychain backend")
        QGuiApplication.clipboard().clear()
        qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
        text = QGuiApplication.clipboard().text()
        assert text == dialog.report_text()
        dialog.reject()
    assert f"Kraken Cancel Console: {__version__}" in text
    assert f"Python: {platform.python_implementation()} {platform.python_version()}" in text
    assert f"PySide6: {PySide6.__version__}" in text
    assert f"Keychain backend: {keychain_backend_name()}" in text
    assert "Config folder: ~/kc/config" in text.replace("\\", "/")
    # The audit log the desk writes (the UI tests' desk keeps it in the test's folder).
    assert f"Audit log: {window.bridge.desk.audit.path}" in text
    assert re.search(r"^Libraries: .*\bhttpx \d", text, re.M)
    # Nothing that identifies the user or their accounts, nothing shaped like a key.
    assert str(user_home) not in text and "alice" not in text
    for name in ("Main spot", "Second spot", "spot2"):
        assert name not in text
    creds = sim.call(sim.exchange.credentials)
    for pair in creds.values():
        assert pair["key"] not in text and pair["secret"] not in text
    assert not SECRET_LOOKING.findall(text), SECRET_LOOKING.findall(text)
    assert "<" not in text  # plain text, not the labels' rich text


def test_open_folder_opens_the_folder_and_is_off_until_it_exists(qtbot: QtBot, tmp_path: Path) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "data")
    paths.data_dir.mkdir()
    opened: list[QUrl] = []
    dialog = AboutDialog(AboutFacts.gather(paths), open_url=lambda url: opened.append(url) or True)
    qtbot.addWidget(dialog)
    assert not dialog.open_buttons["Config folder"].isEnabled()  # not created yet
    qtbot.mouseClick(dialog.open_buttons["Audit log"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.open_buttons["Data folder"], Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(paths.data_dir))] * 2


def test_a_home_folder_is_shown_as_a_tilde(user_home: Path) -> None:
    assert private(user_home / "kc" / "data") == str(Path("~") / "kc" / "data")
    assert private(user_home) == "~"
    assert private(Path("/opt/kraken-cancel")) == str(Path("/opt/kraken-cancel"))
    assert private(str(user_home) + "-other/x") == str(user_home) + "-other/x"  # not a sub-folder


async def test_licences_open_from_the_help_menu_with_every_component_and_the_qt_note(
    open_ui: OpenUI,
) -> None:
    expected = environment_components()
    async with open_ui() as window:
        help_action(window, "licences").trigger()
        dialog = next(d for d in window._dialogs if isinstance(d, LicencesDialog))
        assert dialog.isVisible()
        rows = [dialog.list.item(r).text() for r in range(dialog.list.count())]
        assert len(rows) == len(expected)
        assert any(r.startswith("Python ") and "PSF-2.0" in r for r in rows)
        row = next(i for i, r in enumerate(rows) if r.startswith("PySide6_Essentials"))
        assert "LGPL-3.0" in rows[row]
        assert "replace" in dialog.qt_note.text() and "Qt libraries used here" in dialog.qt_note.text()
        dialog.list.setCurrentRow(row)
        text = dialog.text.toPlainText()
        assert "GNU LESSER GENERAL PUBLIC LICENSE" in text and "GNU GENERAL PUBLIC LICENSE" in text
        httpx = next(i for i, r in enumerate(rows) if r.startswith("httpx "))
        dialog.list.setCurrentRow(httpx)
        assert "Licence: BSD-3-Clause" in dialog.text.toPlainText()
        assert "THIS SOFTWARE IS PROVIDED" in dialog.text.toPlainText().upper()
        dialog.reject()


def test_licences_from_a_bundle_offer_its_notices_file(qtbot: QtBot, tmp_path: Path) -> None:
    notices = tmp_path / "THIRD-PARTY-NOTICES.txt"
    notices.write_text("notices")
    opened: list[QUrl] = []
    dialog = LicencesDialog(
        environment_components()[:2], notices, open_url=lambda url: opened.append(url) or True
    )
    qtbot.addWidget(dialog)
    open_file = dialog.findChild(QPushButton, "licences_open_file")
    assert open_file is not None
    qtbot.mouseClick(open_file, Qt.MouseButton.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(notices))]

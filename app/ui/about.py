"""Help > About (versions, keychain backend, folders, a bug-report text) and Help > Licences."""

# Both dialogs are shown with ``open()`` (no nested event loop, see dialogs.py). The keychain
# backend is looked up off the GUI thread (keyring may talk to D-Bus), as a task the bridge holds.
# What About reports comes from the modules the self-check uses too: app.paths for the folders,
# app.keychain for the backend, package metadata (app.licences) for the library versions. The
# self-check itself is an entry point above ui (pyproject's layers contract), so it is not imported.

from __future__ import annotations

import asyncio
import logging
import os
import platform
import sys
import textwrap
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PySide6
import shiboken6
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.keychain import Keychain
from app.licences import INVENTORY_FILE as _INVENTORY
from app.licences import Component, bundle_dir, dependency_closure, installed_components, load_inventory
from app.paths import Paths, default_paths
from app.ui.bridge import DeskBridge

log = logging.getLogger("app.ui.about")

APP_TITLE = "Kraken Cancel Console"
CHECKING = "checking…"
SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse

UrlOpener = Callable[[QUrl], bool]


def private(path: Path | str) -> str:
    """A path as shown in a bug report: the user's home folder as ``~`` (it often holds their name)."""
    text = str(path)
    home = str(Path.home()).rstrip("/\\")
    if len(home) > 1 and os.path.normcase(text + os.sep).startswith(os.path.normcase(home + os.sep)):
        return "~" + text[len(home) :]
    return text


def library_versions() -> list[tuple[str, str]]:
    """(name, version) of every Python package the console runs on: the bundle's, or the environment's."""
    bundle = bundle_dir()
    if bundle is not None:
        try:
            components = load_inventory((bundle / _INVENTORY).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning("no licence inventory in the bundle: %s", e)
            return []
        return [(c.name, c.version) for c in components if c.kind == "package"]
    return [(str(d.metadata["Name"]), str(d.metadata["Version"])) for d in dependency_closure()]


@dataclass(frozen=True)
class AboutFacts:
    """What Help > About shows. Nothing secret: no key, no account, the home folder as ``~``."""

    versions: list[tuple[str, str]]
    folders: list[tuple[str, Path, Path]]  # (label, path shown, folder "Open folder" opens)
    libraries: list[tuple[str, str]]

    @classmethod
    def gather(cls, paths: Paths | None = None, audit_log: Path | None = None) -> AboutFacts:
        """Read the versions, the platform and the folders of this run.

        Args:
            paths: the console's folders (default: this user's).
            audit_log: the audit log the desk writes (the demo has its own); default the user's.
        """
        paths = paths or default_paths()
        audit = audit_log if audit_log is not None else paths.audit_db
        frozen = bool(getattr(sys, "frozen", False))
        app = QGuiApplication.instance()
        qpa = QGuiApplication.platformName() if isinstance(app, QGuiApplication) else "none"
        versions = [
            (APP_TITLE, f"{__version__} ({'installed bundle' if frozen else 'from source'})"),
            ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
            ("Qt", f"{qVersion()} (platform plugin {qpa})"),
            ("PySide6", f"{PySide6.__version__}"),
            ("Platform", platform.platform()),
        ]
        folders = [
            ("Config folder", paths.config_dir, paths.config_dir),
            ("Data folder", paths.data_dir, paths.data_dir),
            ("Audit log", audit, audit.parent),
        ]
        return cls(versions, folders, library_versions())


def keychain_backend_name() -> str:
    """The keyring backend in use (blocking: keyring may ask D-Bus which keychains exist)."""
    try:
        return Keychain().backend_name()
    except Exception as e:  # keyring's discovery can fail in many ways; say so, do not crash
        return f"none could be loaded ({type(e).__name__})"


class AboutDialog(QDialog):
    """Help > About: versions, the keychain backend, the console's folders, a bug-report text.

    Rules kept: the text copied for a bug report is plain text without secrets (no key, no account
    name, the home folder as ``~``); the keychain backend is looked up off the GUI thread.
    """

    def __init__(
        self,
        facts: AboutFacts,
        parent: QWidget | None = None,
        *,
        open_url: UrlOpener = QDesktopServices.openUrl,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("about_dialog")
        self.setWindowTitle(f"About {APP_TITLE}")
        self.facts = facts
        self._open_url = open_url
        layout = QVBoxLayout(self)
        title = QLabel(f"<b>{APP_TITLE}</b> {__version__}")
        title.setObjectName("about_title")
        layout.addWidget(title)
        layout.addWidget(
            QLabel("See every open Kraken order (Spot, Futures, Prime) and cancel them fast and surely.")
        )

        grid = QGridLayout()
        self.value_labels: dict[str, QLabel] = {}
        rows = [*facts.versions, ("Keychain backend", CHECKING)]
        for row, (key, value) in enumerate(rows):
            grid.addWidget(QLabel(f"{key}:"), row, 0)
            label = QLabel(value)
            label.setObjectName(f"about_{key.lower().replace(' ', '_')}")
            label.setTextInteractionFlags(SELECTABLE)
            grid.addWidget(label, row, 1, 1, 2)
            self.value_labels[key] = label
        self.open_buttons: dict[str, QPushButton] = {}
        for i, (key, path, folder) in enumerate(facts.folders):
            row = len(rows) + i
            grid.addWidget(QLabel(f"{key}:"), row, 0)
            exists = path.exists()
            label = QLabel(f"{path}{'' if exists else '  (not created yet)'}")
            label.setTextInteractionFlags(SELECTABLE)
            grid.addWidget(label, row, 1)
            button = QPushButton("Open folder")
            button.setObjectName(f"open_{key.lower().replace(' ', '_')}")
            button.setEnabled(folder.is_dir())
            button.setToolTip(str(folder) if folder.is_dir() else "Created when the console first needs it")
            button.clicked.connect(lambda _checked=False, f=folder: self.open_folder(f))
            grid.addWidget(button, row, 2)
            self.open_buttons[key] = button
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy for a bug report")
        self.copy_button.setObjectName("about_copy")
        self.copy_button.setToolTip("Versions, platform and folders as plain text; no keys, no accounts")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_report)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.status = QLabel("")
        self.status.setObjectName("about_status")
        layout.addWidget(self.status)

    @property
    def keychain_backend(self) -> str:
        """The backend shown (``checking…`` until the look-up ends)."""
        return self.value_labels["Keychain backend"].text()

    def set_keychain_backend(self, name: str) -> None:
        """Show the keyring backend in use."""
        self.value_labels["Keychain backend"].setText(name)

    async def find_keychain_backend(self, lookup: Callable[[], str] = keychain_backend_name) -> str:
        """Look the backend up in a worker thread, then show it (if the dialog is still there)."""
        name = await asyncio.to_thread(lookup)
        if shiboken6.isValid(self):
            self.set_keychain_backend(name)
        return name

    def report_text(self) -> str:
        """The plain text "Copy for a bug report" puts on the clipboard."""
        lines = [f"{key}: {value}" for key, value in self.facts.versions]
        lines.append(f"Keychain backend: {self.keychain_backend}")
        lines += [f"{key}: {private(path)}" for key, path, _folder in self.facts.folders]
        if self.facts.libraries:
            lines.append("Libraries: " + ", ".join(f"{n} {v}" for n, v in self.facts.libraries))
        return "\n".join(lines) + "\n"

    def copy_report(self) -> None:
        """Put ``report_text()`` on the clipboard."""
        QGuiApplication.clipboard().setText(self.report_text())
        self.status.setText("Copied: paste it into your bug report.")

    def open_folder(self, folder: Path) -> None:
        """Open ``folder`` in the system's file manager."""
        if not self._open_url(QUrl.fromLocalFile(str(folder))):
            self.status.setText(f"Could not open {folder}")


def component_text(c: Component) -> str:
    """One component as the Licences dialog shows it: what, where, then its licence texts."""
    lines = [f"{c.name} {c.version}", f"Licence: {c.licence}"]
    if c.homepage:
        lines.append(f"Home page: {c.homepage}")
    if c.where:
        lines.append("In the bundle: " + "; ".join(c.where))
    if c.note:
        lines += ["", textwrap.fill(c.note, width=100, break_long_words=False, break_on_hyphens=False)]
    for title, text in c.texts:
        lines += ["", f"--- {title} ---", text.rstrip()]
    return "\n".join(lines) + "\n"


class LicencesDialog(QDialog):
    """Help > Licences: every third-party component with its licence and texts.

    Rules kept: installed, the list is the bundle's own inventory (what PyInstaller collected);
    from source, the project's dependency closure read from the environment.
    """

    def __init__(
        self,
        components: list[Component],
        notices_file: Path | None = None,
        parent: QWidget | None = None,
        *,
        open_url: UrlOpener = QDesktopServices.openUrl,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("licences_dialog")
        self.setWindowTitle("Licences")
        self.components = components
        self._open_url = open_url
        layout = QVBoxLayout(self)
        source = (
            f"the notices installed with the console ({notices_file})"
            if notices_file is not None
            else "this environment's package metadata (running from source)"
        )
        intro = QLabel(
            f"{APP_TITLE} is built on {len(components)} third-party components, each under its own "
            f"licence. Listed from {source}."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        qt = next((c for c in components if c.key == "pyside6-essentials"), None)
        if qt is not None and qt.note:
            self.qt_note = QLabel(qt.note)
            self.qt_note.setObjectName("licences_qt_note")
            self.qt_note.setWordWrap(True)
            self.qt_note.setTextInteractionFlags(SELECTABLE)
            layout.addWidget(self.qt_note)

        split = QSplitter()
        self.list = QListWidget()
        self.list.setObjectName("licences_list")
        for c in components:
            item = QListWidgetItem(f"{c.name} {c.version} — {c.licence}")
            item.setToolTip(c.licence)
            self.list.addItem(item)
        self.text = QPlainTextEdit()
        self.text.setObjectName("licences_text")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        split.addWidget(self.list)
        split.addWidget(self.text)
        split.setSizes([330, 570])
        layout.addWidget(split, 1)
        self.list.currentRowChanged.connect(self._show)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        if notices_file is not None:
            open_file = QPushButton("Open the notices file")
            open_file.setObjectName("licences_open_file")
            buttons.addButton(open_file, QDialogButtonBox.ButtonRole.ActionRole)
            open_file.clicked.connect(lambda: self._open_url(QUrl.fromLocalFile(str(notices_file))))
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(buttons)
        layout.addLayout(row)
        self.resize(960, 640)
        if components:
            self.list.setCurrentRow(0)

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.components):
            self.text.setPlainText(component_text(self.components[row]))


class HelpActions:
    """Help > Licences and Help > About, added to the window's Help menu.

    Args:
        window: the main window (parent of the dialogs; the actions are added to it).
        menu: the Help menu.
        bridge: runs the keychain look-up as a task it holds; its desk names the audit log in use.
        keep: keeps a dialog alive until it finishes (the window's ``_keep_dialog``).
    """

    def __init__(
        self,
        window: QWidget,
        menu: QMenu,
        bridge: DeskBridge,
        keep: Callable[[QDialog], None],
    ) -> None:
        self._window = window
        self._bridge = bridge
        self._keep = keep
        self.licences = QAction("Licences…", window)
        self.licences.setObjectName("licences")
        self.licences.setStatusTip("Third-party licences and notices")
        self.about = QAction(f"About {APP_TITLE}", window)
        self.about.setObjectName("about")
        self.about.setStatusTip("Versions, keychain, folders; copy them for a bug report")
        # macOS puts it in the application menu, where Mac users look for it.
        self.about.setMenuRole(QAction.MenuRole.AboutRole)
        menu.addSeparator()
        menu.addAction(self.licences)
        menu.addAction(self.about)
        self.licences.triggered.connect(self.open_licences)
        self.about.triggered.connect(self.open_about)

    def open_about(self) -> AboutDialog:
        """Help > About (the keychain backend fills in when its look-up ends)."""
        audit = self._bridge.desk.audit.path
        facts = AboutFacts.gather(audit_log=audit if str(audit) != ":memory:" else None)
        dialog = AboutDialog(facts, self._window)
        self._keep(dialog)
        dialog.open()
        coro: Coroutine[Any, Any, str] = dialog.find_keychain_backend()
        self._bridge.run(coro, "about-keychain-backend", what="Reading the keychain backend")
        return dialog

    def open_licences(self) -> LicencesDialog:
        """Help > Licences."""
        components, notices = installed_components()
        dialog = LicencesDialog(components, notices, self._window)
        self._keep(dialog)
        dialog.open()
        return dialog

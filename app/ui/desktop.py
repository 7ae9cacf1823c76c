"""The console on the desktop beyond its window: tray icon, notifications and the global panic hotkey."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from app.ui.desktop_dialog import DesktopSettingsDialog
from app.ui.hotkey import GlobalHotkey, HotkeyStatus
from app.ui.notify import DesktopSettings, Notifier
from app.ui.notify_policy import Message, Severity
from app.ui.tray import ConsoleTray

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

log = logging.getLogger("app.ui.desktop")


class DesktopIntegration(QObject):
    """Builds and keeps the tray icon, the notifier and the hotkey of one window.

    Parts: ``settings`` (``DesktopSettings``, kept in the window's layout store), ``tray``
    (``ConsoleTray``), ``notifier`` (``Notifier``), ``hotkey`` (``GlobalHotkey``),
    ``settings_action`` (File > Notifications and hotkey…), ``dialog`` (the open settings dialog).

    Rules kept: the hotkey goes through the same paths as the window's own keys (the kill
    switch's confirmation, or ``bridge.kill_switch`` with the window's hold when the trader chose
    no confirmation); settings survive View > Reset layout; closing the window stops the hotkey's
    listener and takes the icon out of the tray.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._store = window.layout_store
        self.settings = DesktopSettings.load(self._store)
        self.tray = ConsoleTray(window)
        self.notifier = Notifier(window.bridge, self.settings, self.tray, parent=self)
        self.hotkey = GlobalHotkey(self)
        self.hotkey.activated.connect(self.panic)
        self.hotkey.status_changed.connect(self._hotkey_status)
        self.dialog: DesktopSettingsDialog | None = None
        self.settings_action = QAction("Notifications and hotkey…", window)
        self.settings_action.setObjectName("desktop_settings")
        self.settings_action.setStatusTip(
            "Which events raise a desktop notification; the global panic hotkey"
        )
        self.settings_action.triggered.connect(self.open_settings)
        self.tray.settings_action.triggered.connect(self.open_settings)
        # File: Accounts…, Notifications and hotkey…, then Quit below its separator.
        menu = window.file_menu
        actions = menu.actions()
        quit_at = actions.index(window.commands.quit) if window.commands.quit in actions else len(actions)
        before = actions[quit_at - 1] if quit_at > 0 and actions[quit_at - 1].isSeparator() else None
        menu.insertAction(before or window.commands.quit, self.settings_action)
        # Runs after the window's own reset (connected earlier): the layout is cleared, these stay.
        window.commands.reset_layout.triggered.connect(lambda: self.settings.save(self._store))
        window.closed.connect(self.close)
        self.tray.show()
        if self.settings.hotkey_enabled:
            self.hotkey.register(self.settings.hotkey)

    # --- the hotkey -------------------------------------------------------------------------------

    def panic(self) -> None:
        """The global hotkey: the kill switch's confirmation, or the kill switch itself."""
        w = self._window
        if not self.settings.hotkey_direct:
            self.tray.kill_switch()
            return
        accounts = w.bridge.desk.cancel_account_ids()
        self.tray.show_window()
        if not accounts:
            w.show_message("Global hotkey: no account that can cancel is connected.", error=True)
            return
        w.bridge.kill_switch(w.flow.kill_hold_s)
        w.show_message(f"Kill switch pressed with the global hotkey ({self.settings.hotkey}).")
        self.tray.show_message(
            Message(
                "Kill switch pressed", f"With the global hotkey {self.settings.hotkey}.", Severity.WARNING
            ),
            4000,
        )

    def _hotkey_status(self, status: HotkeyStatus) -> None:
        if (
            self.settings.hotkey_enabled
            and not status.registered
            and status.text.startswith("not registered")
        ):
            self._window.show_message(f"Global hotkey {self.settings.hotkey} {status.text}.", error=True)

    # --- settings ---------------------------------------------------------------------------------

    def open_settings(self) -> None:
        """File > Notifications and hotkey… (non-blocking; one at a time)."""
        if self.dialog is not None:
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        dialog = DesktopSettingsDialog(self.settings, self.hotkey, self._window)
        self.dialog = dialog

        def finished(result: int) -> None:
            self.dialog = None
            if result == DesktopSettingsDialog.DialogCode.Accepted:
                self.apply(dialog.chosen)
            dialog.deleteLater()

        dialog.finished.connect(finished)
        dialog.open()

    def apply(self, settings: DesktopSettings) -> None:
        """Use and keep new settings; the hotkey is registered again when it changed."""
        old = self.settings
        self.settings = settings
        settings.save(self._store)
        self.notifier.apply(settings)
        if not settings.hotkey_enabled:
            if old.hotkey_enabled:
                self.hotkey.unregister()
        elif not old.hotkey_enabled or settings.hotkey != old.hotkey or not self.hotkey.status.registered:
            self.hotkey.register(settings.hotkey)

    def close(self) -> None:
        """The window closed: stop listening for the hotkey, take the icon out of the tray."""
        self.hotkey.unregister()
        self.tray.hide()

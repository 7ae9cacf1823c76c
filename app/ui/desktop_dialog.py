"""File > Notifications and hotkey: which events raise a desktop notification, and the global panic key."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.ui import theme
from app.ui.hotkey import GlobalHotkey, HotkeyError, HotkeyStatus, to_pynput
from app.ui.notify import DEFAULT_HOTKEY, DesktopSettings
from app.ui.notify_policy import NoticeKind


class DesktopSettingsDialog(QDialog):
    """The settings, edited on a copy: OK applies them (``chosen``), Esc or Cancel drops them.

    Keyboard: every control has a mnemonic (Alt+letter); Tab goes top to bottom; Enter is OK.
    The hotkey's line says live whether it is registered (the window's ``GlobalHotkey``).
    """

    def __init__(
        self, settings: DesktopSettings, hotkey: GlobalHotkey, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("desktop_settings_dialog")
        self.setWindowTitle("Notifications and hotkey")
        self.chosen = replace(settings)
        self._hotkey = hotkey
        layout = QVBoxLayout(self)

        notes = QGroupBox("Desktop notifications")
        nl = QVBoxLayout(notes)
        self.kind_boxes: dict[NoticeKind, QCheckBox] = {}
        texts = {
            NoticeKind.FILLED: "Orders &filled",
            NoticeKind.PARTIALLY_FILLED: "Orders &partly filled",
            NoticeKind.CANCELLED_ELSEWHERE: "Orders cancelled or expired &outside the console",
            NoticeKind.PROBLEM: "Cancels that end failed, &rejected or unknown",
        }
        enabled = settings.enabled()
        for kind, text in texts.items():
            box = QCheckBox(text)
            box.setObjectName(f"notify_{kind.name.lower()}")
            box.setChecked(enabled[kind])
            nl.addWidget(box)
            self.kind_boxes[kind] = box
        self.sound_box = QCheckBox("Play a &sound")
        self.sound_box.setObjectName("notify_sound")
        self.sound_box.setChecked(settings.sound)
        self.flash_box = QCheckBox("F&lash the order's row in the table")
        self.flash_box.setObjectName("notify_flash")
        self.flash_box.setChecked(settings.flash_rows)
        nl.addWidget(self.sound_box)
        nl.addWidget(self.flash_box)
        hint = QLabel("Many at once are summed up in one message (e.g. “200 orders filled on Main spot”).")
        hint.setWordWrap(True)
        hint.setStyleSheet(theme.text_style("dim"))
        nl.addWidget(hint)
        layout.addWidget(notes)

        keys = QGroupBox("Global panic hotkey")
        kl = QFormLayout(keys)
        self.hotkey_box = QCheckBox("Listen for a &hotkey while other applications have the focus")
        self.hotkey_box.setObjectName("hotkey_enabled")
        self.hotkey_box.setChecked(settings.hotkey_enabled)
        kl.addRow(self.hotkey_box)
        row = QHBoxLayout()
        self.key_edit = QKeySequenceEdit(QKeySequence(settings.hotkey or DEFAULT_HOTKEY))
        self.key_edit.setObjectName("hotkey_keys")
        self.key_edit.setMaximumSequenceLength(1)
        self.key_edit.setClearButtonEnabled(True)
        row.addWidget(self.key_edit, 1)
        default = QPushButton("&Default")
        default.setToolTip(f"Use {DEFAULT_HOTKEY}")
        default.clicked.connect(lambda: self.key_edit.setKeySequence(QKeySequence(DEFAULT_HOTKEY)))
        row.addWidget(default)
        key_label = QLabel("&Keys:")
        key_label.setBuddy(self.key_edit)
        kl.addRow(key_label, row)
        self.ask_radio = QRadioButton("&Asks first: opens the kill switch's confirmation (Enter confirms)")
        self.ask_radio.setObjectName("hotkey_asks")
        self.direct_radio = QRadioButton("Presses the kill switch at once, &without asking")
        self.direct_radio.setObjectName("hotkey_direct")
        (self.direct_radio if settings.hotkey_direct else self.ask_radio).setChecked(True)
        kl.addRow(self.ask_radio)
        kl.addRow(self.direct_radio)
        self.status_label = QLabel()
        self.status_label.setObjectName("hotkey_status")
        self.status_label.setWordWrap(True)
        kl.addRow("Status:", self.status_label)
        self.key_error = QLabel()
        self.key_error.setObjectName("hotkey_error")
        self.key_error.setWordWrap(True)
        self.key_error.setStyleSheet(theme.text_style("failed"))
        self.key_error.hide()
        kl.addRow(self.key_error)
        wayland = QLabel(
            "Under Wayland no application may hear keys meant for another: the hotkey cannot be "
            "registered there. Bind “kraken-cancel kill” in the desktop's own keyboard settings instead."
        )
        wayland.setWordWrap(True)
        wayland.setStyleSheet(theme.text_style("dim"))
        kl.addRow(wayland)
        layout.addWidget(keys)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.hotkey_box.toggled.connect(self._enable_keys)
        self.key_edit.keySequenceChanged.connect(lambda _seq: self._check_keys())
        hotkey.status_changed.connect(self._show_status)
        self._enable_keys(settings.hotkey_enabled)
        self._show_status(hotkey.status)
        self._check_keys()

    def keys_text(self) -> str:
        """The combination typed, in Qt's portable words (``Ctrl+Alt+Shift+K``)."""
        return self.key_edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)

    def _enable_keys(self, on: bool) -> None:
        for w in (self.key_edit, self.ask_radio, self.direct_radio):
            w.setEnabled(on)
        self._check_keys()

    def _check_keys(self) -> bool:
        problem = ""
        if self.hotkey_box.isChecked():
            try:
                to_pynput(self.keys_text())
            except HotkeyError as e:
                problem = str(e)
        self.key_error.setText(problem)
        self.key_error.setVisible(bool(problem))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setEnabled(not problem)
        return not problem

    def _show_status(self, status: HotkeyStatus) -> None:
        text = status.text[:1].upper() + status.text[1:]
        self.status_label.setText(text)
        color = "good" if status.registered else ("failed" if "not registered" in status.text else "dim")
        self.status_label.setStyleSheet(theme.text_style(color))

    def _accept(self) -> None:
        if not self._check_keys():
            return
        boxes = self.kind_boxes
        self.chosen = replace(
            self.chosen,
            notify_filled=boxes[NoticeKind.FILLED].isChecked(),
            notify_partially_filled=boxes[NoticeKind.PARTIALLY_FILLED].isChecked(),
            notify_cancelled_elsewhere=boxes[NoticeKind.CANCELLED_ELSEWHERE].isChecked(),
            notify_problem=boxes[NoticeKind.PROBLEM].isChecked(),
            sound=self.sound_box.isChecked(),
            flash_rows=self.flash_box.isChecked(),
            hotkey_enabled=self.hotkey_box.isChecked(),
            hotkey=self.keys_text() or self.chosen.hotkey,
            hotkey_direct=self.direct_radio.isChecked(),
        )
        self.accept()

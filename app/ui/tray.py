"""The tray icon: the console's state at a glance, and the panic menu (kill switch, dead man's switch)."""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.core.accounts import LinkState
from app.desk.desk import AccountStatus
from app.desk.killswitch import KillPhase, KillState
from app.ui.notify_policy import MAX_LINES, Message, NoticeKind, Severity, counts_title

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

log = logging.getLogger("app.ui.tray")

ICON_SIZES = (16, 22, 24, 32, 48, 64)
MESSAGE_AFTER_MENU_MS = 6000


class TrayState(enum.Enum):
    """What the icon shows, most urgent first."""

    KILLING = "kill switch running"
    DOWN = "some accounts down"
    CONNECTING = "connecting"
    LIVE = "all live"
    EMPTY = "no account"


# The console's own purple square with its white cross; a dot in the corner says the state,
# the whole square turns red while the kill switch runs (readable at 16 px, colour or not).
_BODY = {TrayState.KILLING: "#c62828"}
_DOT = {
    TrayState.DOWN: "#e53935",
    TrayState.CONNECTING: "#f2a33a",
    TrayState.LIVE: "#2eb85c",
    TrayState.EMPTY: "#9aa3ad",
}
_PURPLE = "#6b4bd8"


def paint_icon(state: TrayState) -> QIcon:
    """The tray icon for ``state``, painted at the sizes trays ask for."""
    icon = QIcon()
    for size in ICON_SIZES:
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        s = float(size)
        body = QPainterPath()
        body.addRoundedRect(QRectF(s * 0.04, s * 0.04, s * 0.92, s * 0.92), s * 0.22, s * 0.22)
        p.fillPath(body, QColor(_BODY.get(state, _PURPLE)))
        pen = QPen(QColor("#ffffff"), max(2.0, s * 0.13))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        a, b = s * 0.3, s * 0.7
        p.drawLine(int(a), int(a), int(b), int(b))
        p.drawLine(int(b), int(a), int(a), int(b))
        dot = _DOT.get(state)
        if dot is not None:
            d = s * 0.46
            p.setPen(QPen(QColor("#ffffff"), max(1.0, s * 0.06)))
            p.setBrush(QColor(dot))
            p.drawEllipse(QRectF(s - d - s * 0.01, s - d - s * 0.01, d, d))
        p.end()
        icon.addPixmap(pm)
    return icon


def tray_state(statuses: list[AccountStatus], kill: KillState | None) -> TrayState:
    """The icon's state from the accounts and the kill switch."""
    if kill is not None and kill.phase not in (KillPhase.DONE, KillPhase.STOPPED):
        return TrayState.KILLING
    if not statuses:
        return TrayState.EMPTY
    links = {s.link for s in statuses}
    if LinkState.DOWN in links:
        return TrayState.DOWN
    if links & {LinkState.CONNECTING, LinkState.RECONNECTING}:
        return TrayState.CONNECTING
    return TrayState.LIVE


def tray_tooltip(
    statuses: list[AccountStatus], kill: KillState | None, deadman_armed: bool, mode: str | None = None
) -> str:
    """The tooltip: what the icon means, in words (one line each)."""
    head = "Kraken Cancel Console" + (f" — {mode.upper()}" if mode else "")
    lines = [head]
    state = tray_state(statuses, kill)
    if state is TrayState.KILLING and kill is not None:
        lines.append(f"KILL SWITCH running: {kill.summary()}")
    n = len(statuses)
    up = sum(1 for s in statuses if s.link in (LinkState.LIVE, LinkState.POLLING))
    if n == 0:
        lines.append("No account connected")
    elif up == n:
        lines.append(f"All {n} account{'s' if n != 1 else ''} live" if n > 1 else "The account is live")
    else:
        lines.append(f"{up} of {n} accounts live")
        lines.extend(
            f"{s.name}: {s.link.value}" for s in statuses if s.link not in (LinkState.LIVE, LinkState.POLLING)
        )
    lines.append("Dead man's switch: armed" if deadman_armed else "Dead man's switch: off")
    return "\n".join(lines)


_ICONS = {
    Severity.INFO: QSystemTrayIcon.MessageIcon.Information,
    Severity.WARNING: QSystemTrayIcon.MessageIcon.Warning,
    Severity.CRITICAL: QSystemTrayIcon.MessageIcon.Critical,
}


class ConsoleTray(QObject):
    """The tray icon of one window, and its menu.

    Signals:
        state_changed(object): the icon's ``TrayState`` changed.

    Menu: Show/Hide the window, Kill switch… (the window's own confirmation), the dead man's
    switch (checkable, the same command as the window's), Notifications and hotkey…, Quit (the
    window's quit guard asks when the dead man's switch is armed). A click on the icon shows or
    hides the window.

    Rules kept: the icon and tooltip follow the bridge's events (accounts, kill switch, dead
    man's switch), never a timer; without a system tray (``available`` False) the menu and
    actions still exist, nothing is shown, and messages are only logged.
    """

    state_changed = Signal(object)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._kill: KillState | None = None
        self._icons = {s: paint_icon(s) for s in TrayState}
        self.icon = QSystemTrayIcon(self)
        self.icon.setObjectName("tray_icon")
        self.state = TrayState.EMPTY
        self.icon.setIcon(self._icons[self.state])
        menu = self.menu = QMenu(window)
        menu.setObjectName("tray_menu")
        self.status_action = QAction("", menu)  # the state in words, at the top (not a command)
        self.status_action.setObjectName("tray_status")
        self.status_action.setEnabled(False)
        menu.addAction(self.status_action)
        menu.addSeparator()
        self.show_action = QAction("Hide window", menu)
        self.show_action.setObjectName("tray_show")
        self.show_action.triggered.connect(self.toggle_window)
        menu.addAction(self.show_action)
        menu.addSeparator()
        self.kill_action = QAction("Kill switch: cancel everything…", menu)
        self.kill_action.setObjectName("tray_kill_switch")
        self.kill_action.setToolTip("Cancel all orders on every account (asks first)")
        self.kill_action.triggered.connect(self.kill_switch)
        menu.addAction(self.kill_action)
        self.deadman_action = QAction("Dead man's switch armed", menu)
        self.deadman_action.setObjectName("tray_deadman")
        self.deadman_action.setCheckable(True)
        self.deadman_action.toggled.connect(self._deadman_toggled)
        menu.addAction(self.deadman_action)
        menu.addSeparator()
        self.settings_action = QAction("Notifications and hotkey…", menu)
        self.settings_action.setObjectName("tray_settings")
        menu.addAction(self.settings_action)
        menu.addSeparator()
        self.quit_action = QAction("Quit", menu)
        self.quit_action.setObjectName("tray_quit")
        self.quit_action.triggered.connect(self.quit)
        menu.addAction(self.quit_action)
        menu.aboutToShow.connect(self._menu_showing)
        menu.aboutToHide.connect(self._menu_hidden)
        self._held: list[Message] = []  # messages that came while the menu was open
        self.icon.setContextMenu(menu)
        self.icon.activated.connect(self._activated)
        b = window.bridge
        b.account_changed.connect(self.refresh)
        b.account_removed.connect(self.refresh)
        b.kill_changed.connect(self._kill_changed)
        b.deadman_changed.connect(self.refresh)
        window.commands.deadman.toggled.connect(self._window_deadman)
        self.refresh()

    @property
    def available(self) -> bool:
        """True when the desktop has a system tray to show the icon in."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        """Put the icon in the tray (when there is one)."""
        if self.available:
            self.icon.show()
        else:
            log.info("no system tray on this desktop: the tray icon and its messages are not shown")

    def hide(self) -> None:
        """Take the icon out of the tray."""
        self.icon.hide()

    # --- state ---------------------------------------------------------------------------------

    def _kill_changed(self, state: KillState) -> None:
        self._kill = state
        self.refresh()

    def refresh(self, *_args: object) -> None:
        """Recompute the icon and tooltip from the desk."""
        desk = self._window.bridge.desk
        statuses = list(desk.status.values())
        kill = self._kill
        if kill is None and desk.kill is not None and desk.kill.running:
            kill = desk.kill.state
        state = tray_state(statuses, kill)
        if state is not self.state:
            self.state = state
            self.icon.setIcon(self._icons[state])
            self.state_changed.emit(state)
        tip = tray_tooltip(statuses, kill, desk.deadman.armed, self._window.mode)
        if self.icon.toolTip() != tip:
            self.icon.setToolTip(tip)
            self.status_action.setText(tip.splitlines()[1])
        armed = self._window.commands.deadman.isChecked()
        if self.deadman_action.isChecked() != armed:
            self.deadman_action.blockSignals(True)
            self.deadman_action.setChecked(armed)
            self.deadman_action.blockSignals(False)

    def _window_deadman(self, checked: bool) -> None:
        if self.deadman_action.isChecked() != checked:
            self.deadman_action.blockSignals(True)
            self.deadman_action.setChecked(checked)
            self.deadman_action.blockSignals(False)

    def _menu_showing(self) -> None:
        self.show_action.setText("Hide window" if self._window.isVisible() else "Show window")
        self.refresh()

    def _menu_hidden(self) -> None:
        held, self._held = self._held, []
        if held:
            self._show_now(merge(held), MESSAGE_AFTER_MENU_MS)

    # --- commands -------------------------------------------------------------------------------

    def show_window(self) -> None:
        """Bring the window up, in front, with the focus."""
        w = self._window
        if w.isMinimized():
            w.showNormal()
        else:
            w.show()
        w.raise_()
        w.activateWindow()

    def toggle_window(self) -> None:
        """Show the window, or hide it when it is shown."""
        if self._window.isVisible() and not self._window.isMinimized():
            self._window.hide()
        else:
            self.show_window()

    def kill_switch(self) -> None:
        """The kill switch, through the window's own confirmation (the window comes up first)."""
        self.show_window()
        self._window.flow.kill_switch()
        dialog = self._window.flow.dialog
        if dialog is not None:
            dialog.raise_()
            dialog.activateWindow()

    def _deadman_toggled(self, checked: bool) -> None:
        # The window's command does the work (and its status line says what happened).
        action = self._window.commands.deadman
        if action.isChecked() != checked:
            action.setChecked(checked)

    def quit(self) -> None:
        """Quit through the window's guard (it asks when the dead man's switch is armed)."""
        self.show_window()
        self._window.close()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason is QSystemTrayIcon.ActivationReason.Trigger:
            self.toggle_window()

    # --- messages ---------------------------------------------------------------------------------

    def show_message(self, message: Message, ms: int) -> bool:
        """A desktop notification from the icon; False (nothing shown) without a tray."""
        if not (self.available and self.icon.isVisible()):
            return False
        if self.menu.isVisible():  # a balloon would cover the menu the trader is reading
            self._held.append(message)
            return True
        self._show_now(message, ms)
        return True

    def _show_now(self, message: Message, ms: int) -> None:
        self.icon.showMessage(message.title, message.body, _ICONS[message.severity], ms)


def merge(messages: list[Message]) -> Message:
    """One message for several held back: a title for all of them, their lines (at most ``MAX_LINES``)."""
    if len(messages) == 1:
        return messages[0]
    counts: dict[NoticeKind, int] = {}
    for m in messages:
        for kind, n in m.counts.items():
            counts[kind] = counts.get(kind, 0) + n
    lines = [line for m in messages for line in m.body.splitlines()]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"…and {len(lines) - (MAX_LINES - 1)} more"]
    severity = max(m.severity for m in messages)
    return Message(counts_title(counts), "\n".join(lines), severity, counts)

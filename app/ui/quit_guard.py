"""Quitting with the dead man's switch armed asks first.

Quitting without disarming leaves Kraken's timer running: about a minute later Kraken cancels
every order on the armed accounts. That may be what the trader wants (the switch exists for a
console that goes away), or a disaster (they only meant to restart). So Ctrl+Q, closing the
window and the desktop session ending all ask:

- **Disarm and quit** (the default): the switch is disarmed and the console waits for Kraken's
  acknowledgement (at most ``DISARM_WAIT_S``); where Kraken did not acknowledge, a second
  question says so, with the time Kraken will cancel, and offers to quit anyway or stay.
- **Quit and leave it armed**: Kraken cancels everything when the timer runs out.
- **Stay**.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from app.desk.deadman import DISARM_WAIT_S, DeadmanState
from app.ui.bridge import DeskBridge

log = logging.getLogger("app.ui.quit_guard")


class SessionManager(Protocol):
    """What the guard uses of ``QSessionManager``."""

    def allowsInteraction(self) -> bool: ...

    def cancel(self) -> None: ...


class QuitChoice(enum.Enum):
    """What the trader chose when asked."""

    DISARM_AND_QUIT = "disarm and quit"
    LEAVE_ARMED = "quit and leave it armed"
    STAY = "stay"


def _clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at is not None else "in about a minute"


class QuitGuard(QObject):
    """Decides whether the window may close now; when not, asks, and closes it later.

    Signals:
        asked(QMessageBox): a question was opened (tests answer it).
        decided(object): the ``QuitChoice`` taken (after any disarm).
    """

    asked = Signal(object)
    decided = Signal(object)

    def __init__(
        self,
        window: QWidget,
        bridge: DeskBridge,
        close: Callable[[], object],
        message: Callable[[str], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._bridge = bridge
        self._close = close  # closes the window for good (the guard has said yes)
        self._message = message  # the status bar
        self.allowed = False  # True once the trader chose to quit: the next close goes through
        self.box: QMessageBox | None = None

    def may_close(self) -> bool:
        """True: close now. False: a question is open (or a disarm running); it closes later."""
        if self.allowed or not self._bridge.desk.deadman.armed:
            return True
        if self.box is None:
            self._ask_first()
        return False

    def session_ending(self, manager: SessionManager) -> None:
        """The desktop session is ending (``QGuiApplication.commitDataRequest``).

        With the switch armed and the session allowing it, the logout is cancelled and the
        question asked (answering "quit" closes the console; the trader logs out again). A session
        that allows no interaction gets the default: disarm, as far as it can go before the end.
        """
        if self.allowed or not self._bridge.desk.deadman.armed:
            return
        if manager.allowsInteraction():
            manager.cancel()
            if self.box is None:
                self._ask_first()
            return
        log.warning("the session is ending with the dead man's switch armed: disarming")
        self._bridge.run(self._disarm(), "disarm-at-logout", what="disarming at logout")

    # --- the questions ------------------------------------------------------------------------

    def _armed_names(self) -> list[str]:
        states = self._bridge.desk.deadman.states.values()
        return [self._bridge.account_name(s.account_id) for s in states if s.armed]

    def _ask_first(self) -> None:
        dm = self._bridge.desk.deadman
        names = self._armed_names() or ["every account it covers"]
        box = QMessageBox(self._window)
        box.setObjectName("quit_question")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Quit with the dead man's switch armed?")
        box.setText("The dead man's switch is armed.")
        box.setInformativeText(
            f"It is armed on {', '.join(names)}. If the console quits without disarming it, Kraken "
            f"cancels every order on those accounts when its timer runs out (within {dm.timeout_s} s)."
        )
        disarm = box.addButton("Disarm and quit", QMessageBox.ButtonRole.AcceptRole)
        leave = box.addButton("Quit and leave it armed", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Stay", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(disarm)
        box.setEscapeButton(stay)
        choices: dict[QPushButton | None, QuitChoice] = {
            disarm: QuitChoice.DISARM_AND_QUIT,
            leave: QuitChoice.LEAVE_ARMED,
            stay: QuitChoice.STAY,
        }
        self._open(box, lambda button: self._first_answer(choices.get(button, QuitChoice.STAY)))

    def _open(self, box: QMessageBox, answered: Callable[[QPushButton | None], None]) -> None:
        self.box = box

        def finished(_code: int) -> None:
            clicked = box.clickedButton()
            self.box = None
            box.deleteLater()
            answered(clicked if isinstance(clicked, QPushButton) else None)

        box.finished.connect(finished)
        box.open()  # not exec(): the desk keeps running (the disarm is a coroutine)
        self.asked.emit(box)

    def _first_answer(self, choice: QuitChoice) -> None:
        log.info("quit with the dead man's switch armed: %s", choice.value)
        if choice is QuitChoice.STAY:
            self.decided.emit(choice)
        elif choice is QuitChoice.LEAVE_ARMED:
            self._quit(choice)
        else:
            self._message("Disarming the dead man's switch before quitting…")
            self._bridge.run(self._disarm(), "disarm-before-quit", what="disarming before quitting")

    async def _disarm(self) -> None:
        states = await self._bridge.desk.deadman.disarm(within_s=DISARM_WAIT_S)
        still = [s for s in states.values() if s.armed]
        if not still:
            self._quit(QuitChoice.DISARM_AND_QUIT)
            return
        self._ask_again(still)

    def _ask_again(self, still: Sequence[DeadmanState]) -> None:
        lines = [
            f"{self._bridge.account_name(s.account_id)}: {s.error or 'no acknowledgement'}; "
            f"Kraken cancels everything there at {_clock(s.trigger_at)}"
            for s in still
        ]
        box = QMessageBox(self._window)
        box.setObjectName("quit_disarm_failed")
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("The dead man's switch could not be disarmed")
        box.setText("Kraken did not acknowledge the disarm on every account.")
        box.setInformativeText("\n".join(lines))
        quit_anyway = box.addButton("Quit anyway", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Stay", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)
        box.setEscapeButton(stay)

        def answered(button: QPushButton | None) -> None:
            if button is quit_anyway:
                self._quit(QuitChoice.LEAVE_ARMED)
            else:
                self.decided.emit(QuitChoice.STAY)

        self._open(box, answered)

    def _quit(self, choice: QuitChoice) -> None:
        self.allowed = True
        self.decided.emit(choice)
        self._close()

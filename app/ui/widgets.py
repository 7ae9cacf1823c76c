"""Small widgets the window is built from: a label that elides and keeps the whole text on hover."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QFileDialog, QLabel, QSizePolicy, QWidget


def ask_csv_path(parent: QWidget, what: str, stem: str, then: Callable[[Path], object]) -> QFileDialog:
    """Export <what> as CSV…: a save dialog opened with ``open()`` (never modal), a timestamped
    ``<stem>-YYYYmmdd-HHMMSS.csv`` proposed; ``then(path)`` runs once a file is chosen."""
    dialog = QFileDialog(parent, f"Export {what} as CSV")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setNameFilter("CSV files (*.csv)")
    dialog.setDefaultSuffix("csv")
    dialog.selectFile(time.strftime(f"{stem}-%Y%m%d-%H%M%S.csv"))
    dialog.fileSelected.connect(lambda path: then(Path(path)))
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits, ending in "…", and the whole text
    as its tooltip.

    Rules kept: setting the text costs next to nothing (it is elided when painted: the status bar
    is written while a cancel is on its way, and eliding a long line took 0.5 ms of the key
    press's path); ``full_text()`` is what was set, ``shown_text()`` what fits.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.set_full_text(text)

    def full_text(self) -> str:
        """The whole text."""
        return self._full

    def shown_text(self) -> str:
        """What fits in the label's width now."""
        return self.fontMetrics().elidedText(
            self._full, Qt.TextElideMode.ElideRight, max(0, self.width() - 4)
        )

    def set_full_text(self, text: str, tooltip: str | None = None) -> None:
        """Show ``text`` (elided to the width when painted) with ``tooltip`` (default: the text)."""
        if text == self._full:
            return
        self._full = text
        tip = text if tooltip is None else tooltip
        if self.toolTip() != tip:
            self.setToolTip(tip)
        self.update()

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(min(fm.horizontalAdvance(self._full), 600) + 4, fm.height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, self.fontMetrics().height() + 4)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        rect = self.contentsRect().adjusted(2, 0, -2, 0)
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(rect, int(align), self.shown_text())
        painter.end()

"""Small widgets the window is built from: a label that elides and keeps the whole text on hover."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits, ending in "…", and the whole text
    as its tooltip. ``full_text()`` is what was set; ``text()`` what is shown."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)
        self.set_full_text(text)

    def full_text(self) -> str:
        """The whole text."""
        return self._full

    def set_full_text(self, text: str, tooltip: str | None = None) -> None:
        """Show ``text`` (elided to the width) with ``tooltip`` (default: the text) on hover."""
        self._full = text
        tip = text if tooltip is None else tooltip
        if self.toolTip() != tip:
            self.setToolTip(tip)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(
            self._full, Qt.TextElideMode.ElideRight, max(0, self.width() - 4)
        )
        if self.text() != shown:
            super().setText(shown)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

"""The window's layout kept per profile: column widths, order, visibility, sort, splitter, geometry,
theme, zoom and grouping, in a QSettings ini file in the profile's config dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

LAYOUT_FILE = "layout.ini"
LAYOUT_VERSION = 4  # bump when the table's columns change: an older saved header is dropped


class LayoutStore:
    """Key -> value, in ``path`` (an ini file) or, with no path, in memory for this run only.

    Rules kept: a layout saved by another version of the columns is ignored (``version``), not
    half-applied; ``clear`` forgets everything (View > Reset layout).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: dict[str, Any] = {}
        self._settings: QSettings | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._settings = QSettings(str(path), QSettings.Format.IniFormat)
            if self._settings.value("version") not in (LAYOUT_VERSION, str(LAYOUT_VERSION)):
                self._settings.clear()
                self._settings.setValue("version", LAYOUT_VERSION)

    def value(self, key: str, default: Any = None) -> Any:
        """The value kept under ``key``, or ``default``."""
        if self._settings is None:
            return self._memory.get(key, default)
        return self._settings.value(key, default)

    def set(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key``."""
        if self._settings is None:
            self._memory[key] = value
        else:
            self._settings.setValue(key, value)

    def clear(self) -> None:
        """Forget the whole layout."""
        self._memory.clear()
        if self._settings is not None:
            self._settings.clear()
            self._settings.setValue("version", LAYOUT_VERSION)

    def sync(self) -> None:
        """Write to disk now."""
        if self._settings is not None:
            self._settings.sync()

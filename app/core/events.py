"""A tiny synchronous event: the desk announces, the bridge listens (no Qt below ui)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("app.core.events")


class Event(Generic[T]):
    """A list of callbacks called in order with one value.

    A failing listener is logged and does not stop the others: one broken view must never stop the
    ledger from being told.
    """

    __slots__ = ("_listeners", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[[T], None]] = []

    def connect(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Add a listener; returns a function that removes it."""
        self._listeners.append(callback)
        return lambda: self.disconnect(callback)

    def disconnect(self, callback: Callable[[T], None]) -> None:
        """Remove a listener if present."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def emit(self, value: T) -> None:
        """Call every listener with ``value``."""
        for cb in tuple(self._listeners):
            try:
                cb(value)
            except Exception:
                log.exception("listener of %s failed", self.name)

"""Shared test set-up: offscreen Qt, and the qasync loop for the tests that drive the GUI."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Before anything imports Qt: no display needed (ENV.md, "Offscreen Qt").
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_TESTS = Path(__file__).parent
# Async tests under these folders run on the qasync loop (Qt's event loop drives asyncio), so
# widgets, timers and sockets all advance while a test awaits. Everything else keeps asyncio's loop.
QT_LOOP_DIRS = (_TESTS / "ui", _TESTS / "e2e")


@pytest.fixture(autouse=True)
def _collect_on_the_main_thread() -> Iterator[None]:
    """Collect garbage here, between tests, never in a simulator thread (app/ui/gc_guard.py).

    The app collects on a GUI timer; tests mostly have no running GUI loop between them, so
    automatic collection is off for the session and each test's garbage is collected after it.
    """
    yield
    gc.collect()


gc.disable()


def _qasync_loop() -> asyncio.AbstractEventLoop:
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    loop: asyncio.AbstractEventLoop = qasync.QEventLoop(app)
    return loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio 1.x hook: which loop runs ``item`` (must answer for every async test)."""
    path = Path(str(item.path))
    if any(path.is_relative_to(d) for d in QT_LOOP_DIRS):
        return {"qasync": _qasync_loop}
    return {"asyncio": asyncio.new_event_loop}

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


def _on_qt_loop(path: Path) -> bool:
    return any(path.is_relative_to(d) for d in QT_LOOP_DIRS)


@pytest.fixture(autouse=True)
def _collect_qt_garbage_on_the_main_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Automatic garbage collection off around Qt tests only (app/ui/gc_guard.py, docs/DECISIONS.md).

    CPython collects in whichever thread allocates; with the simulator's thread running, a cycle
    holding a Qt wrapper could be freed there and crash Qt's timer dispatch. Tests on the Qt loop
    run with automatic collection off and their garbage is collected here, between tests, on the
    main thread. Everything else (desk, venues, sim, core) runs with collection on, as the
    simulator and the desk do in the app. Collection comes back only at the start of the next
    test off the Qt loop, after a collection here: whatever a Qt test left to be freed (its loop,
    released when the next test's loop is set) is freed on this thread first.
    """
    if _on_qt_loop(Path(str(request.node.path))):
        if gc.isenabled():
            gc.collect()
            gc.disable()
        yield
        gc.collect()
    else:
        if not gc.isenabled():
            gc.collect()
            gc.enable()
        yield


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
    if _on_qt_loop(Path(str(item.path))):
        return {"qasync": _qasync_loop}
    return {"asyncio": asyncio.new_event_loop}

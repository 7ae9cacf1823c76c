"""Starting the GUI: the QApplication, the qasync loop, the window, screenshots and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import qasync
from PySide6.QtWidgets import QApplication

from app.core.accounts import LinkState
from app.desk.desk import Desk
from app.desk.instruments import InstrumentBook
from app.paths import default_paths
from app.ui.bridge import DeskBridge
from app.ui.dialogs import AccountsStore
from app.ui.gc_guard import MainThreadCollector
from app.ui.instance_server import CommandHandler, InstanceServer
from app.ui.layout import LAYOUT_FILE, LayoutStore
from app.ui.main_window import MainWindow

log = logging.getLogger("app.ui.app")

DeskSource = Desk | Callable[[], Awaitable[Desk]]
ReadyHook = Callable[[MainWindow], Awaitable[None] | None]
# The profile's local socket, and what answers the command line's requests on the window's desk.
SingleInstance = tuple[str, Callable[[Desk], CommandHandler | None]]

DEFAULT_SCREENSHOT_WAIT_S = 15.0
CANCEL_GRACE_S = 5.0  # how long closing waits for cancels in flight before abandoning them


def open_window(
    desk: Desk,
    *,
    accounts_store: AccountsStore | None = None,
    layout_path: Path | None = None,
    mode: str | None = None,
    instruments: InstrumentBook | None = None,
) -> MainWindow:
    """Build the bridge and the main window over ``desk`` and show it (a loop must be running).

    The markets' instrument data (names, precisions) is fetched in the background, once per
    venue and host; the window reads what it has meanwhile.

    Args:
        desk: the desk, accounts added or not.
        accounts_store: enables File > Accounts; None hides account editing (demo mode).
        layout_path: where the window keeps its layout (an ini file); None keeps it for this
            run only.
        mode: ``"demo"`` or ``"simulator"``: the window says so in its title and a strip.
        instruments: the market data to use (tests); a fresh book is made otherwise.

    Returns:
        The shown window; ``window.bridge`` is its bridge.
    """
    app = QApplication.instance()
    if isinstance(app, QApplication):
        # Closing the window must not stop Qt's loop under asyncio's feet: the coroutine that
        # owns the window ends the loop after closing the desk (qasync would otherwise raise
        # "Event loop stopped before Future completed" and run the rest with no running loop).
        app.setQuitOnLastWindowClosed(False)
    bridge = DeskBridge(desk)
    book = instruments if instruments is not None else InstrumentBook()
    window = MainWindow(
        bridge,
        accounts_store=accounts_store,
        instruments=book,
        layout=LayoutStore(layout_path),
        mode=mode,
    )
    bridge.setParent(window)
    if isinstance(app, QApplication):
        # The desktop session ending asks too, when the dead man's switch is armed.
        app.commitDataRequest.connect(window.quit_guard.session_ending)
    if desk.specs:
        bridge.run(window.load_markets(list(desk.specs.values())), "instruments", what="loading market data")
    collector = MainThreadCollector(window)
    window.gc_collector = collector
    collector.start()
    window.show()
    return window


def orders_listed(desk: Desk) -> bool:
    """True once every account has answered once (listed, streaming, or definitely down)."""
    return bool(desk.status) and all(s.link is not LinkState.CONNECTING for s in desk.status.values())


async def screenshot_when_ready(
    window: MainWindow, path: str | None, wait_s: float, *, poll_s: float = 0.05
) -> bool:
    """Wait until the orders are listed (or ``wait_s`` passes), then save a screenshot if asked.

    Args:
        window: the window to grab.
        path: where to save a PNG; None only waits.
        wait_s: the longest wait.
        poll_s: how often readiness is checked.

    Returns:
        True if the orders were listed before the time ran out.
    """
    deadline = time.monotonic() + wait_s
    desk = window.bridge.desk
    ready = False
    while time.monotonic() < deadline:
        if orders_listed(desk):
            ready = True
            break
        await asyncio.sleep(poll_s)
    if path is not None:
        # Let Qt lay out and paint what just arrived. Awaiting, not processEvents(): a nested
        # event loop inside a coroutine would step other asyncio tasks re-entrantly.
        await asyncio.sleep(0.2)
        if not window.grab().save(path):
            log.error("could not save the screenshot to %s", path)
        else:
            log.info("screenshot saved to %s", path)
    return ready


async def serve_window(
    desk: DeskSource,
    *,
    accounts_store: AccountsStore | None = None,
    screenshot: str | None = None,
    quit_after: float | None = None,
    on_ready: ReadyHook | None = None,
    close_desk: bool = True,
    single_instance: SingleInstance | None = None,
    layout_path: Path | None = None,
    mode: str | None = None,
) -> int:
    """Run the window until it is closed (the coroutine behind ``run_window``).

    Args:
        desk: a desk, or an async factory building one on this loop (accounts added).
        accounts_store: enables File > Accounts.
        screenshot: save a PNG of the window here once the orders are listed, then quit.
        quit_after: quit after this many seconds (with ``screenshot``: the longest wait for the
            listing before grabbing anyway).
        on_ready: called with the shown window (may be async).
        close_desk: close the desk (its venues) when the window closes.
        single_instance: listen on this local socket for other starts and command-line requests.
        layout_path: where the window keeps its layout (None: this run only).
        mode: ``"demo"`` or ``"simulator"`` (marked in the window), None for Kraken.

    Returns:
        The exit status: 0, or 1 when a screenshot was asked and the listing never came.
    """
    the_desk = desk if isinstance(desk, Desk) else await desk()
    window = open_window(the_desk, accounts_store=accounts_store, layout_path=layout_path, mode=mode)
    server = None
    if single_instance is not None:
        server = InstanceServer(window, single_instance[0], single_instance[1](the_desk))
        server.listen()
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    status = 0
    try:
        if on_ready is not None:
            result = on_ready(window)
            if inspect.isawaitable(result):
                await result
        if screenshot is not None or quit_after is not None:
            wait = quit_after if quit_after is not None else DEFAULT_SCREENSHOT_WAIT_S
            if screenshot is not None:
                ready = await screenshot_when_ready(window, screenshot, wait)
                status = 0 if ready else 1
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), wait)
            if not closed.is_set():
                # A timed run ends without anyone to ask: the quit question's default, disarm.
                if the_desk.deadman.armed:
                    await the_desk.deadman.disarm()
                window.quit_guard.allowed = True
                window.close()
        await closed.wait()
    finally:
        if server is not None:
            server.close()
        window.age_timer.stop()
        if window.gc_collector is not None:
            window.gc_collector.stop()
        bridge = window.bridge
        if bridge.tasks:
            await asyncio.wait(bridge.tasks, timeout=CANCEL_GRACE_S)
        await bridge.aclose()
        if close_desk:
            await the_desk.aclose()
        window.deleteLater()
    return status


def run_window(
    desk: DeskSource,
    *,
    accounts_store: AccountsStore | None = None,
    screenshot: str | None = None,
    quit_after: float | None = None,
    on_ready: ReadyHook | None = None,
    close_desk: bool = True,
    argv: Sequence[str] | None = None,
    single_instance: SingleInstance | None = None,
    mode: str | None = None,
    layout_path: Path | None = None,
) -> int:
    """Create the QApplication and the qasync loop, run the window until closed, and clean up.

    Args:
        desk: a desk, or (usually) an async factory that builds it on the GUI loop and adds the
            accounts (``Desk.add_account`` needs the running loop).
        accounts_store: enables File > Accounts (the lead's ``AccountsStore``).
        screenshot: ``--screenshot PATH``: grab the window once orders are listed, then quit.
        quit_after: ``--quit-after SECONDS``: quit after that long (the longest screenshot wait).
        on_ready: called with the shown window.
        close_desk: close the desk's venues when the window closes.
        argv: Qt's command line (default ``sys.argv``).
        single_instance: the profile's socket address and command handler (``app.instance``).
        mode: ``"demo"`` or ``"simulator"``: the window marks it (title, a yellow strip).
        layout_path: where the layout is kept; default ``layout.ini`` in the profile's config
            dir (``app.paths``).

    Returns:
        The process exit status.
    """
    app = QApplication.instance() or QApplication(list(argv) if argv is not None else sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Kraken Cancel Console")
    app.setQuitOnLastWindowClosed(False)  # the coroutine ends the loop after cleaning up
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(
            serve_window(
                desk,
                accounts_store=accounts_store,
                screenshot=screenshot,
                quit_after=quit_after,
                on_ready=on_ready,
                close_desk=close_desk,
                single_instance=single_instance,
                layout_path=layout_path
                if layout_path is not None
                else default_paths().config_dir / LAYOUT_FILE,
                mode=mode,
            )
        )

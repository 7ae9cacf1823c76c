"""The app side in the bench process: a real desk and the real window on the qasync loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue
from bench.common import wait_for

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SIM_ACCOUNT = {VenueKind.SPOT: "spot", VenueKind.FUTURES: "futures", VenueKind.PRIME: "prime"}


def account(
    endpoints: dict[str, Any],
    account_id: str,
    kind: VenueKind,
    *,
    stream: Transport = Transport.WS_V2,
    cancel: Transport = Transport.WS_V2,
) -> tuple[AccountSpec, Credentials]:
    """An account spec (and its simulator keys) for one venue and transport."""
    urls = {k: v for k, v in endpoints.items() if isinstance(v, str)}
    keys = endpoints["accounts"][SIM_ACCOUNT[kind]]
    spec = AccountSpec(
        account_id=account_id,
        name=account_id,
        venue=kind,
        endpoints=urls,
        stream_transport=stream,
        cancel_transport=cancel,
    )
    return spec, Credentials(str(keys["key"]), str(keys["secret"]))


@asynccontextmanager
async def desk_with(accounts: Sequence[tuple[AccountSpec, Credentials]]) -> AsyncIterator[Desk]:
    """A real desk (audit log in a temp dir) with ``accounts`` connected; closed on exit."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        audit = AuditLog(Path(tmp) / "audit.sqlite3")
        desk = Desk(audit)
        nonces = NonceSource()
        try:
            for spec, creds in accounts:
                desk.add_account(spec, build_venue(spec, creds, nonces))
            yield desk
        finally:
            await desk.aclose()
            audit.close()


@asynccontextmanager
async def window_over(desk: Desk) -> AsyncIterator[Any]:
    """The shown, active main window over ``desk`` (closed and its bridge shut on exit)."""
    from PySide6.QtWidgets import QApplication

    from app.ui.app import open_window

    w = open_window(desk)
    try:
        w.activateWindow()
        # Offscreen may not activate; key events are sent to widgets directly anyway.
        with contextlib.suppress(TimeoutError):
            await wait_for(lambda: QApplication.activeWindow() is w, 5.0, "the window to be active")
        yield w
    finally:
        bridge = w.bridge
        if bridge.tasks:
            await asyncio.wait(bridge.tasks, timeout=10)
        await bridge.aclose()
        w.close()
        w.deleteLater()


def qt_app() -> Any:
    """The one QApplication of the bench process."""
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(["bench"])


def run_on_qasync(coro: Any) -> Any:
    """Run a coroutine on a qasync loop (Qt drives asyncio, as in the app)."""
    import qasync

    app = qt_app()
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        return runner.run(coro)

"""UI test fixtures: orders, the real simulator in its thread, a real desk, and the shown window."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.sim.server import SimThread
from app.sim.state import Exchange
from app.ui.app import open_window
from app.ui.main_window import MainWindow
from app.venues.nonces import NonceSource
from app.venues.spot.rest import SpotRestVenue
from tests.ui.helpers import SPOT2_ORDERS, SPOT_ORDERS, SPOT_SYMBOLS, wait_until


@pytest.fixture
def sim() -> Iterator[SimThread]:
    """The real simulator (Spot REST host) in its own thread: accounts ``spot`` and ``spot2``.

    No market activity and no rate limits: UI tests need a book that moves only when they act.
    """
    exchange = Exchange(seed=7, rate_limits=False)
    rng = random.Random(7)
    exchange.add_account("spot", "spot")
    exchange.add_account("spot2", "spot")
    exchange.generate_orders("spot", SPOT_ORDERS, rng, symbols=SPOT_SYMBOLS, age_s=(600, 3600))
    exchange.generate_orders("spot2", SPOT2_ORDERS, rng, symbols=SPOT_SYMBOLS, age_s=(600, 3600))
    thread = SimThread(exchange, activity_rate_per_s=0.0)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@asynccontextmanager
async def desk_session(sim: SimThread, tmp_path: Path) -> AsyncIterator[Desk]:
    """A real desk with the two Spot accounts connected over REST to the simulator."""
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=0.5)
    creds = sim.call(sim.exchange.credentials)
    url = sim.endpoints["spot_rest"]
    nonces = NonceSource()
    try:
        for account_id, name in (("spot", "Main spot"), ("spot2", "Second spot")):
            spec = AccountSpec(
                account_id,
                name,
                VenueKind.SPOT,
                endpoints={"spot_rest": url},
                stream_transport=Transport.REST,
                cancel_transport=Transport.REST,
            )
            c = creds[account_id]
            venue = SpotRestVenue(account_id, url, Credentials(c["key"], c["secret"]), nonces)
            desk.add_account(spec, venue)
        yield desk
    finally:
        await desk.aclose()
        audit.close()


@asynccontextmanager
async def window_session(sim: SimThread, tmp_path: Path) -> AsyncIterator[MainWindow]:
    """The main window over a real desk, active, with both accounts' orders listed."""
    async with desk_session(sim, tmp_path) as desk:
        w = open_window(desk)
        try:
            w.activateWindow()
            await wait_until(lambda: QApplication.activeWindow() is w, what="the window to be active")
            total = SPOT_ORDERS + SPOT2_ORDERS
            await wait_until(lambda: w.model.rowCount() == total, what=f"{total} orders listed")
            w.table.setFocus()
            yield w
        finally:
            bridge = w.bridge
            if bridge.tasks:
                await asyncio.wait(bridge.tasks, timeout=5)
            await bridge.aclose()
            w.close()
            w.deleteLater()


# The desk and the window live inside each test's coroutine, not in async fixtures: pytest-asyncio
# runs every async fixture in its own run_until_complete, and between those runs qasync (and
# pytest-qt's processEvents) would step the desk's tasks with no running loop (httpx then fails).
@pytest.fixture
def open_ui(
    sim: SimThread, tmp_path: Path, qapp: QApplication
) -> Callable[[], AbstractAsyncContextManager[MainWindow]]:
    """``async with open_ui() as window:`` the window over a real desk and the simulator."""
    return lambda: window_session(sim, tmp_path)


@pytest.fixture
def open_desk(
    sim: SimThread, tmp_path: Path, qapp: QApplication
) -> Callable[[], AbstractAsyncContextManager[Desk]]:
    """``async with open_desk() as desk:`` a real desk over the simulator."""
    return lambda: desk_session(sim, tmp_path)

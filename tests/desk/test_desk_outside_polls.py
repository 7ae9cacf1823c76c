"""A polled account (Spot over REST) against the real simulator: fills and cancels made elsewhere are
announced as outside changes, the reason asked of the venue; the console's own cancels are not."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.core.accounts import AccountSpec, Credentials, LinkState, Transport
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, Scope
from app.desk.audit import AuditLog
from app.desk.desk import Desk, OutsideChange
from app.sim.server import SimServer
from app.sim.state import Exchange
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue


class Polled:
    def __init__(self, ex: Exchange, desk: Desk) -> None:
        self.ex = ex
        self.desk = desk
        self.changes: list[OutsideChange] = []
        self.changed = asyncio.Event()
        desk.outside_change.connect(self._got)
        desk.account_changed.connect(lambda _s: self.changed.set())

    def _got(self, change: OutsideChange) -> None:
        self.changes.append(change)
        self.changed.set()

    async def until(self, what: object, within_s: float = 10.0) -> None:
        async with asyncio.timeout(within_s):
            while not what():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def polled(tmp_path: Path) -> AsyncIterator[Polled]:
    ex = Exchange(seed=21, rate_limits=False)
    ex.add_account("s", "spot")
    ex.generate_orders("s", 8, random.Random(21))
    server = SimServer(ex)
    endpoints = await server.start()
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=0.1)
    spec = AccountSpec(
        "s",
        "Spot",
        VenueKind.SPOT,
        endpoints=endpoints,
        stream_transport=Transport.REST,
        cancel_transport=Transport.REST,
    )
    acct = ex.account("s")
    rig = Polled(ex, desk)
    desk.add_account(spec, build_venue(spec, Credentials(acct.api_key, acct.secret), NonceSource()))
    try:
        await rig.until(
            lambda: desk.status["s"].link is LinkState.POLLING and desk.status["s"].open_orders == 8
        )
        yield rig
    finally:
        await desk.aclose()
        audit.close()
        await server.stop()


async def test_fills_and_cancels_elsewhere_are_told_with_the_venues_reason(polled: Polled) -> None:
    ids = sorted(o.order_id for o in polled.ex.open_orders("s"))
    open_now = {o.order_id: o for o in polled.ex.open_orders("s")}
    half = open_now[ids[0]].remaining / 2
    polled.ex.book.fill("s", ids[0], half)  # partly
    polled.ex.book.fill("s", ids[1])  # wholly: it leaves the book
    polled.ex.book.cancel("s", ids[2])  # another tool on the account
    whats = lambda: {(c.order.order_id, c.what) for c in polled.changes}  # noqa: E731
    expected = {(ids[0], "partially filled"), (ids[1], "filled"), (ids[2], "cancelled")}
    await polled.until(lambda: expected <= whats())
    assert len(polled.changes) == 3  # each once, not at every poll


async def test_the_consoles_own_cancels_are_not_outside_changes(polled: Polled) -> None:
    victim = next(iter(polled.desk.store.orders("s")))
    report = await polled.desk.cancel(CancelIntent(Scope.ORDERS, (victim,)))
    assert report.orders == 1
    await polled.until(lambda: victim.key not in {o.key for o in polled.desk.store.orders("s")})
    await asyncio.sleep(0.5)  # a few more polls
    assert polled.changes == []

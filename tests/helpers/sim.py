"""Fixtures: the real simulator on loopback, and Spot REST venues and desks pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from app.core.accounts import AccountSpec, Credentials
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.sim.faults import Faults
from app.sim.server import SimServer
from app.sim.state import Exchange
from app.venues.nonces import NonceSource
from app.venues.spot.rest import SpotRestVenue


@dataclass
class Sim:
    """A running simulator in the test's loop."""

    exchange: Exchange
    server: SimServer
    endpoints: dict[str, str]

    @property
    def faults(self) -> Faults:
        return self.server.faults

    def creds(self, account: str = "spot") -> Credentials:
        acct = self.exchange.account(account)
        return Credentials(acct.api_key, acct.secret)

    def open_ids(self, account: str = "spot") -> set[str]:
        return {o.order_id for o in self.exchange.open_orders(account)}

    def spot_venue(self, account: str = "spot", **kw: object) -> SpotRestVenue:
        return SpotRestVenue(account, self.endpoints["spot_rest"], self.creds(account), NonceSource(), **kw)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Sim]:
    exchange = Exchange(seed=7, rate_limits=False)
    exchange.seed_demo(n_orders=120, seed=7, kinds=("spot",))
    server = SimServer(exchange)
    endpoints = await server.start()
    try:
        yield Sim(exchange, server, endpoints)
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def desk(sim: Sim, tmp_path: Path) -> AsyncIterator[Desk]:
    audit = AuditLog(tmp_path / "audit.sqlite3")
    d = Desk(audit, poll_interval_s=0.2)
    d.add_account(AccountSpec("spot", "Demo spot", VenueKind.SPOT), sim.spot_venue())
    try:
        yield d
    finally:
        await d.aclose()
        audit.close()

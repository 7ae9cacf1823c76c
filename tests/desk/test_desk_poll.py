"""The desk's poll loop on a fake clock: its cadence, its back-off, F5, and the refresh after a cancel."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.core.accounts import AccountSpec, LinkState
from app.core.errors import AuthError, VenueUnavailable
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, Scope
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from tests.helpers.fakes import FakeClock, ScriptedVenue, make_order, settle


class Rig:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.audit = AuditLog(":memory:", clock=self.clock.time)
        self.desk = Desk(
            self.audit,
            poll_interval_s=2.0,
            clock=self.clock.monotonic,
            wall_clock=self.clock.time,
            sleep=self.clock.sleep,
            poll_wait=self.clock.wait_for_wake,
        )
        self.venue = ScriptedVenue("spot", clock=self.clock)
        self.venue.book = [make_order(1), make_order(2)]

    async def connect(self) -> None:
        self.desk.add_account(AccountSpec("spot", "Spot", VenueKind.SPOT), self.venue)
        await settle()

    @property
    def link(self) -> tuple[LinkState, str]:
        st = self.desk.status["spot"]
        return st.link, st.detail


@pytest_asyncio.fixture
async def rig() -> AsyncIterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        await r.desk.aclose()
        r.audit.close()


async def test_a_polled_account_is_listed_every_interval(rig: Rig) -> None:
    await rig.connect()
    assert rig.venue.listed == 1 and len(rig.desk.store) == 2
    assert rig.link == (LinkState.POLLING, "polled every 2 s")
    assert rig.desk.status["spot"].last_update == rig.clock.time()
    await rig.clock.advance(1.9)
    assert rig.venue.listed == 1
    await rig.clock.advance(0.1)
    assert rig.venue.listed == 2
    rig.venue.book = [make_order(2), make_order(3)]
    await rig.clock.advance(2)
    assert {o.order_id for o in rig.desk.store.orders()} == {"O2", "O3"}
    assert rig.clock.waits == [2.0, 2.0, 2.0]


async def test_a_failing_listing_backs_off_doubling_to_30_s_then_recovers(rig: Rig) -> None:
    rig.venue.listings.extend([VenueUnavailable("EService:Unavailable")] * 6)
    await rig.connect()
    assert rig.link == (LinkState.DOWN, "EService:Unavailable")
    for wait in (4, 8, 16, 30, 30):
        await rig.clock.advance(wait)
    await rig.clock.advance(30)  # the seventh listing works
    assert rig.clock.waits == [4, 8, 16, 30, 30, 30, 2.0]
    assert rig.link == (LinkState.POLLING, "polled every 2 s")
    assert len(rig.desk.store) == 2


async def test_a_refused_key_backs_off_to_a_minute_and_says_what_to_do(rig: Rig) -> None:
    rig.venue.listings.extend([AuthError("EAPI:Invalid key")] * 7)
    await rig.connect()
    for wait in (4, 8, 16, 32, 60):
        await rig.clock.advance(wait)
    assert rig.clock.waits == [4, 8, 16, 32, 60, 60]
    assert rig.link == (LinkState.DOWN, "EAPI:Invalid key: fix the key in Accounts")


async def test_a_bug_in_the_venue_shows_the_account_down_and_is_retried(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.venue.listings.append(KeyError("result"))
    with caplog.at_level(logging.ERROR, "app.desk"):
        await rig.connect()
    assert rig.link == (LinkState.DOWN, "internal error: KeyError")
    assert [r.getMessage() for r in caplog.records] == ["listing spot failed"]
    await rig.clock.advance(4)
    assert rig.link[0] is LinkState.POLLING


async def test_refresh_lists_at_once_without_waiting_for_the_interval(rig: Rig) -> None:
    await rig.connect()
    await rig.desk.refresh("spot")
    await settle()
    assert rig.venue.listed == 2
    assert rig.clock.now == 1000.0  # no time passed
    await rig.desk.refresh("elsewhere")  # another account's F5 does not wake this one
    await settle()
    assert rig.venue.listed == 2


async def test_a_cancel_on_a_polled_account_refreshes_it(rig: Rig) -> None:
    await rig.connect()
    report = await rig.desk.cancel(CancelIntent(Scope.ORDERS, (rig.venue.book[0],)))
    rig.venue.book = rig.venue.book[1:]
    await settle()
    assert rig.venue.listed == 2
    assert report.attempt == f"A{int(rig.clock.time())}-1"  # the desk's clocks reach the coordinator
    assert [o.order_id for o in rig.desk.store.orders()] == ["O2"]

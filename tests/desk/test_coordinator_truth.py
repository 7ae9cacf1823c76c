"""The coordinator's rules for endings that stay true: facts win, nothing is sent twice, rate limits
wait with an ETA, the emergency lane, progress, and unknown orders kept on the table until known."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from app.core.errors import TransportError, VenueUnavailable
from app.core.ledger import CancelState, Outcome
from app.core.plan import CancelIntent, Scope
from app.desk.audit import AuditLog
from app.desk.coordinator import ActionProgress, CancelCoordinator
from app.desk.store import OrderStore
from app.venues.base import Venue
from tests.helpers.fakes import FakeClock, ScriptedVenue, make_order, settle

S = CancelState


class Rig:
    def __init__(self, path: Path) -> None:
        self.clock = FakeClock(autojump=True)
        self.recheck_clock = FakeClock()
        self.store = OrderStore()
        self.audit = AuditLog(path, clock=self.clock.time)
        self.venues: dict[str, Venue] = {}
        self.coordinator = CancelCoordinator(
            self.store,
            self.venues,
            self.audit,
            clock=self.clock.monotonic,
            wall_clock=self.clock.time,
            sleep=self.clock.sleep,
            recheck_wait=self.recheck_clock.wait_for_wake,
        )
        self.progress: list[ActionProgress] = []
        self.coordinator.progressed.connect(self.progress.append)

    def venue(self, account: str = "spot", n: int = 1, symbol: str = "XBT/USD") -> ScriptedVenue:
        venue = ScriptedVenue(account, clock=self.clock)
        venue.book = [make_order(i, account=account, symbol=symbol) for i in range(1, n + 1)]
        self.store.upsert(venue.book)
        self.venues[account] = venue
        return venue

    def states(self, account: str, order_id: str) -> list[str]:
        return [s for s, _ in self.audit.history(account, order_id)]


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path / "audit.sqlite3")
    try:
        yield r
    finally:
        await r.coordinator.aclose()
        r.audit.close()


async def test_a_failed_resend_of_an_unknown_order_stays_unknown(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(TransportError("connection dropped"))  # Kraken may have cancelled it
    venue.confirms.append(TransportError("timed out"))
    await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (o1,)))
    venue.replies.append(VenueUnavailable("HTTP 503; nothing was sent"))  # a clean failure
    report = await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (o1,)))
    entry = rig.coordinator.entry(o1.key)
    assert entry is not None and entry.state is S.UNKNOWN
    assert "still unknown" in (entry.reason or "") and "failed" in (entry.reason or "")
    assert report.counts[S.FAILED] == 0 and report.counts[S.UNKNOWN] == 1
    assert o1.key in rig.store  # kept on the table until Kraken's word is known


async def test_an_order_proven_gone_never_comes_back(rig: Rig) -> None:
    venue = rig.venue(n=2)
    o1, o2 = venue.book
    await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (o1,)))
    assert o1.key not in rig.store and rig.store.is_gone(o1.key)
    # A snapshot taken before the cancel's answer arrives late: it cannot bring o1 back.
    rig.store.replace_account("spot", [o1, o2])
    assert o1.key not in rig.store and o2.key in rig.store
    rig.store.upsert([o1])
    assert o1.key not in rig.store


async def test_a_listing_never_drops_an_order_in_flight_or_unknown_silently(rig: Rig) -> None:
    venue = rig.venue(n=3)
    o1, o2, o3 = venue.book
    venue.replies.append(TransportError("dropped"))
    venue.confirms.append({})
    await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (o1,)))
    assert rig.coordinator.held_keys("spot") == {o1.key}
    rig.store.replace_account("spot", [o3], keep=rig.coordinator.held_keys("spot"))
    assert o1.key in rig.store and o2.key not in rig.store and o3.key in rig.store


async def test_orders_in_flight_are_never_sent_again_whatever_the_scope(rig: Rig) -> None:
    venue = rig.venue(n=3)
    o1, o2, o3 = venue.book
    venue.hold = asyncio.Event()
    first = asyncio.create_task(rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (o1, o2))))
    await settle()
    plan = rig.coordinator.plan(CancelIntent(Scope.SYMBOL, account_ids=("spot",), symbol="XBT/USD"))
    assert [o.order_id for r in plan.requests for o in r.orders] == ["O3"]
    everything = rig.coordinator.plan(CancelIntent(Scope.ACCOUNT, account_ids=("spot",)))
    # The cancel-all still goes (it may catch orders placed since), but tracks only o3.
    assert [o.order_id for r in everything.requests for o in r.orders] == ["O3"]
    venue.hold.set()
    await first
    assert o3.key in rig.store


async def test_cancel_all_and_the_kill_switch_take_the_emergency_lane(rig: Rig) -> None:
    venue = rig.venue(n=2)
    await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (venue.book[0],)))
    await rig.coordinator.cancel(CancelIntent(Scope.EVERYTHING))
    assert venue.urgent == [False, True]


async def test_a_rate_limited_request_waits_with_its_eta_and_the_action_shows_progress(rig: Rig) -> None:
    venue = rig.venue(n=2)
    o1, o2 = venue.book
    venue.waits.append(12.0)  # the venue's model holds the batch back 12 s
    report = await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (o1, o2)))
    assert rig.states("spot", "O1") == ["queued", "waiting", "sent", "cancelled"]
    assert rig.audit.history("spot", "O1")[1] == ("waiting", "waiting: a scripted rate limit, ~12 s")
    assert report.rate_waits == 1
    waiting = [p for p in rig.progress if p.waiting]
    assert waiting and waiting[0].waiting == 2 and waiting[0].eta_s == 12.0
    assert rig.progress[-1].done == rig.progress[-1].total == 2


async def test_sent_is_written_when_the_venue_says_the_bytes_leave(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    seen: list[list[str]] = []
    venue.on_execute = lambda request: seen.append(rig.states("spot", "O1"))
    await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (o1,)))
    # When the venue got the request it had not yet written it: still only "queued".
    assert seen == [["queued"]]
    assert rig.states("spot", "O1") == ["queued", "sent", "cancelled"]


async def test_a_reconnect_kicks_the_recheck_of_unknown_orders(rig: Rig) -> None:
    venue = rig.venue(n=1)
    (o1,) = venue.book
    venue.replies.append(TransportError("dropped"))
    venue.confirms.extend([TransportError("still down"), {"O1": Outcome(S.CANCELLED, "User requested")}])
    await rig.coordinator.cancel(CancelIntent(Scope.ORDERS, (o1,)))
    assert rig.coordinator.unknown("spot")
    rig.coordinator.kick("spot")  # the link is live again: ask now, not after the back-off
    await settle()
    entry = rig.coordinator.entry(o1.key)
    assert entry is not None and entry.state is S.CANCELLED
    assert rig.recheck_clock.now == 1_000.0  # no time had to pass

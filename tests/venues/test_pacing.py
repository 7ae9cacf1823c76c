"""Rate limits as a model, and the emergency lane, against the simulator with its rate limits on."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from app.core.accounts import AccountSpec, Credentials, Transport
from app.core.ledger import CancelState
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, CancelRequest, RequestForm, Scope
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.sim.faults import Faults
from app.sim.server import SimServer
from app.sim.state import Exchange
from app.venues.lanes import PriorityLock
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue
from app.venues.spot.pacing import SpotPacer
from tests.ui.helpers import make_order

pytestmark = pytest.mark.timeout(60)


async def test_the_priority_lock_serves_urgent_holders_first_and_survives_cancellation() -> None:
    lock = PriorityLock()
    order: list[str] = []
    release = asyncio.Event()

    async def holder(name: str, urgent: bool) -> None:
        async with lock.hold(urgent=urgent):
            order.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(holder("first", False))
    await asyncio.sleep(0)
    queued = [asyncio.create_task(holder(f"ordinary-{i}", False)) for i in range(3)]
    gone = asyncio.create_task(holder("cancelled", False))
    await asyncio.sleep(0)
    urgent = asyncio.create_task(holder("urgent", True))
    await asyncio.sleep(0)
    assert lock.waiting() == 5
    gone.cancel()
    release.set()
    await asyncio.gather(first, urgent, *queued, return_exceptions=True)
    assert order == ["first", "urgent", "ordinary-0", "ordinary-1", "ordinary-2"]
    assert not lock.locked and lock.waiting() == 0


class Rig:
    def __init__(self, exchange: Exchange, server: SimServer, endpoints: dict[str, str], desk: Desk) -> None:
        self.exchange, self.server, self.endpoints, self.desk = exchange, server, endpoints, desk

    def connect(self, kind: VenueKind, transport: Transport = Transport.WS_V2, tier: str = "pro") -> str:
        acct = self.exchange.accounts[kind.value]
        spec = AccountSpec(
            kind.value,
            kind.value,
            kind,
            dict(self.endpoints),
            stream_transport=transport,
            cancel_transport=transport,
            options={"spot_tier": tier},
        )
        self.desk.add_account(spec, build_venue(spec, Credentials(acct.api_key, acct.secret), NonceSource()))
        return spec.account_id


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    exchange = Exchange(seed=11, rate_limits=True)
    exchange.add_account("spot", "spot", tier="pro")
    exchange.add_account("futures", "futures")
    server = SimServer(exchange, Faults())
    endpoints = await server.start()
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit)
    try:
        yield Rig(exchange, server, endpoints, desk)
    finally:
        await desk.aclose()
        audit.close()
        await server.stop()


async def _listed(desk: Desk, account: str, n: int) -> None:
    changed = asyncio.Event()
    stop = desk.store.inserted.connect(lambda _orders: changed.set())
    try:
        async with asyncio.timeout(20):
            while desk.store.count(account) < n:
                changed.clear()
                await changed.wait()
    finally:
        stop()


async def test_single_cancels_of_young_orders_wait_for_the_pair_counter_and_none_fails(rig: Rig) -> None:
    # Pro tier: threshold 180, decay 3.75/s. 50 orders that rested ~20 s cost 4 each: 45 fit at
    # once, the other five wait about a second each for the counter to decay (API-FACTS 7.2).
    rig.exchange.demo.generate_orders("spot", 50, random.Random(3), symbols=["XBT/USD"], age_s=(18.0, 20.0))
    account = rig.connect(VenueKind.SPOT, Transport.REST)
    await _listed(rig.desk, account, 50)
    started = time.monotonic()
    reports = await asyncio.gather(
        *(rig.desk.cancel(CancelIntent(Scope.ORDERS, (o,))) for o in rig.desk.store.orders(account))
    )
    took = time.monotonic() - started
    states = [s for r in reports for s, n in r.counts.items() for _ in range(n)]
    assert states.count(CancelState.CANCELLED) == 50, states
    assert sum(r.rate_waits for r in reports) >= 3  # some waited, with an ETA, instead of failing
    assert took < 15
    # Nothing the exchange refused for the limit: the model kept the console inside it.
    assert rig.exchange.book.open_count("spot") == 0


async def test_the_futures_kill_switch_goes_before_the_queued_cancels(rig: Rig) -> None:
    rig.exchange.demo.generate_orders("futures", 300, random.Random(4))
    account = rig.connect(VenueKind.FUTURES)
    await _listed(rig.desk, account, 300)
    orders = rig.desk.store.orders(account)
    singles = [asyncio.create_task(rig.desk.cancel(CancelIntent(Scope.ORDERS, (o,)))) for o in orders[:250]]
    try:
        await asyncio.sleep(0.3)  # 250 x cost 10 is far over the budget: a queue forms
        waiting = sum(
            1 for e in rig.desk.coordinator.entries() if e.state in (CancelState.QUEUED, CancelState.WAITING)
        )
        assert waiting > 100
        rig.exchange.arrivals.clear()
        kill = await rig.desk.cancel(CancelIntent(Scope.EVERYTHING))
        paths = [a.path for a in rig.exchange.arrivals if a.host == "futures"]
        # Among the first in, however long the queue (a cancel already on the wire may beat it).
        assert any(p.endswith("/cancelallorders") for p in paths[:3]), paths[:5]
        assert kill.counts[CancelState.CANCELLED] > 0
    finally:
        for task in singles:
            task.cancel()
        await asyncio.gather(*singles, return_exceptions=True)


async def test_a_waiting_request_is_told_the_wait_behind_the_requests_queued_ahead_of_it() -> None:
    now = [100.0]
    never = asyncio.Event()

    async def sleep(_s: float) -> None:
        await never.wait()  # the clock stands still: only the announcements are looked at

    pacer = SpotPacer(clock=lambda: now[0], wall_clock=lambda: 1000.0, sleep=sleep)
    tier = pacer.counters.tier  # starter: threshold 60, decay 1/s
    pacer.observe("XBT/USD", tier.trading_threshold)  # the pair is full
    young = [make_order(i, symbol="XBT/USD", opened_at=999.0) for i in range(5)]  # 8 each: 40 a batch
    told: dict[str, list[float]] = {"a": [], "b": []}

    class Observer:
        def __init__(self, name: str) -> None:
            self.name = name

        def waiting(self, seconds: float, why: str) -> None:
            told[self.name].append(seconds)

        def sent(self) -> None: ...

    batches = [CancelRequest("spot", RequestForm.BATCH, orders=tuple(young)) for _ in "ab"]
    tasks = [
        asyncio.create_task(pacer.take_turn(r, urgent=False, observer=Observer(n)))  # type: ignore[arg-type]
        for r, n in zip(batches, "ab", strict=True)
    ]
    await asyncio.sleep(0.01)
    first_wait = (tier.trading_threshold - (tier.trading_threshold - 1)) / tier.trading_decay_per_s
    assert told["a"] == [first_wait]  # the pair must fall just under the threshold
    # b goes after a, which adds 40 first: b is told 40 s more, not the same 1 s.
    assert told["b"] == [first_wait + 40 / tier.trading_decay_per_s]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert not pacer._queue  # a cancelled wait leaves the queue

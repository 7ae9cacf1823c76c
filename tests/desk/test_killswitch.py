"""The kill switch that stays flat, against the real simulator on loopback (Spot, Futures, Prime).

New orders placed during the hold are cancelled (Prime included, which cancels by id only); a
venue down when the key is pressed is waited for and cancelled when it is back; Esc stops it;
its report counts what Kraken's cancel-all ended though no listing had shown it yet.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.accounts import AccountSpec, Credentials, LinkState, Transport
from app.core.ledger import CancelState
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.desk.killswitch import KillPhase, KillState
from app.sim.server import SimServer
from app.sim.state import Exchange
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue

ACCOUNTS = {
    "spot": VenueKind.SPOT,
    "fut": VenueKind.FUTURES,
    "prime": VenueKind.PRIME,
    "rest": VenueKind.SPOT,
}


@dataclass
class Rig:
    ex: Exchange
    server: SimServer
    desk: Desk
    changed: asyncio.Event
    rng: random.Random

    async def until(self, what: Callable[[], object], within_s: float = 15.0) -> None:
        """Wait until ``what`` holds, re-asking at each change the desk announces."""
        async with asyncio.timeout(within_s):
            while not what():
                self.changed.clear()
                await self.changed.wait()

    def open_at_kraken(self, account: str | None = None) -> int:
        names = [account] if account else list(ACCOUNTS)
        return sum(len(self.ex.open_orders(n)) for n in names)

    def live(self) -> bool:
        return all(
            self.desk.status[a].link in (LinkState.LIVE, LinkState.POLLING)
            and self.desk.status[a].open_orders == len(self.ex.open_orders(a))
            for a in ACCOUNTS
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    ex = Exchange(seed=21, rate_limits=False)
    rng = random.Random(21)
    for name, kind in ACCOUNTS.items():
        ex.add_account(name, kind.value)
        ex.generate_orders(name, 8, rng)
    server = SimServer(ex)
    endpoints = await server.start()
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=0.3)
    changed = asyncio.Event()
    r = Rig(ex, server, desk, changed, rng)
    for event in (desk.account_changed, desk.store.inserted, desk.store.removed, desk.kill_started):
        event.connect(lambda _: changed.set())
    nonces = NonceSource()
    for name, kind in ACCOUNTS.items():
        transport = Transport.REST if name == "rest" else Transport.WS_V2
        spec = AccountSpec(
            name, name, kind, endpoints=endpoints, stream_transport=transport, cancel_transport=transport
        )
        acct = ex.account(name)
        desk.add_account(spec, build_venue(spec, Credentials(acct.api_key, acct.secret), nonces))
    try:
        await r.until(r.live)
        yield r
    finally:
        await desk.aclose()
        audit.close()
        await server.stop()


def _watch(rig: Rig, states: list[KillState]) -> None:
    assert rig.desk.kill is not None
    rig.desk.kill.changed.connect(states.append)
    rig.desk.kill.changed.connect(lambda _: rig.changed.set())


async def test_it_cancels_everything_then_holds_flat_while_new_orders_arrive(rig: Rig) -> None:
    states: list[KillState] = []
    switch = rig.desk.kill_switch(hold_s=3.0)
    _watch(rig, states)
    await rig.until(lambda: switch.state.phase is KillPhase.HOLDING)
    await rig.until(lambda: rig.open_at_kraken() == 0)
    assert switch.state.hold_until is not None

    # A runaway bot keeps placing orders during the hold: on every venue, Prime included.
    for name in ("spot", "fut", "prime"):
        rig.ex.generate_orders(name, 3, rig.rng)
    await rig.until(lambda: rig.open_at_kraken() == 0)

    final = await asyncio.wait_for(switch.start(), 15)
    assert final.phase is KillPhase.DONE and final.pending == ()
    assert final.cancelled >= 4 * 8 + 3 * 3  # every order there was, the late ones too
    assert final.waves >= 4 + 1
    assert rig.open_at_kraken() == 0
    assert "cancelled" in final.summary() and "nothing" not in final.summary()
    assert [s.phase for s in states][-1] is KillPhase.DONE


async def test_a_venue_down_when_pressed_is_cancelled_when_it_is_back(rig: Rig) -> None:
    await rig.server.stop_host("futures")
    await rig.until(lambda: rig.desk.status["fut"].link not in (LinkState.LIVE, LinkState.POLLING))
    switch = rig.desk.kill_switch(hold_s=0.5)
    _watch(rig, [])
    await rig.until(lambda: switch.state.pending == ("fut",))
    await rig.until(lambda: rig.open_at_kraken("spot") + rig.open_at_kraken("prime") == 0)
    assert "waiting for fut" in switch.state.summary()
    await asyncio.sleep(1.0)  # the others' hold ends; the switch still waits for Futures
    assert switch.running and rig.open_at_kraken("fut") == 8

    await rig.server.start_host("futures")
    await rig.desk.refresh()  # F5: reconnect now
    final = await asyncio.wait_for(switch.start(), 20)
    assert final.phase is KillPhase.DONE and final.pending == ()
    assert rig.open_at_kraken() == 0


async def test_esc_stops_a_switch_waiting_for_a_venue(rig: Rig) -> None:
    await rig.server.stop_host("prime")
    await rig.until(lambda: rig.desk.status["prime"].link not in (LinkState.LIVE, LinkState.POLLING))
    switch = rig.desk.kill_switch(hold_s=30)
    await rig.until(lambda: switch.state.pending == ("prime",))
    switch.stop()
    final = await asyncio.wait_for(switch.start(), 10)
    assert final.phase is KillPhase.STOPPED
    assert rig.open_at_kraken("prime") == 8  # never reached: nothing claimed about it
    assert final.counts[CancelState.CANCELLED] == 4 * 8 - rig.open_at_kraken()  # the other three


async def test_orders_placed_since_the_last_listing_are_counted(rig: Rig) -> None:
    # The REST account is listed every 0.3 s: orders placed just now are not listed yet, and
    # Kraken's cancel-all ends them too. The report says so instead of leaving them out.
    rig.ex.generate_orders("rest", 5, rig.rng)
    switch = rig.desk.kill_switch(hold_s=0.0, account_ids=["rest"])
    final = await asyncio.wait_for(switch.start(), 10)
    assert final.phase is KillPhase.DONE
    assert rig.open_at_kraken("rest") == 0
    assert final.cancelled == 13
    assert final.unlisted == 5 and "5 not yet listed" in final.summary()


async def test_a_wave_that_failed_is_sent_again_and_each_order_counts_once(rig: Rig) -> None:
    faults = rig.server.own_faults("spot_rest")
    faults.scope = "cancels"
    faults.http_5xx = 1  # the first CancelAll meets a 5xx before Kraken applies it
    switch = rig.desk.kill_switch(0.0, ["rest"])
    state = await asyncio.wait_for(switch.start(), 20)
    assert state.waves == 2  # the failed wave was sent again
    assert rig.open_at_kraken("rest") == 0
    assert state.counts[CancelState.FAILED] == 0  # the first wave's "failed" was overtaken
    assert state.cancelled == 8 and sum(state.counts.values()) == 8

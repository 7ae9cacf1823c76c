"""Outages against the real simulator: a venue's hosts stopped and started again under the desk.

While a stream is away the account is listed over REST; a venue unreachable for long is shown
down, with its rows kept and marked stale; on return the desk says what changed while away and
why each order left (asked of Kraken, never guessed).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.accounts import AccountSpec, Credentials, LinkState, Transport
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, Scope
from app.desk import desk as desk_module
from app.desk.audit import AuditLog
from app.desk.desk import AccountStatus, AwayReport, Desk, OutsideChange
from app.sim.server import SimServer
from app.sim.state import Exchange
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue


@dataclass
class Rig:
    ex: Exchange
    server: SimServer
    desk: Desk
    changes: list[OutsideChange]
    reports: list[AwayReport]
    changed: asyncio.Event

    async def until(self, what: Callable[[], object], within_s: float = 10.0) -> None:
        """Wait until ``what`` holds, re-asking at each change the desk announces."""
        async with asyncio.timeout(within_s):
            while not what():
                self.changed.clear()
                await self.changed.wait()

    def status(self) -> AccountStatus:
        return self.desk.status["s"]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    ex = Exchange(seed=11, rate_limits=False)
    ex.add_account("s", "spot")
    ex.generate_orders("s", 12, random.Random(11))
    server = SimServer(ex)
    endpoints = await server.start()
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=0.2)
    spec = AccountSpec(
        "s",
        "Spot",
        VenueKind.SPOT,
        endpoints=endpoints,
        stream_transport=Transport.WS_V2,
        cancel_transport=Transport.WS_V2,
    )
    acct = ex.account("s")
    changes: list[OutsideChange] = []
    reports: list[AwayReport] = []
    desk.outside_change.connect(changes.append)
    desk.recovered.connect(reports.append)
    desk.add_account(spec, build_venue(spec, Credentials(acct.api_key, acct.secret), NonceSource()))
    r = Rig(ex, server, desk, changes, reports, asyncio.Event())
    for event in (desk.account_changed, desk.recovered, desk.outside_change, desk.store.removed):
        event.connect(lambda _: r.changed.set())
    try:
        await r.until(lambda: r.status().link is LinkState.LIVE and r.status().open_orders == 12)
        yield r
    finally:
        await desk.aclose()
        audit.close()
        await server.stop()


async def test_a_stream_away_is_listed_over_rest_and_its_return_says_what_changed(rig: Rig) -> None:
    ids = sorted(o.order_id for o in rig.ex.open_orders("s"))
    await rig.server.stop_host("spot_ws")
    await rig.until(lambda: rig.status().link is LinkState.POLLING)
    assert "listed over REST" in rig.status().detail
    assert not rig.status().stale  # REST keeps the rows fresh

    # While the stream is away: one order fills, one is cancelled elsewhere, two new ones appear.
    rig.ex.book.fill("s", ids[0])
    rig.ex.book.cancel("s", ids[1])
    rig.ex.generate_orders("s", 2, random.Random(5))
    # the REST listing sees it
    await rig.until(lambda: {ids[0], ids[1]}.isdisjoint(o.order_id for o in rig.desk.store.orders("s")))
    assert rig.status().open_orders == 12

    await rig.server.start_host("spot_ws")
    await rig.desk.refresh()  # F5: reconnect now
    await rig.until(lambda: rig.reports)
    report = rig.reports[0]
    assert (report.appeared, report.gone, report.filled, report.cancelled, report.unknown) == (2, 2, 1, 1, 0)
    assert report.summary().startswith("while away (")
    assert "2 new, 2 gone (1 filled, 1 cancelled)" in report.summary()
    assert rig.status().link is LinkState.LIVE
    whats = {(c.order.order_id, c.what) for c in rig.changes}
    assert {(ids[0], "filled"), (ids[1], "cancelled")} <= whats


async def test_unreachable_for_long_is_down_with_its_rows_kept_and_stale(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desk_module, "DOWN_AFTER_S", 0.5)
    before = {o.order_id for o in rig.desk.store.orders("s")}
    await rig.server.stop_host("spot_ws")
    await rig.server.stop_host("spot_rest")
    await rig.until(lambda: rig.status().link is LinkState.RECONNECTING)
    await rig.until(lambda: rig.status().link is LinkState.DOWN)
    st = rig.status()
    assert st.stale and "down for" not in st.detail  # how long is ``since``: the window counts it
    assert st.live_at is not None and st.since is not None and st.since >= st.live_at
    assert {o.order_id for o in rig.desk.store.orders("s")} == before  # kept, not cleared

    await rig.server.start_host("spot_rest")
    await rig.server.start_host("spot_ws")
    await rig.desk.refresh()
    await rig.until(lambda: rig.status().link is LinkState.LIVE)
    await rig.until(lambda: rig.reports)
    assert rig.reports[0].gone == 0 and rig.reports[0].appeared == 0
    assert not rig.status().stale


async def test_orders_the_console_cancelled_while_away_are_not_counted_as_outside(rig: Rig) -> None:
    await rig.server.stop_host("spot_ws")
    await rig.until(lambda: rig.status().link is LinkState.POLLING)
    victim = next(iter(rig.desk.store.orders("s")))
    report = await rig.desk.cancel(CancelIntent(Scope.ORDERS, (victim,)))
    assert report is not None
    await rig.server.start_host("spot_ws")
    await rig.desk.refresh()
    await rig.until(lambda: rig.reports)
    assert rig.reports[0].gone == 0
    assert all(c.order.order_id != victim.order_id for c in rig.changes)


async def test_the_dead_man_switch_firing_while_away_is_named_and_rearmed_on_return(rig: Rig) -> None:
    dm = rig.desk.deadman
    dm.timeout_s, dm.refresh_s = 2, 0.3  # Kraken's timer runs out 2 s after the last refresh
    dm.changed.connect(lambda _: rig.changed.set())
    await dm.arm()
    assert dm.states["s"].armed and dm.states["s"].error is None
    await rig.server.stop_host("spot_ws")
    await rig.server.stop_host("spot_rest")
    # Refreshes fail while the venue is away; Kraken's timer runs out and cancels everything.
    await rig.until(lambda: dm.states["s"].error is not None)
    await asyncio.sleep(dm.timeout_s + 0.5)
    assert not rig.ex.open_orders("s")  # Kraken's switch fired
    dm.refresh_s = 60  # from here only the return re-arms it, not the next round
    await asyncio.sleep(0.5)  # the round under way ends (failing): the loop now sleeps a minute
    await rig.server.start_host("spot_rest")
    await rig.server.start_host("spot_ws")
    await rig.desk.refresh()
    await rig.until(lambda: rig.reports)
    report = rig.reports[0]
    assert report.gone == 12 and report.deadman_fired_at is not None
    assert "Kraken's dead man's switch fired at" in report.summary()
    # Armed again at once, not at the next round a minute away.
    await rig.until(lambda: dm.states["s"].error is None, within_s=5)
    assert rig.ex.deadman_trigger_time("s") is not None
    await dm.disarm()


async def test_a_return_without_the_switch_firing_names_none(rig: Rig) -> None:
    await rig.server.stop_host("spot_ws")
    await rig.until(lambda: rig.status().link is LinkState.POLLING)
    await rig.server.start_host("spot_ws")
    await rig.desk.refresh()
    await rig.until(lambda: rig.reports)
    assert rig.reports[0].deadman_fired_at is None
    assert "dead man" not in rig.reports[0].summary()

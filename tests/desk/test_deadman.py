"""The dead man's switch manager alone: arm, refresh on a fake clock, report, disarm."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from app.core.errors import TransportError, VenueUnavailable
from app.core.orders import VenueKind
from app.desk.deadman import DEFAULT_REFRESH_S, DEFAULT_TIMEOUT_S, DeadmanManager, DeadmanState
from app.venues.base import DeadmanStatus, Venue
from tests.helpers.fakes import EPOCH, FakeClock, ScriptedVenue, settle

NOW = EPOCH + 1000.0


class Rig:
    """A manager over three scripted venues (Prime has no switch) on a fake clock."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.spot = ScriptedVenue("spot", clock=self.clock)
        self.futures = ScriptedVenue("futures", kind=VenueKind.FUTURES, clock=self.clock)
        self.prime = ScriptedVenue("prime", kind=VenueKind.PRIME, deadman=False, clock=self.clock)
        self.venues: dict[str, Venue] = {"spot": self.spot, "futures": self.futures, "prime": self.prime}
        self.manager = DeadmanManager(self.venues, timeout_s=60, refresh_s=20, sleep=self.clock.sleep)
        self.changes: list[DeadmanState] = []
        self.manager.changed.connect(self.changes.append)


@pytest_asyncio.fixture
async def rig() -> AsyncIterator[Rig]:
    r = Rig()
    try:
        yield r
    finally:
        await r.manager.disarm()  # never leave a refresh task behind


async def test_arm_sets_the_timer_on_every_venue_with_a_switch(rig: Rig) -> None:
    await rig.manager.arm()
    assert (rig.spot.armed_with, rig.futures.armed_with, rig.prime.armed_with) == ([60], [60], [])
    assert rig.manager.armed
    assert rig.manager.states == {
        "spot": DeadmanState("spot", True, str(NOW + 60)),
        "futures": DeadmanState("futures", True, str(NOW + 60)),
        "prime": DeadmanState("prime", False, error="no dead man's switch", supported=False),
    }
    assert sorted(s.account_id for s in rig.changes) == ["futures", "prime", "spot"]


async def test_while_armed_the_timer_is_resent_every_refresh_interval(rig: Rig) -> None:
    await rig.manager.arm()
    await settle()
    assert rig.clock.sleeps == [20]
    await rig.clock.advance(19.9)
    assert rig.spot.armed_with == [60]  # not yet
    await rig.clock.advance(0.1)
    assert rig.spot.armed_with == rig.futures.armed_with == [60, 60]
    await rig.clock.advance(40)
    assert rig.spot.armed_with == [60, 60, 60, 60]
    assert rig.clock.sleeps == [20] * 4  # one after each (re-)arm
    # Each refresh moves Kraken's deadline on, and the window is told.
    assert rig.manager.states["spot"].trigger_time == str(NOW + 60 + 60)
    assert rig.prime.armed_with == []


async def test_arming_twice_runs_one_refresh_loop(rig: Rig) -> None:
    await rig.manager.arm()
    await rig.manager.arm()
    await settle()
    assert rig.spot.armed_with == [60, 60]
    assert rig.clock.sleeping == 1
    await rig.clock.advance(20)
    assert rig.spot.armed_with == [60, 60, 60]


async def test_a_failing_refresh_is_reported_with_its_error_and_the_loop_goes_on(rig: Rig) -> None:
    await rig.manager.arm()
    rig.futures.deadman_answers.append(VenueUnavailable("EService:Unavailable"))
    rig.changes.clear()
    await rig.clock.advance(20)
    # The server timer keeps running: the account is still armed, and says why it is at risk.
    assert rig.manager.states["futures"] == DeadmanState("futures", True, error="EService:Unavailable")
    assert sorted(rig.changes, key=lambda s: s.account_id) == [
        DeadmanState("futures", True, error="EService:Unavailable"),
        DeadmanState("spot", True, str(NOW + 20 + 60)),
    ]
    assert rig.manager.armed
    await rig.clock.advance(20)
    assert rig.manager.states["futures"] == DeadmanState("futures", True, str(NOW + 40 + 60))


async def test_a_failing_first_arm_is_reported_and_refreshing_still_starts(rig: Rig) -> None:
    rig.spot.deadman_answers.append(TransportError("timed out"))
    await rig.manager.arm()
    assert rig.manager.states["spot"] == DeadmanState("spot", True, error="timed out")
    assert rig.manager.armed
    await rig.clock.advance(20)
    assert rig.manager.states["spot"].error is None


async def test_disarm_sends_timeout_zero_and_stops_refreshing(rig: Rig) -> None:
    await rig.manager.arm()
    await rig.clock.advance(20)
    await rig.manager.disarm()
    assert rig.spot.armed_with == rig.futures.armed_with == [60, 60, 0]
    assert not rig.manager.armed
    assert rig.manager.states["spot"] == DeadmanState("spot", False, None)
    assert rig.manager.states["prime"].supported is False
    await rig.clock.advance(120)
    assert rig.spot.armed_with == [60, 60, 0]  # no refresh after disarm
    assert rig.clock.sleeping == 0


async def test_a_failing_disarm_is_reported_disarmed_with_its_error(rig: Rig) -> None:
    await rig.manager.arm()
    rig.spot.deadman_answers.append(VenueUnavailable("EService:Unavailable"))
    await rig.manager.disarm()
    # The loop is stopped either way; the error says Kraken's timer may still run.
    assert rig.manager.states["spot"] == DeadmanState("spot", False, error="EService:Unavailable")
    assert not rig.manager.armed


async def test_a_venue_status_without_a_deadline_is_not_armed(rig: Rig) -> None:
    rig.spot.deadman_answers.append(DeadmanStatus(str(NOW), None))
    await rig.manager.arm()
    assert rig.manager.states["spot"] == DeadmanState("spot", False, None)


async def test_an_unchanged_state_is_not_announced_again(rig: Rig) -> None:
    rig.spot.deadman_answers.extend([DeadmanStatus("t", "T"), DeadmanStatus("t", "T")])
    await rig.manager.arm()
    spot_changes = [s for s in rig.changes if s.account_id == "spot"]
    await rig.clock.advance(20)
    assert [s for s in rig.changes if s.account_id == "spot"] == spot_changes


@pytest.mark.parametrize(("timeout_s", "refresh_s"), [(60, 60), (60, 61), (10, 30)])
def test_the_refresh_must_come_before_the_timeout(timeout_s: int, refresh_s: float) -> None:
    with pytest.raises(ValueError, match="shorter than the timeout"):
        DeadmanManager({}, timeout_s=timeout_s, refresh_s=refresh_s)


def test_the_defaults_follow_krakens_advice() -> None:
    manager = DeadmanManager({})
    assert (manager.timeout_s, manager.refresh_s) == (DEFAULT_TIMEOUT_S, DEFAULT_REFRESH_S) == (60, 20)
    assert DeadmanManager({}, timeout_s=60, refresh_s=59.9).refresh_s == 59.9

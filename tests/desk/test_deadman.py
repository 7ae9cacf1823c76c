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
        self.manager = DeadmanManager(
            self.venues, timeout_s=60, refresh_s=20, sleep=self.clock.sleep, wall_clock=self.clock.time
        )
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
        "spot": DeadmanState("spot", True, NOW + 60, NOW),
        "futures": DeadmanState("futures", True, NOW + 60, NOW),
        "prime": DeadmanState("prime", False, error="no dead man's switch on this venue", supported=False),
    }
    assert sorted(s.account_id for s in rig.changes) == ["futures", "prime", "spot"]
    assert sorted(rig.manager.armed_accounts()) == ["futures", "spot"]


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
    # Each refresh moves Kraken's deadline on and is acknowledged: the window is told both.
    assert rig.manager.states["spot"] == DeadmanState("spot", True, NOW + 60 + 60, NOW + 60)
    assert rig.prime.armed_with == []


async def test_arming_twice_runs_one_refresh_loop(rig: Rig) -> None:
    await rig.manager.arm()
    await rig.manager.arm()
    await settle()
    assert rig.spot.armed_with == [60, 60]
    assert rig.clock.sleeping == 1
    await rig.clock.advance(20)
    assert rig.spot.armed_with == [60, 60, 60]


async def test_a_failing_refresh_keeps_krakens_deadline_and_says_so(rig: Rig) -> None:
    await rig.manager.arm()
    rig.futures.deadman_answers.append(VenueUnavailable("EService:Unavailable"))
    rig.changes.clear()
    await rig.clock.advance(20)
    # The server timer keeps running from the last acknowledgement: Kraken cancels at NOW + 60.
    failing = DeadmanState("futures", True, NOW + 60, NOW, error="EService:Unavailable")
    assert rig.manager.states["futures"] == failing and failing.failing
    assert sorted(rig.changes, key=lambda s: s.account_id) == [
        failing,
        DeadmanState("spot", True, NOW + 20 + 60, NOW + 20),
    ]
    assert rig.manager.armed
    await rig.clock.advance(20)
    assert rig.manager.states["futures"] == DeadmanState("futures", True, NOW + 40 + 60, NOW + 40)


async def test_a_bug_in_one_venue_never_stops_the_refreshes(rig: Rig) -> None:
    await rig.manager.arm()
    rig.spot.deadman_answers.append(RuntimeError("a bug"))
    await rig.clock.advance(20)
    assert rig.manager.states["spot"].error == "a bug" and rig.manager.states["futures"].error is None
    await rig.clock.advance(20)
    assert rig.manager.states["spot"] == DeadmanState("spot", True, NOW + 40 + 60, NOW + 40)


async def test_a_failing_first_arm_is_reported_and_refreshing_still_starts(rig: Rig) -> None:
    rig.spot.deadman_answers.append(TransportError("timed out"))
    await rig.manager.arm()
    assert rig.manager.states["spot"] == DeadmanState("spot", False, error="timed out")
    assert rig.manager.armed
    await rig.clock.advance(20)
    assert rig.manager.states["spot"] == DeadmanState("spot", True, NOW + 20 + 60, NOW + 20)


async def test_disarm_sends_timeout_zero_and_stops_refreshing(rig: Rig) -> None:
    await rig.manager.arm()
    await rig.clock.advance(20)
    states = await rig.manager.disarm()
    assert rig.spot.armed_with == rig.futures.armed_with == [60, 60, 0]
    assert not rig.manager.armed
    assert states["spot"] == DeadmanState("spot", False, None, NOW + 20)
    assert states["prime"].supported is False and rig.manager.armed_accounts() == []
    await rig.clock.advance(120)
    assert rig.spot.armed_with == [60, 60, 0]  # no refresh after disarm
    assert rig.clock.sleeping == 0


async def test_a_failing_disarm_says_kraken_still_holds_the_timer(rig: Rig) -> None:
    await rig.manager.arm()
    rig.spot.deadman_answers.append(VenueUnavailable("EService:Unavailable"))
    states = await rig.manager.disarm()
    # The loop is stopped either way; Kraken's timer still runs and fires at its deadline.
    assert states["spot"] == DeadmanState("spot", True, NOW + 60, NOW, error="EService:Unavailable")
    assert rig.manager.armed_accounts() == ["spot"] and not rig.manager.armed


async def test_a_venue_status_without_a_deadline_is_not_armed(rig: Rig) -> None:
    rig.spot.deadman_answers.append(DeadmanStatus(str(NOW), None))
    await rig.manager.arm()
    assert rig.manager.states["spot"] == DeadmanState("spot", False, None, NOW)


async def test_krakens_rfc3339_deadline_is_read(rig: Rig) -> None:
    rig.spot.deadman_answers.append(DeadmanStatus("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"))
    await rig.manager.arm()
    assert rig.manager.states["spot"].trigger_at == 1767225660.0


async def test_an_account_that_may_not_be_armed_is_left_out_and_says_why(rig: Rig) -> None:
    rig.manager.left_out = lambda aid: "this key cannot cancel" if aid == "futures" else None
    await rig.manager.arm()
    assert rig.futures.armed_with == [] and rig.spot.armed_with == [60]
    assert rig.manager.states["futures"] == DeadmanState("futures", False, left_out="this key cannot cancel")


async def test_an_unchanged_state_is_not_announced_again(rig: Rig) -> None:
    rig.spot.deadman_answers.extend([DeadmanStatus("t", "T"), DeadmanStatus("t", "T")])
    await rig.manager.arm()
    spot_changes = [s for s in rig.changes if s.account_id == "spot"]
    await rig.manager.arm()  # the same answer at the same time: nothing new to say
    assert [s for s in rig.changes if s.account_id == "spot"] == spot_changes


@pytest.mark.parametrize(("timeout_s", "refresh_s"), [(60, 60), (60, 61), (10, 30)])
def test_the_refresh_must_come_before_the_timeout(timeout_s: int, refresh_s: float) -> None:
    with pytest.raises(ValueError, match="shorter than the timeout"):
        DeadmanManager({}, timeout_s=timeout_s, refresh_s=refresh_s)


def test_the_defaults_follow_krakens_advice() -> None:
    manager = DeadmanManager({})
    assert (manager.timeout_s, manager.refresh_s) == (DEFAULT_TIMEOUT_S, DEFAULT_REFRESH_S) == (60, 20)
    assert DeadmanManager({}, timeout_s=60, refresh_s=59.9).refresh_s == 59.9


async def test_an_account_back_whose_refresh_failed_is_rearmed_at_once_not_at_the_next_round(
    rig: Rig,
) -> None:
    await rig.manager.arm()
    rig.futures.deadman_answers.append(VenueUnavailable("cannot connect"))
    await rig.clock.advance(20)
    assert rig.manager.states["futures"].failing
    await rig.clock.advance(5)  # the link is back 5 s later, 15 s before the next round
    rig.manager.account_back("futures")
    rig.manager.account_back("spot")  # its refresh did not fail: nothing to send
    await settle()
    assert rig.futures.armed_with == [60, 60, 60] and rig.spot.armed_with == [60, 60]
    assert rig.manager.states["futures"] == DeadmanState("futures", True, NOW + 25 + 60, NOW + 25)


async def test_an_account_back_while_the_switch_is_off_sends_nothing(rig: Rig) -> None:
    rig.manager.account_back("futures")
    await settle()
    assert rig.futures.armed_with == []


def test_fired_between_names_a_deadline_that_passed_unacknowledged() -> None:
    manager = DeadmanManager({}, timeout_s=60, refresh_s=20)
    manager.states["f"] = DeadmanState("f", True, trigger_at=160.0, acked_at=100.0, error="down")
    assert manager.fired_between("f", 120.0, 200.0) == 160.0
    assert manager.fired_between("f", 170.0, 200.0) is None  # before the outage began
    assert manager.fired_between("f", 120.0, 150.0) is None  # not yet
    manager.states["f"] = DeadmanState("f", True, trigger_at=160.0, acked_at=165.0)
    assert manager.fired_between("f", 120.0, 200.0) is None  # acknowledged after: it did not run out

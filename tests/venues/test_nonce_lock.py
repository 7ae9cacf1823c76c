"""Nonces across processes, and "another program is using this key" against the real simulator."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.core.accounts import Credentials
from app.core.errors import AuthError
from app.sim.server import SimServer
from app.sim.state import Exchange
from app.venues.futures.rest import FuturesRest
from app.venues.nonces import JUMP_NS, NONCE_CLASH, RESERVE_NS, NonceSource
from app.venues.spot.rest import SpotRestVenue
from tests.helpers.apprun import ROOT

HAMMER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from app.venues.nonces import NonceSource
    store, step, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ticks = iter(range(10**9))
    # A clock that runs fast (step ns per call), so the 10 s reservation runs out often and
    # both processes keep coming back to the store's lock.
    src = NonceSource(store, clock=lambda: 1_700_000_000_000_000_000 + next(ticks) * step)
    Path(sys.argv[4]).touch()
    while not Path(sys.argv[5]).exists():
        time.sleep(0.001)
    print(json.dumps([src.next("key") for _ in range(n)]))
    """
)


def test_two_processes_never_hand_out_the_same_nonce(tmp_path: Path) -> None:
    store = tmp_path / "nonces.json"
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                HAMMER,
                str(store),
                str(step),
                "3000",
                str(tmp_path / f"ready{i}"),
                str(go),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i, step in enumerate((RESERVE_NS // 7, RESERVE_NS // 11))
    ]
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline, "the processes did not start"
        time.sleep(0.01)
    go.touch()  # both at once
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    for values in outs:
        assert len(values) == 3000
        assert all(b > a for a, b in itertools.pairwise(values))  # each strictly increasing
    assert not set(outs[0]) & set(outs[1])  # never the same nonce
    # Many reservations each (about every 7 and 11 calls), all under the lock.
    marks = json.loads(store.read_text())
    assert marks["key"] > max(max(v) for v in outs)


def test_a_new_process_starts_above_every_reservation(tmp_path: Path) -> None:
    store = tmp_path / "nonces.json"
    first = NonceSource(store, clock=lambda: 1000)
    a = [first.next("k") for _ in range(3)]
    second = NonceSource(store, clock=lambda: 1000)
    b = second.next("k")
    assert b > max(a) + RESERVE_NS - 10  # above the first one's whole reservation
    assert first.next("k") == max(a) + 1  # the first goes on within its own range


def test_jump_goes_past_the_clock_and_every_reservation(tmp_path: Path) -> None:
    store = tmp_path / "nonces.json"
    src = NonceSource(store, clock=lambda: 5_000)
    src.next("k")
    other = NonceSource(store, clock=lambda: 5_000)
    theirs = other.next("k")
    floor = src.jump("k")
    assert floor >= 5_000 + JUMP_NS and floor > theirs
    assert src.next("k") == floor + 1


# --------------------------------------------------------------------------- against the simulator


@pytest.fixture
async def exchange() -> AsyncIterator[tuple[Exchange, dict[str, str]]]:
    ex = Exchange(seed=3, rate_limits=False)
    ex.add_account("spot", "spot")
    ex.add_account("futures", "futures")
    ex.seed_demo(5, 3, kinds=("spot",))
    server = SimServer(ex)
    endpoints = await server.start()
    try:
        yield ex, endpoints
    finally:
        await server.stop()


def creds(ex: Exchange, name: str) -> Credentials:
    acct = ex.account(name)
    return Credentials(acct.api_key, acct.secret)


def ahead(seconds: float) -> NonceSource:
    return NonceSource(clock=lambda: time.time_ns() + int(seconds * 1e9))


async def test_spot_jumps_ahead_once_when_another_program_used_the_key(
    exchange: tuple[Exchange, dict[str, str]], tmp_path: Path
) -> None:
    ex, endpoints = exchange
    other = SpotRestVenue("spot", endpoints["spot_rest"], creds(ex, "spot"), ahead(0.3))
    ours = SpotRestVenue("spot", endpoints["spot_rest"], creds(ex, "spot"), NonceSource(tmp_path / "n.json"))
    try:
        await other.list_open_orders()  # the other program's nonce is 0.3 s ahead of our clock
        assert len(await ours.list_open_orders()) == 5  # refused once, jumped, sent again
        await ours.list_open_orders()  # and on from there
    finally:
        await other.aclose()
        await ours.aclose()


async def test_spot_says_another_program_uses_the_key_when_the_jump_is_not_enough(
    exchange: tuple[Exchange, dict[str, str]],
) -> None:
    ex, endpoints = exchange
    other = SpotRestVenue("spot", endpoints["spot_rest"], creds(ex, "spot"), ahead(60))
    ours = SpotRestVenue("spot", endpoints["spot_rest"], creds(ex, "spot"), NonceSource())
    try:
        await other.list_open_orders()
        with pytest.raises(AuthError) as info:
            await ours.list_open_orders()
        assert NONCE_CLASH in str(info.value) and info.value.venue_error == "EAPI:Invalid nonce"
    finally:
        await other.aclose()
        await ours.aclose()


async def futures_other_program(ex: Exchange, endpoints: dict[str, str], seconds: float) -> None:
    # Kraken Futures tolerates brief reordering: a nonce is refused once it is below the ones
    # that left a window of recent nonces, so the other program sends more than the window.
    other = FuturesRest(endpoints["futures_rest"], creds(ex, "futures"), ahead(seconds))
    try:
        for _ in range(70):
            await other.open_orders("futures")
    finally:
        await other.aclose()


@pytest.mark.parametrize(("seconds", "recovers"), [(0.3, True), (60, False)])
async def test_futures_nonce_refusals_jump_then_say_so(
    exchange: tuple[Exchange, dict[str, str]], seconds: float, recovers: bool
) -> None:
    ex, endpoints = exchange
    await futures_other_program(ex, endpoints, seconds)
    ours = FuturesRest(endpoints["futures_rest"], creds(ex, "futures"), NonceSource())
    try:
        if recovers:
            assert await ours.open_orders("futures") == []
        else:
            with pytest.raises(AuthError) as info:
                await ours.open_orders("futures")
            assert NONCE_CLASH in str(info.value) and info.value.venue_error == "nonceBelowThreshold"
    finally:
        await ours.aclose()

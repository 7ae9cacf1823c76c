"""Keys that say what they can do: probes against the simulator's permissions drive the desk."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.cli import DeskCommands
from app.core.accounts import AccountSpec, Credentials, KeyCheck, Transport
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.desk.desk import Desk
from app.desk.keys import RECOMMENDATION, check_keys, complete, warnings
from app.sim.server import SimServer
from app.sim.state import Exchange
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue

SPOT_KEYS = {
    "full": None,  # every permission, trade included
    "qc": ["query", "cancel"],  # what the console recommends
    "ro": ["query"],  # lists, cannot cancel
}


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Exchange, dict[str, str], Desk]]:
    ex = Exchange(seed=4, rate_limits=False)
    rng = random.Random(4)
    for name, perms in SPOT_KEYS.items():
        ex.add_account(name, "spot", permissions=perms)
        ex.generate_orders(name, 4, rng)
    ex.add_account("fut-ro", "futures", permissions=["query"])
    ex.add_account("fut", "futures")
    server = SimServer(ex)
    endpoints = await server.start()
    audit = AuditLog(tmp_path / "audit.sqlite3")
    desk = Desk(audit, poll_interval_s=0.2)
    nonces = NonceSource()
    for name in (*SPOT_KEYS, "fut-ro", "fut"):
        acct = ex.account(name)
        spec = AccountSpec(
            name,
            name,
            VenueKind.FUTURES if name.startswith("fut") else VenueKind.SPOT,
            endpoints=endpoints,
            stream_transport=Transport.REST,
            cancel_transport=Transport.REST,
        )
        desk.add_account(spec, build_venue(spec, Credentials(acct.api_key, acct.secret), nonces))
    try:
        yield ex, endpoints, desk
    finally:
        await desk.aclose()
        audit.close()
        await server.stop()


async def test_probes_find_what_each_key_may_do(setup: tuple[Exchange, dict[str, str], Desk]) -> None:
    ex, _endpoints, desk = setup
    checks = await check_keys(desk)
    full, qc, ro = checks["full"], checks["qc"], checks["ro"]
    assert (full.can_query, full.can_cancel, full.can_trade) == (True, True, True)
    assert (qc.can_query, qc.can_cancel, qc.can_trade) == (True, True, False)
    assert (ro.can_query, ro.can_cancel, ro.can_trade) == (True, False, False)
    # The simulator has no Balance or WithdrawMethods: "could not tell", never a guess.
    assert full.can_query_funds is None and full.can_withdraw is None
    assert checks["fut-ro"].can_cancel is False and checks["fut-ro"].can_trade is False
    assert checks["fut"].can_cancel is True and checks["fut"].can_trade is True  # full access
    # The trade probe placed nothing (validate=true): every account still has its 4 orders.
    assert [len(ex.open_orders(n)) for n in SPOT_KEYS] == [4, 4, 4]
    assert not full.list_only and full.more_than_needed and not qc.more_than_needed
    assert RECOMMENDATION in warnings(full) and warnings(qc) == []
    assert "left out of the kill switch" in warnings(ro)[0]


async def test_list_only_keys_are_shown_and_left_out_of_the_kill_switch_and_dead_mans_switch(
    setup: tuple[Exchange, dict[str, str], Desk],
) -> None:
    ex, _endpoints, desk = setup
    await check_keys(desk)
    assert desk.status["ro"].can_cancel is False and desk.status["qc"].can_cancel is True
    assert set(desk.cancel_account_ids()) == {"full", "qc", "fut"}

    await desk.deadman.arm()
    try:
        assert ex.deadman_trigger_time("qc") is not None
        assert ex.deadman_trigger_time("ro") is None
        state = desk.deadman.states["ro"]
        assert not state.armed and state.left_out == "its key cannot cancel"
    finally:
        await desk.deadman.disarm()

    result = await DeskCommands(desk).kill(wait_s=10)
    assert set(result["left_out"]) == {"ro", "fut-ro"}
    assert any("ro" in p and "list but not cancel" in p for p in result["problems"])
    assert result["exit"] == 1  # not everything was cancelled, as asked
    assert [len(ex.open_orders(n)) for n in ("full", "qc", "ro")] == [0, 0, 4]


def test_futures_full_access_means_it_may_trade() -> None:
    check = KeyCheck(True, True)
    assert complete(check, VenueKind.FUTURES).can_trade is True
    assert complete(KeyCheck(True, False), VenueKind.FUTURES).can_trade is False
    assert complete(check, VenueKind.SPOT).can_trade is None  # Spot says so by its own probe
    assert "no cancel-only key" in " ".join(warnings(complete(check, VenueKind.FUTURES), VenueKind.FUTURES))

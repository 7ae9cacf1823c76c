"""``DeskCommands`` on a desk over the simulator: what the window runs for the command line."""

from __future__ import annotations

import asyncio

from app.cli import EXIT_OK, EXIT_USAGE, DeskCommands
from app.desk.desk import Desk
from tests.helpers.sim import Sim


async def listed(desk: Desk) -> None:
    for _ in range(100):
        if len(desk.store):
            return
        await asyncio.sleep(0.05)


async def test_a_disarm_for_every_account_also_stops_the_windows_own_switch(desk: Desk, sim: Sim) -> None:
    await listed(desk)
    await desk.deadman.arm()
    assert desk.deadman.armed and sim.exchange.deadman_trigger_time("spot") is not None
    result = await DeskCommands(desk).handle({"cmd": "deadman", "seconds": 0})
    assert result["exit"] == EXIT_OK
    assert not desk.deadman.armed and sim.exchange.deadman_trigger_time("spot") is None
    assert "it is off now" in " ".join(result["problems"])


async def test_an_order_already_being_cancelled_reports_that_attempts_outcome(desk: Desk, sim: Sim) -> None:
    await listed(desk)
    order = desk.store.orders("spot")[0]
    commands = DeskCommands(desk)
    first = asyncio.create_task(
        commands.handle({"cmd": "cancel", "account": "spot", "ids": [order.order_id]})
    )
    await asyncio.sleep(0)  # the first request is on its way
    second = await commands.handle({"cmd": "cancel", "account": "spot", "ids": [order.order_id]})
    one = await first
    assert [o["state"] for o in one["outcomes"]] == ["cancelled"]
    assert [o["state"] for o in second["outcomes"]] == ["cancelled"]
    assert second["outcomes"][0]["reason"].startswith(f"cancelled by attempt {one['attempt']}")
    assert second["exit"] == EXIT_OK


async def test_requests_from_the_socket_are_checked_before_anything_is_sent(desk: Desk, sim: Sim) -> None:
    commands = DeskCommands(desk)
    before = len(sim.open_ids())
    for bad in (
        {"cmd": "format-disk"},
        {"cmd": "cancel", "account": "spot"},
        {"cmd": "cancel", "account": "spot", "ids": "O1"},
        {"cmd": "cancel", "account": "spot", "ids": ["O1"], "symbol": "XBT/USD"},
        {"cmd": "kill"},
        {"cmd": "deadman", "seconds": -1},
        {"cmd": "deadman", "seconds": True},
        {"cmd": "list", "wait_s": 10_000},
    ):
        result = await commands.handle(bad)
        assert result["exit"] == EXIT_USAGE and result["error"], bad
    assert len(sim.open_ids()) == before

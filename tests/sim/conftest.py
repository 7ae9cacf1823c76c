"""Fixtures of the simulator's tests: every host running, and bare WS clients on Spot v1 and v2."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sim.kraken import Sim, Ws, running_sim, ws_connect


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """Every host plus the control host (test modules with their own ``sim`` override it)."""
    async with running_sim() as s:
        yield s


@pytest.fixture
async def v2(sim: Sim) -> AsyncIterator[Ws]:
    """A Spot WS v2 socket, past its status message."""
    async with ws_connect(sim.urls["spot_ws_v2"]) as ws:
        assert (await ws.recv())["channel"] == "status"
        yield ws


@pytest.fixture
async def v1(sim: Sim) -> AsyncIterator[Ws]:
    """A Spot WS v1 socket, past its systemStatus."""
    async with ws_connect(sim.urls["spot_ws_v1"]) as ws:
        assert (await ws.recv())["event"] == "systemStatus"
        yield ws

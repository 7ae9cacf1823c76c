"""Kill switch: 1,000 open orders over Spot, Futures and Prime, until every one is confirmed gone."""

from __future__ import annotations

import logging
import time

from app.core.ledger import CancelState
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, Scope
from bench.appside import SIM_ACCOUNT, account, desk_with
from bench.common import Control, Figure, SimProcess, wait_for

log = logging.getLogger("bench.killswitch")

TOTAL = 1_000
SPLIT = {VenueKind.SPOT: 334, VenueKind.FUTURES: 333, VenueKind.PRIME: 333}
LATENCIES_MS = (0.0, 50.0)


async def _one_run(desk: object, ctl: Control) -> tuple[float, str]:
    """Top every account up to its share of 1,000 fresh orders, press the kill switch, time it."""
    counts = await ctl.open_counts()
    for kind, n in SPLIT.items():
        missing = n - counts.get(SIM_ACCOUNT[kind], 0)
        if missing > 0:
            await ctl.add_orders(SIM_ACCOUNT[kind], missing)
    await wait_for(lambda: len(desk.store) >= TOTAL, 60.0, f"{TOTAL} orders listed", poll_s=0.02)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    report = await desk.cancel(CancelIntent(Scope.EVERYTHING))  # type: ignore[attr-defined]
    ms = (time.perf_counter() - t0) * 1000
    left = await ctl.open_counts()
    gone = report.counts[CancelState.CANCELLED] + report.counts[CancelState.ALREADY_GONE]
    summary = f"{report.requests} requests, {gone} confirmed gone; sim open after: {sum(left.values())}"
    if sum(left.values()):
        raise RuntimeError(f"kill switch left orders open: {left} ({report.summary()})")
    return ms, summary


async def run(runs: int, figures: list[Figure], notes: list[str]) -> None:
    """Both latencies, ``runs`` times each, each against its own simulator process."""
    for latency in LATENCIES_MS:
        args = ["--orders", "0", "--other-orders", "0", "--no-activity", "--latency-ms", f"{latency:g}"]
        with SimProcess(*args) as sim:
            ctl = Control(sim.control)
            try:
                accounts = [account(sim.endpoints, f"ks-{k.value}", k) for k in SPLIT]
                # Headless (no window): PySide6 crashed ("none_dealloc") in this section with
                # the window open; desk.cancel is the call the Ctrl+Shift+K confirmation makes.
                async with desk_with(accounts) as desk:
                    times = Figure("2. kill switch", f"1,000 orders, sim latency {latency:g} ms", "ms")
                    last = ""
                    for _ in range(runs):
                        ms, last = await _one_run(desk, ctl)
                        times.samples.append(ms)
                    times.note = last
                    figures.append(times)
                    if latency > 0:
                        ratio = Figure(
                            "2. kill switch",
                            f"1,000 orders, sim latency {latency:g} ms, x RTT",
                            "x RTT",
                            [max(1.0, s / latency) for s in times.samples],
                            budget="<= 3.0 (2 RTT + 50 ms)",
                        )
                        ratio.verdict = "ok" if (ratio.p99 or 0) <= 3.0 else "MISSED"
                        figures.append(ratio)
                    log.warning("kill switch at %g ms: %s", latency, times.samples)
            finally:
                await ctl.aclose()

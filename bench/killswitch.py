"""Kill switch: 1,000 open orders over Spot, Futures and Prime, until every one is confirmed gone.

Each venue's time is also given in units of that venue's **measured** bare round trip on the same
transport: the simulator adds its latency once per REST request but on a socket both to the request
and to the answer, so "50 ms" is not one round trip everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from typing import Any

from app.core.ledger import CancelState
from app.core.orders import VenueKind
from app.core.plan import CancelIntent, Scope
from bench.appside import SIM_ACCOUNT, account, desk_with
from bench.common import Control, Figure, SimProcess, wait_for

log = logging.getLogger("bench.killswitch")

TOTAL = 1_000
SPLIT = {VenueKind.SPOT: 334, VenueKind.FUTURES: 333, VenueKind.PRIME: 333}
LATENCIES_MS = (0.0, 50.0)
RTT_SAMPLES = 5
LABEL = {VenueKind.SPOT: "Spot WS v2", VenueKind.FUTURES: "Futures REST", VenueKind.PRIME: "Prime WS"}


async def _socket_rtt(link: Any) -> float:
    """One application ping on the link's live connection until the next frame (its pong), in s."""
    session = await link.session()
    heard = session.heard
    heard.clear()
    t0 = time.perf_counter()
    session.proto.ping()
    await link.flush(session)
    await asyncio.wait_for(heard.wait(), 10.0)
    return time.perf_counter() - t0


async def bare_rtt(kind: VenueKind, venue: Any) -> float:
    """The median of a few bare request/answer round trips on the venue's cancel transport (s).

    Spot WS v2 and Prime: an application ping on the open socket (the simulator delays the ping
    and the pong). Futures REST: a signed ``openorders`` (one delay, one request).
    """
    samples = []
    for _ in range(RTT_SAMPLES):
        if kind is VenueKind.FUTURES:
            t0 = time.perf_counter()
            await venue.rest.open_orders(venue.account_id)
            samples.append(time.perf_counter() - t0)
        elif kind is VenueKind.SPOT:
            samples.append(await _socket_rtt(venue.cancel_venue.link))
        else:
            samples.append(await _socket_rtt(venue.link))
    return statistics.median(samples)


async def _one_run(
    desk: Any, ctl: Control, kinds: dict[str, VenueKind]
) -> tuple[float, dict[str, float], str]:
    """Top every account up to its share, press, time it overall and per account (ms)."""
    counts = await ctl.open_counts()
    for kind, n in SPLIT.items():
        missing = n - counts.get(SIM_ACCOUNT[kind], 0)
        if missing > 0:
            await ctl.add_orders(SIM_ACCOUNT[kind], missing)
    await wait_for(lambda: len(desk.store) >= TOTAL, 60.0, f"{TOTAL} orders listed", poll_s=0.02)
    await asyncio.sleep(0.3)  # the listing's own work is done before the press
    last_final: dict[str, float] = {}
    t0 = time.perf_counter()

    def settled(entries: list[Any]) -> None:
        now = time.perf_counter()
        for e in entries:
            if e.state.is_final:
                last_final[e.order.account_id] = now

    unhook = desk.coordinator.transitioned.connect(settled)
    try:
        report = await desk.cancel(CancelIntent(Scope.EVERYTHING))
    finally:
        unhook()
    ms = (time.perf_counter() - t0) * 1000
    per = {aid: (last_final.get(aid, t0) - t0) * 1000 for aid in kinds}
    left = await ctl.open_counts()
    gone = report.counts[CancelState.CANCELLED] + report.counts[CancelState.ALREADY_GONE]
    summary = f"{report.requests} requests, {gone} confirmed gone; sim open after: {sum(left.values())}"
    if sum(left.values()):
        raise RuntimeError(f"kill switch left orders open: {left} ({report.summary()})")
    return ms, per, summary


async def run(runs: int, figures: list[Figure], notes: list[str]) -> None:
    """Both latencies, ``runs`` times each, each against its own simulator process."""
    for latency in LATENCIES_MS:
        args = ["--orders", "0", "--other-orders", "0", "--no-activity", "--latency-ms", f"{latency:g}"]
        with SimProcess(*args) as sim:
            ctl = Control(sim.control)
            try:
                accounts = [account(sim.endpoints, f"ks-{k.value}", k) for k in SPLIT]
                kinds = {spec.account_id: spec.venue for spec, _ in accounts}
                # Headless (no window): PySide6 crashed ("none_dealloc") in this section with
                # the window open; desk.cancel is the call the Ctrl+Shift+K confirmation makes.
                async with desk_with(accounts) as desk:
                    await wait_for(
                        lambda kinds=kinds: all(desk.status[a].link.value == "live" for a in kinds),
                        30.0,
                        "links live",
                    )
                    rtts = {aid: await bare_rtt(kind, desk.venues[aid]) for aid, kind in kinds.items()}
                    times = Figure("2. kill switch", f"1,000 orders, sim latency {latency:g} ms", "ms")
                    per: dict[str, list[float]] = {aid: [] for aid in kinds}
                    last = ""
                    for _ in range(runs):
                        ms, per_run, last = await _one_run(desk, ctl, kinds)
                        times.samples.append(ms)
                        for aid, v in per_run.items():
                            per[aid].append(v)
                    times.note = last
                    slowest = max(rtts.values()) * 1000
                    overall_budget = 2 * slowest + 50
                    times.budget = f"<= {overall_budget:.0f} (2 x slowest RTT + 50 ms)"
                    times.verdict = "ok" if (times.max or 0) <= overall_budget else "MISSED"
                    figures.append(times)
                    for aid, kind in kinds.items():
                        rtt_ms = rtts[aid] * 1000
                        budget = 2 + 50.0 / rtt_ms
                        fig = Figure(
                            "2. kill switch",
                            f"{LABEL[kind]} ({SPLIT[kind]} orders), sim latency {latency:g} ms, x its RTT",
                            "x RTT",
                            [v / rtt_ms for v in per[aid]],
                            budget=f"<= {budget:.1f} (2 RTT + 50 ms)",
                            note=(
                                f"bare RTT {rtt_ms:.1f} ms; press to its last order final: median "
                                f"{statistics.median(per[aid]):.0f} ms, max {max(per[aid]):.0f} ms"
                            ),
                        )
                        fig.verdict = "ok" if (fig.max or 0) <= budget else "MISSED"
                        figures.append(fig)
                    log.warning("kill switch at %g ms: %s; rtts %s", latency, times.samples, rtts)
            finally:
                await ctl.aclose()

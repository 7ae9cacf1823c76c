"""Rate limits: a 10,000-order selection on a busy Spot account, and the Futures kill switch behind a queue.

1. Every order of a 10,000-order selection on Spot WS v2 (the simulator's defaults: rate limits
   on, market activity on, intermediate tier) ends final, none left open that existed before; the
   time is set beside what Kraken's per-pair counters allow at best (the ideal schedule: per pair,
   youngest orders first in batches of 50, each batch sent the moment the pair is under the
   threshold; pairs in parallel).
2. With 1,000 single Futures cancels queued on the key's cost budget, the kill switch reaches
   Kraken (its ``cancelallorders`` arrives at the simulator) within one request time of the
   press: the figure is the press-to-arrival time in units of a bare request's round trip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence

from app.core.ledger import CancelState
from app.core.orders import Order, VenueKind
from app.core.plan import CancelIntent, Scope
from app.core.ratelimits import SPOT_TIERS, pair_key, spot_cancel_cost
from bench.appside import account, desk_with
from bench.common import Control, Figure, SimProcess, wait_for

log = logging.getLogger("bench.limits")

SELECTION = 10_000
BATCH = 50
QUEUED = 1_000


def ideal_seconds(orders: Sequence[Order], now_wall: float, threshold: float, decay: float) -> float:
    """The soonest the last batch can go under the per-pair counters (pairs run in parallel)."""
    by_pair: dict[str, list[float]] = defaultdict(list)
    for o in orders:
        by_pair[pair_key(o.symbol)].append(now_wall - o.opened_at if o.opened_at > 0 else 0.0)
    worst = 0.0
    for ages in by_pair.values():
        ages.sort()  # the overflow allowance is best spent on the youngest (the costliest)
        t, level = 0.0, 0.0
        for i in range(0, len(ages), BATCH):
            wait = max(0.0, (level - (threshold - 1)) / decay)
            t += wait
            # Orders age while they wait: a batch costs what its orders cost when it goes.
            level = max(0.0, level - wait * decay) + sum(spot_cancel_cost(a + t) for a in ages[i : i + BATCH])
        worst = max(worst, t)
    return worst


async def _selection(figures: list[Figure], notes: list[str]) -> None:
    tier = SPOT_TIERS["intermediate"]
    args = ["--orders", str(SELECTION), "--other-orders", "0", "--tier", tier.name]
    with SimProcess(*args) as sim:
        ctl = Control(sim.control)
        try:
            spot = account(sim.endpoints, "spot", VenueKind.SPOT)
            async with desk_with([spot]) as desk:
                await wait_for(
                    lambda: len(desk.store) >= SELECTION, 120.0, "10,000 orders listed", poll_s=0.05
                )
                before = {o.order_id for o in desk.store.orders()}
                selection = tuple(desk.store.orders())
                ideal = ideal_seconds(
                    selection, time.time(), tier.trading_threshold, tier.trading_decay_per_s
                )
                t0 = time.perf_counter()
                report = await desk.cancel(CancelIntent(Scope.ORDERS, selection))
                await wait_for(lambda: not desk.coordinator.unknown(), 300.0, "unknowns settled", poll_s=0.1)
                took = time.perf_counter() - t0
                truth = (await ctl.truth("spot"))["orders"]
                still = [oid for oid in before if truth.get(oid, {}).get("state") == "open"]
                finals = sum(n for s, n in report.counts.items() if s.is_final)
                figures.append(
                    Figure(
                        "6. rate limits",
                        "10,000-order Spot selection (WS v2, sim defaults), every order final",
                        "s",
                        [took],
                        budget="<= 1.5 x the counters' ideal",
                        verdict="ok" if took <= max(1.5 * ideal, ideal + 5.0) else "MISSED",
                        note=(
                            f"counters' ideal {ideal:.1f} s; {finals} of {len(selection)} final, "
                            f"{report.rate_waits} rate waits; open after: {len(still)}; {report.summary()}"
                        ),
                    )
                )
                if still:
                    notes.append(f"rate limits: {len(still)} orders of the selection still open: {still[:5]}")
        finally:
            await ctl.aclose()


async def _futures_queue(figures: list[Figure], notes: list[str]) -> None:
    args = ["--orders", "0", "--other-orders", str(QUEUED + 200), "--no-activity"]
    with SimProcess(*args) as sim:
        ctl = Control(sim.control)
        try:
            futures = account(sim.endpoints, "futures", VenueKind.FUTURES)
            async with desk_with([futures]) as desk:
                await wait_for(lambda: len(desk.store) >= QUEUED, 60.0, "futures listed", poll_s=0.05)
                venue = desk.venues[futures[0].account_id]
                # A bare request's round trip on the same key: openorders (cost 2).
                t = time.perf_counter()
                await venue.list_open_orders()
                rtt = time.perf_counter() - t
                orders = desk.store.orders()[:QUEUED]
                singles = [asyncio.create_task(desk.cancel(CancelIntent(Scope.ORDERS, (o,)))) for o in orders]
                await asyncio.sleep(0.5)  # the queue forms on the budget
                queued = sum(
                    1
                    for e in desk.coordinator.entries()
                    if e.state is CancelState.QUEUED or e.state is CancelState.WAITING
                )
                await ctl.clear_arrivals()
                since = time.monotonic_ns()
                t0 = time.perf_counter()
                kill = asyncio.create_task(desk.cancel(CancelIntent(Scope.EVERYTHING)))
                arrived = None
                deadline = time.perf_counter() + 30
                while arrived is None and time.perf_counter() < deadline:
                    rows = await ctl.arrivals(since)
                    hit = next((r for r in rows if r[2].endswith("/cancelallorders")), None)
                    if hit is not None:
                        arrived = (hit[0] - since) / 1e9
                    else:
                        await asyncio.sleep(0.005)
                press_to_arrival = arrived if arrived is not None else time.perf_counter() - t0
                await kill
                for task in singles:
                    task.cancel()
                await asyncio.gather(*singles, return_exceptions=True)
                figures.append(
                    Figure(
                        "6. rate limits",
                        "Futures kill switch behind 1,000 queued cancels: press to arrival",
                        "x RTT",
                        [press_to_arrival / rtt],
                        budget="<= 1 request time",
                        verdict="ok" if press_to_arrival <= 1.5 * rtt + 0.01 else "MISSED",
                        note=(
                            f"{press_to_arrival * 1000:.1f} ms; bare openorders round trip "
                            f"{rtt * 1000:.1f} ms; "
                            f"{queued} cancels waiting on the budget at the press"
                        ),
                    )
                )
        finally:
            await ctl.aclose()


async def run(figures: list[Figure], notes: list[str]) -> None:
    """Both figures."""
    await _selection(figures, notes)
    await _futures_queue(figures, notes)

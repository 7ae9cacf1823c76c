"""Live table: 10,000 orders in the window while ~1,000 order updates per second stream in."""

from __future__ import annotations

import asyncio
import logging
import os
import time

from app.core.accounts import Transport
from app.core.orders import VenueKind
from bench.appside import account, desk_with, window_over
from bench.common import Control, Figure, SimProcess, rss_kb, wait_for

log = logging.getLogger("bench.live")

LISTED = 10_000
# The simulator's market activity picks one of its three accounts per action at random, so 3,000
# actions/s put about 1,000/s on the listed Spot account.
ACTIVITY_RATE = float(os.environ.get("BENCH_ACTIVITY_RATE", "3000"))
TICK_S = 0.005
PAINT_SAMPLES = 20


async def _stall_probe(stop: asyncio.Event, lateness_ms: list[float]) -> None:
    """Sleep ``TICK_S`` again and again, noting how late each wake-up is (event-loop stall)."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(TICK_S)
        lateness_ms.append(max(0.0, (time.perf_counter() - t - TICK_S) * 1000))


async def run(seconds: float, figures: list[Figure], notes: list[str]) -> None:
    """Stream for ``seconds`` and report stalls, updates applied, model resets and memory."""
    paints: list[float] = []
    w_size = ""
    args = ["--orders", str(LISTED), "--other-orders", "0", "--no-rate-limits"]
    args += ["--activity-rate", str(ACTIVITY_RATE)]
    with SimProcess(*args) as sim:
        ctl = Control(sim.control)
        try:
            spec = account(sim.endpoints, "live-spot", VenueKind.SPOT, stream=Transport.WS_V2)
            async with desk_with([spec]) as desk, window_over(desk) as w:
                await wait_for(lambda: w.model.rowCount() >= LISTED * 0.9, 120.0, "10,000 rows listed")
                await asyncio.sleep(1.0)  # let the snapshot's repaint pass
                # The floor: Qt painting the window's visible rows once, nothing streaming yet
                # (a stall can be no shorter than one repaint while rows move).
                rows_shown = w.table.viewport().height() // max(1, w.table.rowHeight(0))
                w_size = f"window {w.width()} x {w.height()} px, {rows_shown} rows visible"
                for _ in range(PAINT_SAMPLES):
                    t = time.perf_counter()
                    w.repaint()
                    paints.append((time.perf_counter() - t) * 1000)
                    await asyncio.sleep(0.02)
                counts = {"inserted": 0, "updated": 0, "removed": 0, "resets": 0, "proxy_resets": 0}

                def bump(name: str):  # type: ignore[no-untyped-def]
                    def f(items: object) -> None:
                        counts[name] += len(items)  # type: ignore[arg-type]

                    return f

                desk.store.inserted.connect(bump("inserted"))
                desk.store.updated.connect(bump("updated"))
                desk.store.removed.connect(bump("removed"))
                w.model.modelReset.connect(lambda: counts.__setitem__("resets", counts["resets"] + 1))
                w.proxy.modelReset.connect(
                    lambda: counts.__setitem__("proxy_resets", counts["proxy_resets"] + 1)
                )
                lateness: list[float] = []
                stop = asyncio.Event()
                rss_before = rss_kb()
                probe = asyncio.create_task(_stall_probe(stop, lateness))
                t0 = time.perf_counter()
                await asyncio.sleep(seconds)
                stop.set()
                await probe
                elapsed = time.perf_counter() - t0
                rows = w.model.rowCount()
                rss_after = rss_kb()
                hwm = rss_kb("VmHWM")
        finally:
            await ctl.aclose()
    applied = counts["inserted"] + counts["updated"] + counts["removed"]
    floor = Figure("3. live table", "one repaint of the window, idle (the floor of a stall)", "ms", paints)
    floor.note = f"{w_size}; QWidget.repaint() of the whole window with {LISTED:,} rows listed"
    figures.append(floor)
    stall = Figure("3. live table", "event-loop stall (5 ms timer lateness)", "ms", lateness)
    stall.budget = "max <= 16"
    stall.verdict = "ok" if max(lateness, default=0) <= 16 else "MISSED"
    stall.note = f"max {max(lateness, default=0):.1f} ms over {len(lateness)} ticks; {seconds:g} s stream"
    figures.append(stall)
    figures.append(
        Figure(
            "3. live table",
            "updates applied per second",
            "orders/s",
            [applied / elapsed],
            note=f"{counts['inserted']} inserted, {counts['updated']} updated, {counts['removed']} removed; "
            f"{rows} rows at the end",
        )
    )
    resets = Figure("3. live table", "model resets during the stream", "count", [float(counts["resets"])])
    resets.budget = "0"
    resets.verdict = "ok" if counts["resets"] == 0 else "MISSED"
    resets.note = f"filter proxy resets: {counts['proxy_resets']}"
    figures.append(resets)
    mem = Figure("3. live table", "resident memory (bench process)", "MB", [rss_after / 1024])
    mem.budget = "< 250"
    mem.verdict = "ok" if rss_after / 1024 < 250 else "MISSED"
    mem.note = f"before stream {rss_before / 1024:.0f} MB; peak (VmHWM) {hwm / 1024:.0f} MB"
    figures.append(mem)
    if applied / elapsed < 800:
        notes.append(
            f"Live table: only {applied / elapsed:.0f} updates/s reached the store (target ~1,000/s): "
            "the simulator's market activity shares 2 cores with the app, so this is what it produced."
        )

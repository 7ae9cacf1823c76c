"""Key press to wire: a real key event in the window to the cancel request's arrival at the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.core.accounts import Transport
from app.core.orders import VenueKind
from bench.appside import SIM_ACCOUNT, account
from bench.common import ROOT, Control, Figure, SimProcess, wait_for

log = logging.getLogger("bench.keypress")

LISTED = 10_000
SIZES = (1, 10, 100)
# The orders pressed on have rested 10 minutes, as a trader's orders mostly have: on Spot a cancel
# then costs nothing on the per-pair counter (API-FACTS 7.2), so the figure is the console, not
# the rate-limit model. Futures charges per call whatever the age: there the bench waits, before
# the press, until the key's budget holds the whole selection, and reports that wait apart.
RESTED_S = 600.0
FRESH_BUDGET_MAX_S = 15.0
# (label, venue, stream transport, cancel transport). The Spot REST cell streams over WS v2 so the
# figure is the REST cancel path alone (a 2 s REST poll of 10,000 orders would measure the poll).
CELLS: list[tuple[str, VenueKind, Transport, Transport]] = [
    ("Spot REST", VenueKind.SPOT, Transport.WS_V2, Transport.REST),
    ("Spot WS v2", VenueKind.SPOT, Transport.WS_V2, Transport.WS_V2),
    ("Spot WS v1", VenueKind.SPOT, Transport.WS_V1, Transport.WS_V1),
    ("Futures REST", VenueKind.FUTURES, Transport.WS_V2, Transport.WS_V2),
    ("Prime WS", VenueKind.PRIME, Transport.WS_V2, Transport.WS_V2),
]


def is_cancel(path: str) -> bool:
    """Whether an arrival's path or method is a cancel request (any venue, any transport)."""
    p = path.lower()
    return "cancel" in p or "batchorder" in p


_waiters: dict[int, list[asyncio.Future[object]]] = {}


def _settled_future(w: object) -> asyncio.Future[object]:
    """A future for the window's next ``cancel_settled``.

    The signal is connected once per window and never disconnected: PySide6 6.12's
    ``SignalInstance.disconnect`` crashed the bench ("bool_dealloc") after a few dozen calls.
    """
    waiters = _waiters.get(id(w))
    if waiters is None:
        waiters = _waiters[id(w)] = []

        def settled(report: object, waiters: list[asyncio.Future[object]] = waiters) -> None:
            while waiters:
                fut = waiters.pop()
                if not fut.done():
                    fut.set_result(report)

        w.bridge.cancel_settled.connect(settled)  # type: ignore[attr-defined]
    fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    waiters.append(fut)
    return fut


async def fresh_budget(desk: Any, account_id: str, keys: list[Any]) -> float:
    """Wait until the account's rate-limit models would send the cancel of ``keys`` at once.

    Returns:
        Seconds waited (reported apart from the figure).
    """
    from app.core.plan import CancelIntent, Scope
    from app.venues.futures import wire as fwire

    venue = desk.venues[account_id]
    orders = tuple(desk.store.get(k) for k in keys)
    plan = desk.plan(CancelIntent(Scope.ORDERS, orders))
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < FRESH_BUDGET_MAX_S:
        wait = 0.0
        rest = getattr(venue, "rest", None)
        budget = getattr(rest, "budget", None)
        if budget is not None:  # Futures: the whole selection and a confirming listing fit
            need = sum(
                fwire.COST_CANCEL if len(r.orders) == 1 else fwire.batch_cost(len(r.orders))
                for r in plan.requests
            )
            need = min(budget.capacity, need + budget.held + fwire.COST_OPEN_ORDERS)
            wait = max(0.0, (need - budget.level()) / budget.rate)
        pacer = getattr(rest, "pacer", None)
        if pacer is not None:  # Spot: the per-pair counter and the REST call counter
            wait = max([wait, *(pacer.wait_s(r) for r in plan.requests)])
            wait = max(wait, rest.calls.wait_s(1.0, time.monotonic()))
        if wait <= 0:
            break
        await asyncio.sleep(min(wait, 1.0) + 0.005)
    return time.perf_counter() - t0


async def _one_run(
    window: Any, desk: Any, ctl: Control, sim_account: str, size: int, account_id: str
) -> tuple[float, float, int]:
    """Add ``size`` rested orders, select them, give them a fresh budget, press the key.

    Returns:
        (ms from the key to the first cancel's arrival, s waited for the budget before the
        press, rate-limit waits inside the timed window).
    """
    from PySide6.QtCore import QItemSelectionModel, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    w = window  # MainWindow
    ids = await ctl.add_orders(sim_account, size, age_s=RESTED_S)
    keys = [(account_id, oid) for oid in ids]
    await wait_for(lambda: all(w.model.row_of(k) is not None for k in keys), 20.0, "new orders listed")
    pre_wait = await fresh_budget(desk, account_id, keys)
    sel = w.table.selectionModel()
    sel.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for k in keys:
        src = w.model.index(w.model.row_of(k), 0)
        sel.select(w.proxy.mapFromSource(src), flags)
    # After a confirmation closes, the offscreen platform may leave no active window, and the
    # window's shortcuts (Delete) only fire in the active window.
    if QApplication.activeWindow() is not w:
        w.activateWindow()
        await wait_for(lambda: QApplication.activeWindow() is w, 5.0, "the window to be active again")
    w.table.setFocus()
    settled = _settled_future(w)
    if size == 1:
        t0 = time.monotonic_ns()
        QTest.keyClick(w.table, Qt.Key.Key_Delete)
    else:
        QTest.keyClick(w.table, Qt.Key.Key_Delete)
        dialog = w.flow.dialog
        if dialog is None:
            raise RuntimeError(
                f"no confirmation opened for a {size}-row Delete "
                f"({len(w.selected_orders())} selected; status: {w.last_action.text()!r})"
            )
        t0 = time.monotonic_ns()
        QTest.keyClick(dialog, Qt.Key.Key_Return)
    report = await asyncio.wait_for(settled, 60.0)
    arrivals = [a for a in await ctl.arrivals(t0) if is_cancel(a[2]) and a[3] in (None, sim_account)]
    if not arrivals:
        raise RuntimeError(f"no cancel arrival recorded after the key press ({account_id}, {size} rows)")
    first = min(a[0] for a in arrivals)
    return (first - t0) / 1e6, pre_wait, int(getattr(report, "rate_waits", 0))


async def _bare_once(desk: Any, ctl: Control, account_id: str, sim_account: str, index: int) -> float:
    """The floor under a cell: one bare request on the venue's own warm cancel transport, from
    the call to its arrival at the simulator (ms): no window, no desk, no ledger.

    Spot REST: a signed QueryOrders of a made-up id (not paced: the floor is the request);
    Futures REST: a signed GET notifications;
    the sockets: an application ping on the open connection.
    """
    from app.core.errors import VenueError
    from app.venues.base import NO_OBSERVER
    from app.venues.spot.rest import PROBE_TXID

    label, kind, _stream, cancel = CELLS[index]
    venue = desk.venues[account_id]
    t0 = time.monotonic_ns()
    if kind is VenueKind.FUTURES:
        await venue.rest.notifications()
    elif kind is VenueKind.SPOT and cancel is Transport.REST:
        # Past the client's call-counter model (the presses' confirmations filled it): the floor
        # is the request itself. Kraken refuses the made-up id; it arrived all the same.
        with contextlib.suppress(VenueError):
            await venue.rest._send_once(
                "QueryOrders", "/0/private/QueryOrders", {"txid": PROBE_TXID}, False, NO_OBSERVER
            )
    else:
        link = venue.cancel_venue.link if kind is VenueKind.SPOT else venue.link
        session = await link.session()
        session.proto.ping()
        await link.flush(session)
    for _ in range(100):
        arrivals = [a for a in await ctl.arrivals(t0) if a[3] in (None, sim_account)]
        if arrivals:
            return (min(a[0] for a in arrivals) - t0) / 1e6
        await asyncio.sleep(0.01)
    raise RuntimeError(f"no arrival recorded for the bare request ({label})")


async def run_cell(endpoints: dict[str, object], index: int, runs: int) -> dict[str, object]:
    """One transport's cell (all selection sizes) in this process: ``{size: [ms, ...]}`` plus rows."""
    from bench.appside import desk_with, window_over

    label, kind, stream, cancel = CELLS[index]
    account_id = f"bench-{label.lower().replace(' ', '-')}"
    spec = account(endpoints, account_id, kind, stream=stream, cancel=cancel)
    ctl = Control(str(endpoints["spot_rest"]))
    out: dict[str, object] = {}
    try:
        async with desk_with([spec]) as desk, window_over(desk) as w:
            # The seeded book may hold a few less than LISTED (a seeded market order fills).
            await wait_for(lambda: w.model.rowCount() >= LISTED * 0.99, 120.0, f"{LISTED} rows ({label})")
            out["rows"] = w.model.rowCount()
            for size in SIZES:
                samples, pre_waits, in_waits = [], [], 0
                for i in range(runs + 1):  # the first run warms caches and is dropped
                    ms, pre, waits = await _one_run(w, desk, ctl, SIM_ACCOUNT[kind], size, account_id)
                    if i:
                        samples.append(ms)
                        pre_waits.append(pre)
                        in_waits += waits
                out[str(size)] = samples
                out[f"{size}-pre"] = pre_waits
                out[f"{size}-waits"] = in_waits
            bare = []
            for i in range(runs + 1):
                ms = await _bare_once(desk, ctl, account_id, SIM_ACCOUNT[kind], index)
                if i:
                    bare.append(ms)
                await asyncio.sleep(0.05)
            out["bare"] = bare
    finally:
        await ctl.aclose()
    return out


async def run(runs: int, figures: list[Figure]) -> None:
    """Every transport x selection size, ``runs`` times each, against one simulator process.

    Each transport runs in its own child process (``python -m bench.keypress``): a fresh
    interpreter per window, because PySide6 crashed ("bool_dealloc" while garbage-collecting)
    once several windows had been opened and closed in one process.
    """
    args = ["--orders", str(LISTED), "--other-orders", str(LISTED), "--no-activity", "--no-rate-limits"]
    with SimProcess(*args) as sim, tempfile.TemporaryDirectory(prefix="bench-kp-") as tmp:
        endpoints = sim.endpoints_file(Path(tmp) / "endpoints.json")
        for index, (label, _kind, _s, _c) in enumerate(CELLS):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.keypress",
                str(endpoints),
                str(index),
                str(runs),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            stdout, _ = await proc.communicate()
            lines = stdout.decode().strip().splitlines()
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"key press cell {label} failed (exit {proc.returncode})")
            result = json.loads(lines[-1])
            for size in SIZES:
                pre = list(result[f"{size}-pre"])
                fig = Figure(
                    "1. key press to wire",
                    f"{label}, {size} row{'s' if size > 1 else ''}",
                    "ms",
                    list(result[str(size)]),
                    budget="p50 <= 2, p99 <= 10",
                    note=(
                        f"{result['rows']} rows listed; before the presses {sum(pre):.1f} s waited for a "
                        f"fresh budget (max {max(pre, default=0):.2f} s), rate-limit waits inside the "
                        f"timed runs: {result[f'{size}-waits']}"
                    ),
                )
                med, p99 = fig.median or 0.0, fig.p99 or 0.0
                fig.verdict = "ok" if med <= 2 and p99 <= 10 else "MISSED"
                figures.append(fig)
                log.warning("%s: median %.2f ms p99 %.2f ms", fig.name, med, p99)
            figures.append(
                Figure(
                    "1. key press to wire",
                    f"{label}: the floor, a bare request on the warm transport",
                    "ms",
                    list(result["bare"]),
                    note="call to arrival, no window or desk: the venue's own signed request (REST) "
                    "or application ping (sockets) on its open connection; the cells above add the console",
                )
            )


def _cell_main() -> int:
    """``python -m bench.keypress ENDPOINTS INDEX RUNS``: one cell, its JSON result on stdout."""
    from bench.appside import run_on_qasync

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    endpoints = json.loads(Path(sys.argv[1]).read_text())
    result = run_on_qasync(run_cell(endpoints, int(sys.argv[2]), int(sys.argv[3])))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip finalisation (see run): the figures are out


if __name__ == "__main__":
    _cell_main()

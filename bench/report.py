"""Rendering the figures: a plain table for the terminal and bench/RESULTS.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.common import Figure

METHOD = """\
## How each figure is taken

- The simulator (`python -m app.sim`) always runs as a separate process on 127.0.0.1; the app side
  (desk, and for 1-3 the real window, offscreen Qt on the qasync loop) runs in the bench process.
- Every figure is n, the median, p99 (nearest rank: with 20 samples p99 is the worst) and the max
  over repeated runs. Figures are printed, never asserted. The machine's load average is written at
  the start and the end of the run: on a shared 2-core machine the figures move with it.
  `python -m bench --compare OLD.md` prints old -> new for every figure in both runs.
- **1. Key press to wire**: for each cancel transport a fresh desk + window holding one account
  with 10,000 orders listed (plus the fresh ones). Each run adds 1/10/100 fresh orders through
  `POST /_sim/orders`, waits until they are listed, selects their rows, takes `time.monotonic_ns()`
  and sends the real key event with `QTest.keyClick` (Delete for 1 row; for 10/100 rows Delete opens
  the confirmation untimed and the timed key is the confirming Return). The figure is the first
  cancel request's arrival stamp at the simulator minus that time (CLOCK_MONOTONIC is system-wide on
  Linux). The simulator stamps the arrival when its handler starts, i.e. after the HTTP request or
  WebSocket frame has been read and parsed, so the figure is an **upper bound** on "first byte on
  the wire". The first run of each cell is a warm-up and is dropped. The Spot REST row streams over
  WS v2 and cancels over REST (a REST poll of 10,000 orders would otherwise be measured);
  Futures cancels over REST (its stream is the Futures WS); Prime cancels over its WebSocket.
  Each cell's "floor" row is a bare request on the same venue's warm transport (a signed
  QueryOrders or GET notifications, or an application ping), from the call to its arrival, with
  no window, desk or ledger: what the 1-row figure adds to it is the console.
- **2. Kill switch**: 1,000 fresh orders spread over Spot (WS v2), Futures and Prime, the simulator
  started with `--latency-ms 0` and `--latency-ms 50` (added to every request). Time from
  `desk.cancel(CancelIntent(Scope.EVERYTHING))` (the call the Ctrl+Shift+K confirmation makes) until
  its CancelReport settles; then the simulator's open counts are checked to be 0. Per venue, the
  time from the press to that venue's last order final is divided by its **measured** bare round
  trip (an application ping on the socket, a signed `openorders` on Futures REST); budget: 2 round
  trips + 50 ms.
- **3. Live table**: 10,000 Spot orders over WS v2 in the window; the simulator's market activity
  (fills, expiries, new orders) at 3,000 actions/s over its three accounts, about 1,000/s on the
  listed one. A 5 ms asyncio timer measures its own lateness (event-loop stall). Store events are
  counted (orders inserted, updated, removed), `modelReset` of the table model is counted, RSS read
  from `/proc/self/status`.
- **4. Start-up**: `python -m app --endpoints FILE --screenshot PNG --quit-after 20` as a child
  process (simulator: 10,000 Spot orders, Futures and Prime 36 each); the child is started through
  `bench/startup_child.py`, which only records when `orders_listed()` first holds (the window is
  shown before that) and the child's peak RSS (VmHWM). Time is from just before `Popen` to that moment.
- **5. Peer**: ccxt (async) against the same simulator, beside our desk, on the plain asyncio loop.
- Where the time goes for each budget still missed, with the floor measured: `docs/SPEED.md`.
"""


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"


def _rows(figures: Sequence[Figure]) -> list[list[str]]:
    rows = []
    for f in figures:
        rows.append(
            [
                f.section,
                f.name,
                f.unit,
                str(len(f.samples)),
                _fmt(f.median),
                _fmt(f.p99),
                _fmt(f.max),
                f.budget,
                f.verdict,
                f.note,
            ]
        )
    return rows


HEADER = ["section", "figure", "unit", "n", "median", "p99", "max", "budget", "verdict", "note"]


def render_table(figures: Sequence[Figure]) -> str:
    """A fixed-width table for the terminal."""
    rows = [HEADER, *_rows(figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(
    figures: Sequence[Figure],
    info: dict[str, str],
    notes: Sequence[str],
    failures: Sequence[str],
    sections: Sequence[str],
    compared: str = "",
) -> str:
    """bench/RESULTS.md: the machine, the table, notes, failures and the method."""
    out = ["# Benchmark results", "", "Written by `python -m bench`; do not edit by hand.", ""]
    out += ["## Machine", ""]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += [f"- sections run: {', '.join(sections)}", "", "## Figures", ""]
    out.append("| " + " | ".join(HEADER) + " |")
    out.append("|" + "---|" * len(HEADER))
    for r in _rows(figures):
        out.append("| " + " | ".join(c.replace("|", "/") for c in r) + " |")
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if failures:
        out += ["", "## Sections that failed", ""] + [f"- {f}" for f in failures]
    if compared:
        out += ["", "## Compared with an earlier run", "", "```", compared, "```"]
    out += ["", METHOD]
    return "\n".join(out)


@dataclass(frozen=True, slots=True)
class OldFigure:
    """One row read back from an earlier RESULTS.md (older files have no n or max column)."""

    unit: str
    n: str
    median: float | None
    p99: float | None
    max: float | None


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_results(text: str) -> dict[tuple[str, str], OldFigure]:
    """The figures table of a RESULTS.md (this format or the older one without n/max)."""
    out: dict[tuple[str, str], OldFigure] = {}
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "section":
            header = cells
            continue
        if header is None or set(line) <= set("|-: "):
            continue
        row = dict(zip(header, cells, strict=False))
        key = (row.get("section", ""), row.get("figure", ""))
        out[key] = OldFigure(
            row.get("unit", ""),
            row.get("n", "?"),
            _num(row.get("median", "")),
            _num(row.get("p99", "")),
            _num(row.get("max", "")),
        )
    return out


def _delta(new: float | None, old: float | None) -> str:
    if new is None or old is None:
        return "-"
    d = new - old
    pct = f" ({d / old * 100:+.0f}%)" if old else ""
    return f"{_fmt(old)} -> {_fmt(new)}{pct}"


def render_compare(figures: Sequence[Figure], old_text: str, old_name: str) -> str:
    """Per figure: old -> new median, p99 and max with the change, for figures in both runs.

    A figure only in one run is listed as such: a comparison never hides what went missing.
    """
    old = read_results(old_text)
    rows = [["figure", "unit", "n old/new", "median", "p99", "max"]]
    seen: set[tuple[str, str]] = set()
    for f in figures:
        key = (f.section, f.name)
        seen.add(key)
        o = old.get(key)
        if o is None:
            rows.append([f"{f.section}: {f.name}", f.unit, f"-/{len(f.samples)}", "new figure", "", ""])
            continue
        rows.append(
            [
                f"{f.section}: {f.name}",
                f.unit,
                f"{o.n}/{len(f.samples)}",
                _delta(f.median, o.median),
                _delta(f.p99, o.p99),
                _delta(f.max, o.max),
            ]
        )
    for key, o in old.items():
        if key not in seen:
            rows.append([f"{key[0]}: {key[1]}", o.unit, f"{o.n}/-", "not in this run", "", ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"Deltas against {old_name} (old -> new; lower is better except where a figure says otherwise):"]
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)

"""``python -m bench [--quick]``: measure the performance budgets, print a table, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench.common import ROOT, Figure, load_average, machine
from bench.report import render_compare, render_markdown, render_table

SECTIONS = ("keypress", "killswitch", "live", "startup", "peer", "limits")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer runs and shorter streams (a smoke pass)")
    p.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections")
    p.add_argument("--runs", type=int, help="repeats per key-press cell (default 20; --quick 5)")
    p.add_argument("--live-seconds", type=float, help="live table stream length (default 30; --quick 5)")
    p.add_argument("--out", type=Path, default=RESULTS, help="where to write the results (markdown)")
    p.add_argument("--no-write", action="store_true", help="print only; do not write the results file")
    p.add_argument(
        "--compare", type=Path, metavar="OLD.md", help="print old -> new deltas against a RESULTS.md"
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one Qt section, JSON out
    return p


def _in_child(name: str, args: argparse.Namespace, figures: list[Figure], notes: list[str]) -> None:
    """Run one section in ``python -m bench --child`` and collect its figures."""
    cmd = [sys.executable, "-m", "bench", "--child", "--only", name, "--no-write"]
    if args.quick:
        cmd.append("--quick")
    if args.runs:
        cmd += ["--runs", str(args.runs)]
    if args.live_seconds:
        cmd += ["--live-seconds", str(args.live_seconds)]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"section {name} printed nothing (exit {proc.returncode})")
    payload = json.loads(lines[-1])
    figures.extend(Figure(**f) for f in payload["figures"])
    notes.extend(payload["notes"])
    if payload["failures"]:
        raise RuntimeError("; ".join(payload["failures"]))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen sections; a failing section is reported, the others still run."""
    args = _parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    sections = args.only or list(SECTIONS)
    runs = args.runs or (5 if args.quick else 20)
    live_s = args.live_seconds or (5.0 if args.quick else 30.0)
    figures: list[Figure] = []
    failures: list[str] = []
    notes: list[str] = []
    started = time.monotonic()
    load_start = load_average()
    old_text = args.compare.read_text() if args.compare else None  # read now: --out may overwrite it

    from bench.appside import run_on_qasync

    def guarded(name: str, fn: object) -> None:
        try:
            fn()  # type: ignore[operator]
        except Exception as e:
            traceback.print_exc()
            failures.append(f"{name}: {type(e).__name__}: {e}")

    if "keypress" in sections:
        from bench import keypress

        guarded("keypress", lambda: run_on_qasync(keypress.run(runs, figures)))
    if "killswitch" in sections:
        from bench import killswitch

        guarded("killswitch", lambda: asyncio.run(killswitch.run(max(2, runs // 4), figures, notes)))
    for name in ("live",):
        if name not in sections:
            continue
        if args.child:
            from bench import live

            guarded(name, lambda: run_on_qasync(live.run(live_s, figures, notes)))
        else:
            # Each Qt section in a fresh interpreter: PySide6 crashed ("bool_dealloc") once
            # several windows had been opened and closed in one process.
            guarded(name, lambda name=name: _in_child(name, args, figures, notes))
    if "startup" in sections:
        from bench import startup

        guarded("startup", lambda: startup.run(max(2, runs // 4), figures, notes))
    if "peer" in sections:
        from bench import peer

        guarded("peer", lambda: asyncio.run(peer.run(max(1, runs // 10), figures, notes)))

    if "limits" in sections:
        from bench import limits

        guarded("limits", lambda: asyncio.run(limits.run(figures, notes)))

    if args.child:
        payload = {"figures": [dataclasses.asdict(f) for f in figures], "notes": notes, "failures": failures}
        sys.stdout.write(json.dumps(payload) + "\n")
        return 1 if failures else 0
    info = machine()
    info["load at start"] = load_start
    info["load at end"] = load_average()
    info["bench wall time"] = f"{time.monotonic() - started:.0f} s"
    info["mode"] = "quick" if args.quick else "full"
    print(render_table(figures))
    print("machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()))
    compared = ""
    if old_text is not None and args.compare is not None:
        compared = render_compare(figures, old_text, str(args.compare))
        print(compared)
    for f in failures:
        print(f"FAILED {f}")
    if not args.no_write:
        args.out.write_text(render_markdown(figures, info, notes, failures, sections, compared))
        print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: PySide6 can crash while garbage-collecting Qt objects at exit
    # ("none_dealloc"), which would turn a finished run into a failure.
    os._exit(code)

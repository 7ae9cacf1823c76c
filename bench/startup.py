"""Start-up: ``python -m app`` from process start to the window shown with 10,000 orders listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Figure, SimProcess


def run(runs: int, figures: list[Figure], notes: list[str]) -> None:
    """Start the app ``runs`` times against one simulator (10,000 Spot orders)."""
    times: list[float] = []
    peaks: list[float] = []
    orders = 0
    args = ["--orders", "10000", "--no-activity", "--no-rate-limits"]
    with SimProcess(*args) as sim, tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        endpoints = sim.endpoints_file(Path(tmp) / "endpoints.json")
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": tmp, "XDG_CONFIG_HOME": tmp}
        # An installed app starts from compiled bytecode: this machine's PYTHONDONTWRITEBYTECODE
        # would make every run compile the app's sources again. The cache goes to the temp
        # dir, and the first run (which writes it) is dropped.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        for i in range(runs + 1):
            cmd = [sys.executable, "-m", "bench.startup_child", "--endpoints", str(endpoints)]
            cmd += ["--screenshot", str(Path(tmp) / "shot.png"), "--quit-after", "20"]
            t0 = time.monotonic_ns()
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            line = next((x for x in proc.stderr.splitlines() if x.startswith("BENCH ")), None)
            if line is None or proc.returncode != 0:
                raise RuntimeError(f"app exited {proc.returncode}: {proc.stderr[-500:]}")
            data = json.loads(line[6:])
            if i == 0:
                continue  # wrote the bytecode cache
            times.append((data["listed_ns"] - t0) / 1e6)
            peaks.append(data["vmhwm_kb"] / 1024)
            orders = data["orders"]
    t = Figure("4. start-up", "process start to window shown, orders listed", "ms", times)
    t.budget, t.note = (
        "< 1000",
        f"{orders} orders listed (3 accounts over WS); bytecode cached, first run dropped",
    )
    t.verdict = "ok" if (t.median or 0) < 1000 else "MISSED"
    m = Figure("4. start-up", "peak resident memory of the app (VmHWM)", "MB", peaks)
    m.budget = "< 250"
    m.verdict = "ok" if (m.p99 or 0) < 250 else "MISSED"
    figures += [t, m]

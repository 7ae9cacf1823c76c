"""Shared bench plumbing: the simulator as a separate process, its control API, statistics, the machine."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One row of the results table: a name, samples (or a single value) and the budget it meets."""

    section: str
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    budget: str = ""
    verdict: str = ""  # "ok", "MISSED", or "" when no budget applies
    note: str = ""

    @property
    def median(self) -> float | None:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float | None:
        return percentile(self.samples, 99)

    @property
    def max(self) -> float | None:
        return max(self.samples) if self.samples else None


def percentile(samples: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (p99 of 20 samples is the largest one); None when empty."""
    if not samples:
        return None
    s = sorted(samples)
    rank = max(1, -(-len(s) * pct // 100))  # ceil
    return float(s[int(rank) - 1])


class SimProcess:
    """``python -m app.sim`` started as a child process; stopped with SIGINT.

    Rules: the simulator never runs in the bench process (the app side is measured alone); its
    arrival stamps use ``time.monotonic_ns`` (CLOCK_MONOTONIC, shared by every process on Linux).
    """

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.proc: subprocess.Popen[str] | None = None
        self.endpoints: dict[str, Any] = {}

    def __enter__(self) -> SimProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.sim", "--log-level", "WARNING", *self.args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"simulator did not start (exit {self.proc.returncode})")
        self.endpoints = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def control(self) -> str:
        """The origin of the control API (the Spot REST host)."""
        return str(self.endpoints["spot_rest"])

    def endpoints_file(self, path: Path) -> Path:
        """Write the JSON line for ``python -m app --endpoints``."""
        path.write_text(json.dumps(self.endpoints) + "\n")
        return path


class Control:
    """An async client of the simulator's ``/_sim/`` API."""

    def __init__(self, origin: str) -> None:
        self.client = httpx.AsyncClient(base_url=origin, timeout=30.0)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def add_orders(
        self, account: str, n: int, symbol: str | None = None, age_s: float | None = None
    ) -> list[str]:
        body: dict[str, Any] = {"account": account, "n": n}
        if symbol:
            body["symbol"] = symbol
        if age_s is not None:
            body["age_s"] = age_s
        r = await self.client.post("/_sim/orders", json=body)
        r.raise_for_status()
        return list(r.json()["order_ids"])

    async def arrivals(self, since_ns: int) -> list[tuple[int, str, str, str | None]]:
        r = await self.client.get("/_sim/arrivals", params={"since_ns": since_ns})
        r.raise_for_status()
        return [(int(a[0]), str(a[1]), str(a[2]), a[3]) for a in r.json()["arrivals"]]

    async def clear_arrivals(self) -> None:
        (await self.client.delete("/_sim/arrivals")).raise_for_status()

    async def state(self) -> dict[str, Any]:
        r = await self.client.get("/_sim/state")
        r.raise_for_status()
        return dict(r.json())

    async def truth(self, account: str) -> dict[str, Any]:
        """``/_sim/truth``: what really became of every order of ``account``, and who did it."""
        r = await self.client.get("/_sim/truth", params={"account": account})
        r.raise_for_status()
        return dict(r.json())

    async def open_counts(self) -> dict[str, int]:
        accounts = (await self.state())["accounts"]
        out: dict[str, int] = {}
        for name, info in accounts.items():
            out[name] = int(info["open"]) if isinstance(info, dict) else int(info)
        return out


async def wait_for(predicate: Callable[[], Any], within: float, what: str, poll_s: float = 0.01) -> None:
    """Await until ``predicate()`` is true, or raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(poll_s)


def load_average() -> str:
    """The 1/5/15-minute load averages and the process count (how busy the machine was)."""
    try:
        parts = Path("/proc/loadavg").read_text().split()
    except OSError:
        return "unknown"
    return f"{parts[0]} / {parts[1]} / {parts[2]} (1/5/15 min), runnable/total tasks {parts[3]}"


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, Python, Qt and library versions, the date and the load."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        import PySide6
        from PySide6 import QtCore

        qt = f"Qt {QtCore.qVersion()} / PySide6 {PySide6.__version__}"
    except ImportError:
        qt = "not installed"
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "OS": platform.platform(),
        "Python": sys.version.split()[0],
        "Qt": qt,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def rss_kb(field_name: str = "VmRSS") -> int:
    """This process's resident memory (``VmRSS``) or peak (``VmHWM``) in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0

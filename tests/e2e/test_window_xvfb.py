"""The real window under Xvfb, driven by real key presses (xdotool), against a separate simulator.

This is what a trader does: start the console on an exchange, press Ctrl+Shift+K, confirm with
Enter, and every order on every account is gone from the exchange itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.xvfb

NEEDED = ("Xvfb", "xdotool")


def _missing() -> list[str]:
    return [t for t in NEEDED if shutil.which(t) is None]


@pytest.fixture
def display() -> Iterator[str]:
    if _missing():
        if os.environ.get("KRAKEN_CANCEL_TEST_TMP"):
            pytest.fail(f"scripts/test.sh should have installed {_missing()}")
        pytest.skip(f"needs {_missing()}")
    r, w = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    try:
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[dict[str, object], Path]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.sim",
            "--orders",
            "40",
            "--other-orders",
            "12",
            "--no-activity",
            "--seed",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    endpoints = json.loads(line)
    path = tmp_path / "endpoints.json"
    path.write_text(line)
    try:
        yield endpoints, path
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def open_counts(spot_rest: str) -> dict[str, int]:
    state = httpx.get(f"{spot_rest}/_sim/state", timeout=5).json()
    return {name: int(row["open"]) for name, row in state["accounts"].items()}


def hosts_asked(spot_rest: str) -> set[str]:
    """The simulator hosts the console has talked to (Spot streams over WS v2 here)."""
    rows = httpx.get(f"{spot_rest}/_sim/arrivals", timeout=5).json()["arrivals"]
    return {str(r[1]) for r in rows}


def wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def xdo(display: str, *args: str) -> str:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=20).stdout


def test_kill_switch_by_keyboard_empties_every_account(
    display: str, simulator: tuple[dict[str, object], Path], tmp_path: Path
) -> None:
    endpoints, path = simulator
    spot_rest = str(endpoints["spot_rest"])
    assert all(n > 0 for n in open_counts(spot_rest).values())
    env = {
        **os.environ,
        "DISPLAY": display,
        "QT_QPA_PLATFORM": "xcb",
        "KRAKEN_CANCEL_HOME": str(tmp_path / "home"),
    }
    log_file = (tmp_path / "app.log").open("w")
    app = subprocess.Popen(
        [sys.executable, "-m", "app", "--endpoints", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    try:
        wait(
            lambda: xdo(display, "search", "--onlyvisible", "--name", "Kraken Cancel Console").strip() != "",
            30,
            "the window",
        )
        wid = xdo(display, "search", "--onlyvisible", "--name", "Kraken Cancel Console").split()[0]
        # Each account's venue has reached its host; then give the snapshot a
        # moment to be drawn (the final check below is strict either way).
        wait(lambda: {"spot_ws", "futures", "prime"} <= hosts_asked(spot_rest), 20, "every account to list")
        time.sleep(1)
        xdo(display, "windowfocus", "--sync", wid)
        before = set(xdo(display, "search", "--onlyvisible", "--class", "").split())
        xdo(display, "key", "--clearmodifiers", "ctrl+shift+k")
        wait(
            lambda: set(xdo(display, "search", "--onlyvisible", "--class", "").split()) - before,
            10,
            "the confirmation dialog",
        )
        time.sleep(0.3)
        xdo(display, "key", "Return")
        wait(lambda: sum(open_counts(spot_rest).values()) == 0, 20, "every order to be cancelled")
        assert app.poll() is None, "the console must still be running"
    finally:
        app.terminate()
        try:
            app.wait(15)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait(5)
        log_file.close()
    log = (tmp_path / "app.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def truth(spot_rest: str, account: str) -> dict[str, dict[str, object]]:
    """Every order the simulator's account ever had: state and symbol (the exchange's own record)."""
    orders = httpx.get(f"{spot_rest}/_sim/truth", params={"account": account}, timeout=5).json()["orders"]
    return dict(orders)


def start_console(
    display: str, endpoints: Path, home: Path, log_path: Path
) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "KRAKEN_CANCEL_HOME": str(home)}
    log_file = log_path.open("w")
    app = subprocess.Popen(
        [sys.executable, "-m", "app", "--endpoints", str(endpoints)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
    )
    log_file.close()
    name = "Kraken Cancel Console"
    wait(lambda: xdo(display, "search", "--onlyvisible", "--name", name).strip() != "", 30, "the window")
    wid = xdo(display, "search", "--onlyvisible", "--name", name).split()[0]
    return app, wid


def stop_console(app: subprocess.Popen[bytes]) -> None:
    app.terminate()
    try:
        app.wait(15)
    except subprocess.TimeoutExpired:
        app.kill()
        app.wait(5)


def test_filter_select_all_delete_cancels_one_market_and_the_layout_is_kept(
    display: str, simulator: tuple[dict[str, object], Path], tmp_path: Path
) -> None:
    endpoints, path = simulator
    spot_rest = str(endpoints["spot_rest"])
    futures_before = truth(spot_rest, "futures")
    perp = {oid for oid, o in futures_before.items() if o["state"] == "open" and o["symbol"] == "PF_XBTUSD"}
    others = {oid for oid, o in futures_before.items() if o["state"] == "open"} - perp
    assert perp and others
    counts = open_counts(spot_rest)
    home = tmp_path / "home"
    app, wid = start_console(display, path, home, tmp_path / "app.log")
    try:
        wait(lambda: {"spot_ws", "futures", "prime"} <= hosts_asked(spot_rest), 20, "every account to list")
        time.sleep(1)
        xdo(display, "windowfocus", "--sync", wid)
        # What a trader types: find the BTC perpetual's orders, go to the table, take them all.
        xdo(display, "key", "--clearmodifiers", "ctrl+f")
        xdo(display, "type", "--delay", "20", "venue:futures btc perp")
        xdo(display, "key", "Return", "ctrl+a", "Delete")
        time.sleep(0.5)
        xdo(display, "key", "Return")  # confirm
        wait(
            lambda: all(truth(spot_rest, "futures")[oid]["state"] != "open" for oid in perp),
            20,
            "the perpetual's orders to be cancelled",
        )
        after = truth(spot_rest, "futures")
        assert all(after[oid]["state"] == "open" for oid in others)  # never wider than the filter
        now = open_counts(spot_rest)
        assert (now["spot"], now["prime"]) == (counts["spot"], counts["prime"])
        # Zoom in, then quit with Ctrl+Q: the layout is kept in the profile. (No window manager
        # here gives the focus back when the dialog closes: give it back.)
        xdo(display, "windowfocus", "--sync", wid)
        xdo(display, "key", "--clearmodifiers", "Escape", "Escape", "ctrl+equal")
        time.sleep(0.3)
        xdo(display, "key", "--clearmodifiers", "ctrl+q")
        app.wait(20)
    finally:
        if app.poll() is None:
            stop_console(app)
    log = (tmp_path / "app.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    layout = (home / "config" / "layout.ini").read_text()
    assert "zoom=110" in layout, layout[:500]
